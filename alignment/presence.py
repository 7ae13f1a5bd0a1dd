"""Who has a draft open right now, kept in the shared cache (Redis on the full stack).

Each open draft page polls every ``POLL_SECONDS``; a poll stamps the viewer's own key (expiring
after ``TTL_SECONDS``) and adds them to the version's roster. A viewer whose key expired has left.
The roster is read-modify-written without a lock: a lost update only drops someone until their
next poll a few seconds later, which is fine for a "who else is here" hint.
"""

from __future__ import annotations

import datetime as dt

from django.core.cache import cache
from django.utils import timezone

from portal.access import display_name

POLL_SECONDS = 10
TTL_SECONDS = 35
ROSTER_TTL_SECONDS = 6 * 3600


def _roster_key(version_id: int) -> str:
    return f"accord:presence:{version_id}:roster"


def _user_key(version_id: int, user_id: int) -> str:
    return f"accord:presence:{version_id}:user:{user_id}"


def touch(version_id: int, user, *, editing: bool = False) -> None:
    """Record that ``user`` has the draft open (``editing``: on the edit form)."""
    now = timezone.now()
    name = display_name(user)
    cache.set(
        _user_key(version_id, user.pk),
        {"id": user.pk, "name": name, "seen": now.isoformat(), "editing": editing},
        TTL_SECONDS,
    )
    roster = set(cache.get(_roster_key(version_id)) or ())
    if user.pk not in roster:
        roster.add(user.pk)
        cache.set(_roster_key(version_id), sorted(roster), ROSTER_TTL_SECONDS)


def leave(version_id: int, user) -> None:
    cache.delete(_user_key(version_id, user.pk))


def present(version_id: int, *, exclude_user_id: int | None = None) -> list[dict]:
    """People seen on the draft within the last ``TTL_SECONDS``, most recent first."""
    roster = cache.get(_roster_key(version_id)) or []
    keys = {_user_key(version_id, uid): uid for uid in roster if uid != exclude_user_id}
    found = cache.get_many(list(keys))
    people = []
    for value in found.values():
        seen = dt.datetime.fromisoformat(value["seen"])
        people.append({**value, "seen": seen})
    return sorted(people, key=lambda p: p["seen"], reverse=True)
