"""Signal receivers of the SLA app (connected in ``SlaConfig.ready``): thin, each hands over to a service or a task."""

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


def deliver_notifications(sender, *, user_ids, kind, title, body, url, **kwargs) -> None:
    """``portal.notifications.notify`` → in-app rows now, their e-mails once the transaction commits."""
    from django.db import transaction

    from sla import tasks
    from sla.notifications import notifications_deliver

    ids = notifications_deliver(user_ids=user_ids, kind=kind, title=title, body=body, url=url)
    if ids:
        transaction.on_commit(lambda: tasks.send_notification_emails.delay(ids))


def check_backlog(sender, *, team_ids, **kwargs) -> None:
    """Routing ran → once it commits, tell the managers of teams whose new MQLs nobody has room for."""
    from django.db import transaction

    from sla.backlog import backlog_check

    ids = list(team_ids)
    transaction.on_commit(lambda: backlog_check(team_ids=ids))
