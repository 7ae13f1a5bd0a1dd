"""Weekly SLA reports on demand: ``weekly_report [--team NAME] [--week YYYY-Www] [--if-missing]``."""

from __future__ import annotations

import zoneinfo

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from leads.models import Team
from sla import tasks
from sla.forms import WEEK
from sla.services import SlaError, previous_iso_week, report_generate
from sla.weeks import iso_week_label


class Command(BaseCommand):
    help = (
        "Snapshot the weekly SLA report of every team (or one) for an ISO week "
        "(default: the previous one) and e-mail it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--team", help="Team name (default: every team).")
        parser.add_argument("--week", help="ISO week as YYYY-Www, e.g. 2026-W14 (default: the previous week).")
        parser.add_argument("--if-missing", action="store_true", help="Skip teams whose week already has a report.")
        parser.add_argument("--no-email", action="store_true", help="Store the snapshot without e-mailing it.")

    def handle(self, *args, team=None, week=None, if_missing=False, no_email=False, **options):
        teams = Team.objects.order_by("name")
        if team:
            teams = teams.filter(name=team)
            if not teams.exists():
                names = ", ".join(Team.objects.order_by("name").values_list("name", flat=True)) or "none yet"
                raise CommandError(f"No team is called {team!r}. Teams: {names}.")
        parsed = None
        if week:
            match = WEEK.match(week.strip())
            if not match:
                raise CommandError(f"--week {week!r} is not an ISO week such as 2026-W14.")
            parsed = (int(match.group(1)), int(match.group(2)))
        now = timezone.now()
        made = skipped = 0
        for t in teams:
            year, number = parsed or previous_iso_week(now=now, tz=zoneinfo.ZoneInfo(t.time_zone))
            try:
                report = report_generate(team_id=t.pk, iso_year=year, iso_week=number, now=now, if_missing=if_missing)
            except SlaError as exc:
                raise CommandError(str(exc)) from None
            label = iso_week_label(year, number)
            if report is None:
                skipped += 1
                self.stdout.write(f"{t.name} {label}: a report exists already, skipped.")
            else:
                made += 1
                sent = ", ".join(report.sent_to) if report.sent_to else "not e-mailed"
                if not no_email:
                    transaction.on_commit(lambda report_id=report.pk: tasks.send_weekly_report.delay(report_id))
                    report.refresh_from_db(fields=["sent_to"])
                    sent = ", ".join(report.sent_to) or "queued for e-mail"
                self.stdout.write(self.style.SUCCESS(f"{t.name} {label}: report #{report.pk} generated ({sent})."))
        self.stdout.write(f"{made} generated, {skipped} skipped.")
