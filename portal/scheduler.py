"""The beat schedule run in-process, for the embedded default where no Celery beat or worker runs.

``CELERY_BEAT_SCHEDULE`` stays the one list of scheduled jobs: Celery beat reads it when a broker is
configured, and ``manage.py run_schedule`` (started by ``make run`` beside the web server) reads
it otherwise and executes each due task in its own process with ``Task.apply()``. Tasks that the
jobs queue run eagerly there too (``CELERY_TASK_ALWAYS_EAGER`` without a broker).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from celery.schedules import BaseSchedule, schedule
from django.conf import settings
from django.db import close_old_connections, connection

from portal.celery import app

logger = logging.getLogger(__name__)


@dataclass
class Entry:
    name: str
    task: str
    schedule: BaseSchedule
    args: tuple = ()
    kwargs: dict | None = None
    last_run_at: dt.datetime | None = None

    def due_in(self) -> tuple[bool, float]:
        """(due now, seconds until the next check) — Celery beat's own arithmetic."""
        return self.schedule.is_due(self.last_run_at)


def entries(beat_schedule: dict | None = None, *, now: dt.datetime | None = None) -> list[Entry]:
    """The schedule's entries as beat would start them.

    An interval job runs at once and then every interval, as beat does on a fresh start; a crontab
    job (the nightly rescore) waits for its next time instead of running at every restart.
    """
    now = now or app.now()
    result = []
    for name, spec in (settings.CELERY_BEAT_SCHEDULE if beat_schedule is None else beat_schedule).items():
        every = spec["schedule"]
        if isinstance(every, int | float | dt.timedelta):
            interval = every if isinstance(every, dt.timedelta) else dt.timedelta(seconds=float(every))
            sched, last = schedule(run_every=interval, app=app), now - interval
        else:
            sched, last = every, now
            sched.app = app
        result.append(Entry(name, spec["task"], sched, tuple(spec.get("args", ())), dict(spec.get("kwargs", {})), last))
    return result


def run_entry(entry: Entry) -> bool:
    """Run one job in this process; a failure is logged and the schedule goes on (beat does the same)."""
    app.loader.import_default_modules()
    entry.last_run_at = app.now()
    _drop_stale_connections()
    try:
        result = app.tasks[entry.task].apply(args=entry.args, kwargs=entry.kwargs or {}, throw=True)
        logger.info("Scheduled job %s (%s) done: %s", entry.name, entry.task, result.result)
        return True
    except Exception:
        logger.exception("Scheduled job %s (%s) failed", entry.name, entry.task)
        return False
    finally:
        _drop_stale_connections()


def _drop_stale_connections() -> None:
    # A long-lived process must not keep a connection the database dropped between jobs (as the
    # request cycle does for the web server); inside an atomic block (tests) there is none to drop.
    if not connection.in_atomic_block:
        close_old_connections()


def run_due(schedule_entries: list[Entry]) -> tuple[list[str], float]:
    """Run every entry that is due; returns their names and the seconds until the next one is."""
    ran, wait = [], 60.0
    for entry in schedule_entries:
        due, next_in = entry.due_in()
        if due:
            run_entry(entry)
            ran.append(entry.name)
            due, next_in = entry.due_in()
        wait = min(wait, next_in)
    return ran, max(wait, 1.0)
