"""Telling people what others did: one entry point for every app, delivered by ``sla``.

``alignment`` and ``leads`` sit below ``sla`` (which owns the ``Notification`` model, the bell and
the e-mail), so they cannot call it. They call ``notify()`` instead, which sends
``notification_requested``; ``sla`` connects the one receiver that stores the in-app
notifications in the caller's transaction and e-mails them once it commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.dispatch import Signal

# Sent with user_ids, kind, title, body, url (a path on this site).
notification_requested = Signal()


def notify(*, users: Iterable, kind: str, title: str, body: str = "", url: str = "", actor=None) -> list[int]:
    """Notify ``users`` (in-app + e-mail), never the ``actor`` who caused it; returns the ids told."""
    actor_id = getattr(actor, "pk", None)
    user_ids = sorted({user.pk for user in users if user is not None and user.pk != actor_id})
    if user_ids:
        notification_requested.send(
            sender=None, user_ids=user_ids, kind=kind, title=title[:200], body=body, url=url[:300]
        )
    return user_ids
