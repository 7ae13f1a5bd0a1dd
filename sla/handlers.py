"""Reactions to other apps' signals (connected in ``SlaConfig.ready``)."""

from __future__ import annotations

from django.db import transaction


def recompute_due_times_on_publish(sender, version_id: int, **kwargs) -> None:
    """A published agreement changes the SLA terms: re-time every open MQL once the publish commits."""
    from sla import tasks

    transaction.on_commit(lambda: tasks.recompute_due_times.delay(version_id))
