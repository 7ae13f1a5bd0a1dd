"""Signal receivers of the leads app (connected in ``LeadsConfig.ready``): each records work and queues a task."""

from __future__ import annotations

from django.db import transaction


def queue_rescore_on_publish(sender, version_id: int, **kwargs) -> None:
    """``agreement_published`` → record the full rescore in the publish's transaction; queue its chunks
    once it commits (lost, the sweeper queues them when their lease expires)."""
    from leads.scoring import rescoring

    job = rescoring.rescore_job_start(version_id=version_id)
    if job is not None:
        transaction.on_commit(lambda: rescoring.enqueue("leads.tasks.rescore_job_wake", job.id))
