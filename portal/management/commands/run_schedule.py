"""``manage.py run_schedule``: Celery beat's schedule without a broker (``make run`` starts it)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from portal import scheduler


class Command(BaseCommand):
    help = "Run the jobs of CELERY_BEAT_SCHEDULE in this process when they are due (embedded mode)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run the jobs due at start, then exit.")

    def handle(self, *args, once: bool = False, **options):
        entries = scheduler.entries()
        names = ", ".join(e.name for e in entries)
        self.stdout.write(f"Scheduler: {len(entries)} jobs ({names}); tasks run in this process.")
        while True:
            ran, wait = scheduler.run_due(entries)
            for name in ran:
                self.stdout.write(f"ran {name}")
            if once:
                return
            time.sleep(wait)
