"""Celery tasks of the SLA: each takes ids, calls one service, and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from sla import services

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
    return result.__dict__


@shared_task(name="sla.tasks.weekly_reports_due", acks_late=True, soft_time_limit=600, time_limit=660)
def weekly_reports_due() -> list[int]:
    """Every 15 minutes: last week's report for each team whose Monday 07:00 has passed."""
    return [report.pk for report in services.reports_due()]


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
    """Catch the pass table and the daily roll-up up with the log (queued by requests that stopped short)."""
    return services.figures_refresh()


@shared_task(
    name="sla.tasks.send_notification_emails",
    **_MAIL_RETRY,
)
def send_notification_emails(notification_ids: list[int]) -> int:
    from sla.notifications import notification_emails_send

    return notification_emails_send(notification_ids=notification_ids)
