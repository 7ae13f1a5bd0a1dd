"""Progress of a long page request, for the bar a person watches while it runs.

A panel that can take seconds (Evidence, Suggestions over a large history) is requested with
``?progress=<token>``, a random token the browser makes; the view hands ``reporter(token)`` to the
work, which reports ``(done, total)`` steps into the cache, and the browser polls
``progress_status`` (``/progress/<token>``) until its request returns. The cache is Redis in the
full stack (shared by every web process) and per process in the embedded default (one process).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.core.cache import cache

__all__ = ["TOKEN", "progress_read", "reporter"]

TOKEN = re.compile(r"[A-Za-z0-9_-]{8,40}")
_KEY = "progress:{user}:{token}"
_TTL = 600  # seconds: a report outlives any panel request


def _key(user_id: int, token: str) -> str:
    return _KEY.format(user=user_id, token=token)


def reporter(user_id: int, token: str | None, label: str) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` callback writing under ``token`` (None for a missing or malformed
    token: the work runs without reporting). Keyed by user, so nobody reads another's progress."""
    if not token or not TOKEN.fullmatch(token):
        return None
    started = time.monotonic()
    key = _key(user_id, token)
    cache.set(key, {"done": 0, "total": 0, "label": label, "seconds": 0.0}, _TTL)

    def report(done: int, total: int) -> None:
        cache.set(key, {"done": done, "total": total, "label": label, "seconds": time.monotonic() - started}, _TTL)

    return report


def progress_read(user_id: int, token: str) -> dict:
    """What was reported under ``token``: done, total, percent, label (zeros before the first report)."""
    found = cache.get(_key(user_id, token)) or {"done": 0, "total": 0, "label": "", "seconds": 0.0}
    total = found["total"]
    return {**found, "percent": round(100 * found["done"] / total) if total else 0}
