"""Signal receivers of the SLA app (connected in ``SlaConfig.ready``); each only queues a task."""

from __future__ import annotations


def refresh_after_move(sender, created: bool = False, **kwargs) -> None:
    """A transition written one at a time (an SDR's action) → refresh the figures once it commits.

    Set-based writers (rescoring, imports) send no signal; beat's minute refresh picks them up.
    """
    if created:
        from sla import tasks

        tasks.queue_refresh()


def refresh_after_publish(sender, version_id: int, **kwargs) -> None:
    """A publish changes the targets and, through the rescore queued before this receiver, the log.

    Queued after the rescore's own on-commit callback (leads connects first), so in eager mode the
    refresh sees every transition the rescore wrote; with a worker, beat's minute refresh follows.
    """
    from sla import tasks

    tasks.queue_refresh()
