"""Build or catch up the SLA pass table and daily roll-up: ``sla_refresh [--rebuild]``."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import connection

from sla.services import figures_refresh


class Command(BaseCommand):
    help = (
        "Bring the SLA pass table and its daily roll-up up to date with the transition log (builds them on "
        "first run). Run it after loading data so that no dashboard request has to build them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Rebuild both from scratch.")

    def handle(self, *args, rebuild=False, **options):
        started = time.monotonic()
        leads = figures_refresh(rebuild=rebuild)
        what = "built from the whole log" if leads < 0 else f"caught up ({leads:,} changed leads)"
        tables = "pass table and daily roll-up" if connection.vendor == "postgresql" else "pass table"
        self.stdout.write(self.style.SUCCESS(f"SLA {tables} {what} in {time.monotonic() - started:.1f} s."))
