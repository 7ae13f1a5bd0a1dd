"""Delivery of ``portal.notifications.notify``: in-app rows now, e-mail once the transaction commits."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from sla.models import Notification


def notifications_deliver(*, user_ids: list[int], kind: str, title: str, body: str, url: str) -> list[int]:
    """Store one notification per active user and queue their e-mails on commit; returns the ids."""
    User = get_user_model()
    now = timezone.now()
    users = User.objects.filter(pk__in=user_ids, is_active=True).order_by("pk")
    created = Notification.objects.bulk_create(
        Notification(user=user, kind=kind, title=title, body=body, url=url, created_at=now) for user in users
    )
    ids = [n.pk for n in created]
    if ids:
        from sla import tasks

        transaction.on_commit(lambda: tasks.send_notification_emails.delay(ids))
    return ids


def notification_emails_send(*, notification_ids: list[int]) -> int:
    """E-mail each notification to its person (those without an address only see it in the app)."""
    sent = 0
    site = settings.ACCORD_SITE_URL.rstrip("/")
    for note in Notification.objects.filter(pk__in=notification_ids).select_related("user").order_by("pk"):
        if not note.user.email:
            continue
        link = f"{site}{note.url}" if note.url.startswith("/") else note.url
        text = "\n\n".join(part for part in (note.body, f"Open it in Accord: {link}" if link else "") if part)
        send_mail(f"[Accord] {note.title}", text + "\n", None, [note.user.email])
        sent += 1
    return sent


def on_notification_requested(sender, *, user_ids, kind, title, body, url, **kwargs) -> None:
    notifications_deliver(user_ids=user_ids, kind=kind, title=title, body=body, url=url)
