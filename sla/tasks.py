"""Celery tasks of the SLA: each takes ids, calls one service, and is safe to run twice.

Services never import this module (the graph stays acyclic): they return what to queue, and the
task, view or command that called them queues it on commit.
"""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from sla import services

__all__ = [
    "check_breaches",
    "queue_refresh",
    "refresh_sla",
    "send_breach_email",
    "send_notification_emails",
    "send_weekly_report",
    "weekly_reports_due",
]

# E-mail jobs: an unreachable mail server is transient, so retry with backoff; nothing else is.
_MAIL_RETRY = {
    "acks_late": True,
    "autoretry_for": (ConnectionError, TimeoutError, OSError),
    "retry_backoff": True,
    "max_retries": 5,
}


@shared_task(name="sla.tasks.check_breaches", acks_late=True, soft_time_limit=240, time_limit=280)
def check_breaches() -> dict:
    """Every 5 minutes: 75 % warnings, breaches, manager notifications, optional escalation."""
    result = services.breaches_check()
    for alert_id in result.to_email:
        transaction.on_commit(lambda alert_id=alert_id: send_breach_email.delay(alert_id))
    return result.__dict__


@shared_task(name="sla.tasks.weekly_reports_due", acks_late=True, soft_time_limit=600, time_limit=660)
def weekly_reports_due() -> list[int]:
    """Every 15 minutes: last week's report for each team whose Monday 07:00 has passed."""
    ids = [report.pk for report in services.reports_due()]
    for report_id in ids:
        transaction.on_commit(lambda report_id=report_id: send_weekly_report.delay(report_id))
    return ids


@shared_task(
    name="sla.tasks.send_weekly_report",
    **_MAIL_RETRY,
)
def send_weekly_report(report_id: int) -> list[str]:
    return services.report_send(report_id=report_id)


@shared_task(
    name="sla.tasks.send_breach_email",
    **_MAIL_RETRY,
)
def send_breach_email(alert_id: int) -> bool:
    return services.breach_email_send(alert_id=alert_id)


@shared_task(name="sla.tasks.refresh_sla", acks_late=True, soft_time_limit=1800, time_limit=1860)
def refresh_sla() -> int:
    """Catch the pass table and the daily roll-up up with the log (beat every minute, and after lead moves)."""
    return services.figures_refresh()


def queue_refresh() -> None:
    """Queue a refresh for when the current transaction commits (runs take turns on an advisory lock)."""
    transaction.on_commit(refresh_sla.delay)


@shared_task(
    name="sla.tasks.send_notification_emails",
    **_MAIL_RETRY,
)
def send_notification_emails(notification_ids: list[int]) -> int:
    from sla.notifications import notification_emails_send

    return notification_emails_send(notification_ids=notification_ids)
