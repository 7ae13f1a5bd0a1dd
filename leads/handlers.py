"""Signal receivers of the leads app (connected in ``LeadsConfig.ready``); each only queues a task."""

from __future__ import annotations

from django.db import transaction


def queue_rescore_on_publish(sender, version_id: int, **kwargs) -> None:
    """``agreement_published`` → rescore every lead under the new version once the publish commits."""
    from leads import tasks
    from leads.scoring import rescoring

    transaction.on_commit(lambda: rescoring.enqueue(tasks.rescore_all, version_id))
