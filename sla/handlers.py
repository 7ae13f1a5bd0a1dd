"""Signal receivers of the SLA app (connected in ``SlaConfig.ready``); each only queues a task."""

from __future__ import annotations


def refresh_after_move(sender, created: bool = False, **kwargs) -> None:
    """A transition written one at a time (an SDR's action) → refresh the figures once it commits.

    Set-based writers (rescoring, imports) send no signal; beat's minute refresh picks them up.
    """
    if created:
        from sla import tasks

        tasks.queue_refresh()
