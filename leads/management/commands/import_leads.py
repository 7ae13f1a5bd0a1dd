"""``python manage.py import_leads FILE --mapping MAPPING.json`` — the CSV import, for scheduled loads.

The mapping file (format in docs/operations.md) says what each column holds and how choice values
read; the import runs exactly as on the import pages (same checks, same value step, same history).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError

from leads.intake import importing


class Command(BaseCommand):
    help = "Import leads from a CSV file with a JSON mapping file; prints the counts and the rows to fix."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file.")
        parser.add_argument("--mapping", required=True, help="The JSON mapping file (see docs/operations.md).")

    def handle(self, *args, file: str, mapping: str, **options):
        try:
            spec = json.loads(Path(mapping).read_text(encoding="utf-8"))
            raw = Path(file).read_bytes()
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the files: {exc}") from None
        try:
            job = importing.import_job_create(upload=SimpleUploadedFile(Path(file).name, raw), user=None)
            job = importing.import_job_from_mapping_file(job=job, spec=spec)
            importing.import_job_start(job=job, in_background=False)
        except importing.ImportProblem as exc:
            raise CommandError(str(exc)) from None
        job.refresh_from_db()
        self.stdout.write(
            f"{job.original_name}: {job.processed_rows} rows, {job.created_count} leads created, "
            f"{job.updated_count} updated, {job.error_count} rows not imported."
        )
        for error in job.errors[:50]:
            where = f"line {error['line']}" if error.get("line") else "file"
            column = f" ({error['column']})" if error.get("column") else ""
            self.stdout.write(f"  {where}{column}: {error['message']}")
        if job.status != job.Status.DONE:
            raise CommandError("The import stopped; see the messages above.")
