import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError

from demo import builder as demo


class Command(BaseCommand):
    help = (
        "Create a realistic demo organisation: users (password accord-demo), one team, personas, two "
        "agreement versions, accounts, leads, activities and a full lifecycle history. Deterministic for a "
        "given --seed and --anchor."
    )

    def add_arguments(self, parser):
        parser.add_argument("--leads", type=int, default=5000, help="number of leads (default 5000)")
        parser.add_argument("--weeks", type=int, default=12, help="weeks of history (default 12)")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--anchor",
            help="ISO date-time the history ends at (default: now, to the hour); fix it for identical reruns",
        )
        parser.add_argument("--if-empty", action="store_true", help="do nothing when demo data already exists")
        parser.add_argument("--reset", action="store_true", help="delete existing leads and agreements first")

    def handle(self, *args, leads, weeks, seed, anchor, if_empty, reset, **options):
        if leads < 1 or weeks < 1:
            raise CommandError("--leads and --weeks must be at least 1.")
        anchor_at = None
        if anchor:
            try:
                anchor_at = dt.datetime.fromisoformat(anchor)
            except ValueError:
                raise CommandError(
                    f"--anchor {anchor!r} is not an ISO date-time such as 2026-11-02T09:00+00:00"
                ) from None
            if anchor_at.tzinfo is None:
                anchor_at = anchor_at.replace(tzinfo=dt.UTC)
        if demo.demo_present():
            if if_empty:
                self.stdout.write("Demo data already present; nothing to do.")
                self.print_logins()
                return
            if not reset:
                raise CommandError("Leads or agreements already exist. Use --reset to rebuild the demo, or --if-empty.")
            demo.wipe()
        started = time.monotonic()
        counts = demo.seed(leads=leads, weeks=weeks, seed=seed, anchor=anchor_at)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {counts['leads']:,} leads, {counts['accounts']:,} accounts, {counts['activities']:,} "
                f"activities and {counts['transitions']:,} transitions in {elapsed:.1f} s."
            )
        )
        self.print_logins()

    def print_logins(self):
        self.stdout.write("\nDemo logins (password for all: accord-demo — demo only):")
        for username, first, last, role in demo.DEMO_USERS:
            self.stdout.write(f"  {username:<10} {role.label:<17} {first} {last}")
