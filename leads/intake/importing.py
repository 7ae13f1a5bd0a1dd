"""CSV import of leads (and optionally one activity per row): upload → mapping → preview → import.

* ``sniff`` detects the encoding (UTF-8 with or without BOM, UTF-16 with BOM, Windows-1252 /
  Latin-1) and the delimiter (comma, semicolon, tab, pipe) and counts the rows.
* ``guess_mapping`` maps header names to lead fields ("E-mail Address" → email, "Firma" → company).
* ``validate_row`` cleans one row with the same rules as the API (``leads.intake.writes``) and lists
  each problem by column.
* ``import_job_run`` imports valid rows in chunks through ``leads.intake.writes.leads_upsert`` — an
  upsert by e-mail, so re-uploading a file creates no duplicates — and records progress on the
  ``ImportJob`` after every chunk for the progress bar. Large files run in a Celery task.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from leads.intake import writes as intake
from leads.models import ImportedLead, ImportJob
from leads.scoring.rescoring import enqueue, rescore_leads_later

logger = logging.getLogger(__name__)


class ImportProblem(Exception):
    """Something about the file or the job a person must fix; the message says what."""


# --- What a column can be mapped to -----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    help: str
    aliases: tuple[str, ...] = ()


def _choices_help(name: str) -> str:
    return ", ".join(label for _, label in intake.CHOICES[name])


TARGETS: tuple[Target, ...] = (
    Target(
        "email",
        "E-mail",
        "Required. Matches existing leads in any letter case.",
        ("e_mail", "mail", "email_address", "work_email", "business_email"),
    ),
    Target("first_name", "First name", "", ("firstname", "first", "given_name", "forename", "vorname", "prenom")),
    Target("last_name", "Last name", "", ("lastname", "last", "surname", "family_name", "nachname", "nom")),
    Target("job_title", "Job title", "", ("title", "position", "role", "job", "jobtitle", "job_role")),
    Target("seniority", "Seniority", _choices_help("seniority"), ("level", "job_level", "management_level")),
    Target("department", "Department", _choices_help("department"), ("function", "job_function", "team")),
    Target("phone", "Phone", "", ("telephone", "phone_number", "mobile", "tel")),
    Target(
        "company",
        "Company",
        "Name of a new account.",
        ("company_name", "organization", "organisation", "account", "account_name", "firma", "employer"),
    ),
    Target(
        "domain",
        "Web domain",
        "example.com or a web address; defaults to the e-mail's domain.",
        ("website", "web", "url", "company_domain", "company_website", "site"),
    ),
    Target("industry", "Industry", _choices_help("industry"), ("sector", "vertical")),
    Target(
        "employees",
        "Employee count",
        "A whole number: 1200, 1,200 or 1.2k.",
        ("employee_count", "number_of_employees", "company_size", "headcount", "size", "num_employees"),
    ),
    Target(
        "annual_revenue",
        "Annual revenue (USD)",
        "A whole number: 5000000, 5,000,000 or 5M.",
        ("revenue", "annual_revenue_usd", "turnover"),
    ),
    Target(
        "country",
        "Country",
        "Two-letter ISO code (GB, US, DE) or the country's English name.",
        ("country_code", "nation", "land"),
    ),
    Target(
        "source", "Lead source", _choices_help("source") + ". Empty: List import.", ("lead_source", "channel", "origin")
    ),
    Target("campaign", "Campaign", "", ("campaign_name", "utm_campaign")),
    Target("budget", "Budget (BANT)", _choices_help("budget"), ()),
    Target("authority", "Authority (BANT)", _choices_help("authority"), ()),
    Target("need", "Need (BANT)", _choices_help("need"), ()),
    Target("timeline", "Timeline (BANT)", _choices_help("timeline"), ("timeframe", "time_frame")),
    Target(
        "activity_kind",
        "Activity kind",
        "Optional, one per row: " + _choices_help("kind") + ".",
        ("activity", "activity_type", "event", "event_type"),
    ),
    Target(
        "activity_occurred_at",
        "Activity date",
        "ISO 8601: 2026-03-31 or 2026-03-31T14:05:00Z (UTC unless a zone is given).",
        ("activity_date", "occurred_at", "event_date", "date", "timestamp"),
    ),
    Target(
        "activity_external_id",
        "Activity id",
        "Optional: your id for the activity; the same id is stored once.",
        ("external_id", "event_id", "activity_external_id"),
    ),
)
TARGET_BY_KEY = {t.key: t for t in TARGETS}
ACTIVITY_TARGETS = ("activity_kind", "activity_occurred_at", "activity_external_id")
ENCODING_LABELS = {
    "utf-8-sig": "UTF-8 with BOM",
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Latin-1)",
    "latin-1": "Latin-1 (ISO 8859-1)",
}
DELIMITER_LABELS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
CHUNK_ROWS = 5000
MAX_STORED_ERRORS = 5000
PREVIEW_ROWS = 20


def sync_row_limit() -> int:
    """Files with at most this many rows import inside the request; larger ones in a Celery task."""
    return getattr(settings, "ACCORD_IMPORT_SYNC_ROWS", 2000)


def _norm_header(name: str) -> str:
    """Header names compared loosely: "E-mail Address", "email_address" and "EmailAddress" are equal."""
    return re.sub(r"[^a-z0-9]+", "", name.strip().lower())


_ALIASES: dict[str, str] = {}
for _target in TARGETS:
    for _name in (_target.key, _target.label, *_target.aliases):
        _ALIASES.setdefault(_norm_header(_name), _target.key)


def guess_mapping(header: Sequence[str]) -> list[str]:
    """A target key (or "" to ignore) per column, each target used at most once."""
    used: set[str] = set()
    mapping = []
    for name in header:
        key = _ALIASES.get(_norm_header(name), "")
        if key in used:
            key = ""
        used.add(key)
        mapping.append(key)
    return mapping


def mapping_problems(mapping: Sequence[str]) -> list[str]:
    """Why a mapping cannot be imported (empty when it can)."""
    problems = []
    chosen = [key for key in mapping if key]
    if "email" not in chosen:
        problems.append("Map one column to E-mail: leads are matched by e-mail address.")
    for key in sorted({k for k in chosen if chosen.count(k) > 1}):
        problems.append(f"{TARGET_BY_KEY[key].label} is chosen for more than one column.")
    has = set(chosen)
    if has & set(ACTIVITY_TARGETS) and not {"activity_kind", "activity_occurred_at"} <= has:
        problems.append("To import activities, map both Activity kind and Activity date.")
    return problems


# --- Reading the file -------------------------------------------------------------------------


def detect_encoding(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8", "cp1252"):
        try:
            raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"  # decodes any byte sequence


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (>1) of columns, the most columns winning."""
    sample = "\n".join(text.splitlines()[:50])
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITER_LABELS:
        counts = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if row]
        if not counts or counts[0] < 2:
            continue
        score = (round(sum(c == counts[0] for c in counts) / len(counts), 1), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


@dataclass
class Sniffed:
    encoding: str
    delimiter: str
    header: list[str]
    total_rows: int
    sha256: str


def sniff(raw: bytes) -> Sniffed:
    """Encoding, delimiter, header and number of data rows of a CSV file; ``ImportProblem`` if unusable."""
    if not raw.strip():
        raise ImportProblem("The file is empty.")
    encoding = detect_encoding(raw)
    text = raw.decode(encoding)
    if "\x00" in text[:4096]:
        raise ImportProblem("This looks like a binary file (a spreadsheet?). Save it as CSV and upload that.")
    delimiter = detect_delimiter(text)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header = [name.strip() for name in next(reader, [])]
        total = sum(1 for row in reader if any(value.strip() for value in row))
    except csv.Error as exc:
        raise ImportProblem(f"The file is not readable as CSV: {exc}.") from None
    if not any(header):
        raise ImportProblem("The first line must name the columns (e.g. email,first_name,company).")
    if total == 0:
        raise ImportProblem("The file has a header line but no rows.")
    return Sniffed(encoding, delimiter, header, total, hashlib.sha256(raw).hexdigest())


def iter_rows(job: ImportJob) -> Iterator[tuple[int, list[str]]]:
    """(line number, values) for every non-blank data row, streamed from the stored file."""
    with job.file.open("rb") as handle:
        text = io.TextIOWrapper(handle, encoding=job.encoding, newline="")
        reader = csv.reader(text, delimiter=job.delimiter)
        next(reader, None)
        for values in reader:
            if any(value.strip() for value in values):
                yield reader.line_num, values


def job_header(job: ImportJob) -> list[str]:
    return list(job.mapping.get("header", []))


def job_columns(job: ImportJob) -> list[str]:
    return list(job.mapping.get("columns", []))


# --- Validating a row -------------------------------------------------------------------------


@dataclass
class RowResult:
    line: int
    lead: dict | None = None
    activity: dict | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column name, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def activity_external_id(email: str, kind: str, occurred_at: dt.datetime) -> str:
    """A stable id for a CSV activity without one: importing the same file twice stores it once."""
    digest = hashlib.sha256(f"{email.lower()}|{kind}|{occurred_at.isoformat()}".encode()).hexdigest()
    return f"csv:{digest[:40]}"


def validate_row(
    line: int, values: Sequence[str], header: Sequence[str], columns: Sequence[str], now=None
) -> RowResult:
    """Clean one row with the API's rules; every problem is reported with its column name."""
    result = RowResult(line=line)
    extra = [v for v in values[len(header) :] if v.strip()]
    if extra:
        result.errors.append(
            ("", f"This row has {len(values)} values but the header names {len(header)} columns (a stray delimiter?).")
        )
    lead: dict = {}
    activity: dict = {}
    where: dict[str, str] = {}  # target → column name, for messages
    present: set[str] = set()
    for index, key in enumerate(columns):
        if not key:
            continue
        where[key] = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        raw = values[index].strip() if index < len(values) else ""
        if not raw:
            continue
        present.add(key)
        try:
            if key in ACTIVITY_TARGETS:
                name = key.removeprefix("activity_")
                activity[name] = intake.clean_activity_field(name, raw, now)
            else:
                lead[key] = intake.clean_lead_field(key, raw)
        except intake.FieldError as exc:
            result.errors.append((where[key], str(exc)))
    if "email" not in present:
        result.errors.append((where.get("email", "email"), "E-mail is required."))
    if present & set(ACTIVITY_TARGETS):
        for key, message in (
            ("activity_kind", "Give the kind of this activity."),
            ("activity_occurred_at", "Give the date of this activity."),
        ):
            if key in where and key not in present:
                result.errors.append((where[key], message))
    if result.errors:
        return result
    result.lead = lead
    if activity:
        activity.setdefault(
            "external_id", activity_external_id(lead["email"], activity["kind"], activity["occurred_at"])
        )
        result.activity = activity
    return result


def _validated(job: ImportJob) -> Iterator[tuple[int, list[str], RowResult]]:
    """Every row of the file with its validation under the job's mapping (one clock for all)."""
    header, columns, now = job_header(job), job_columns(job), timezone.now()
    for line, values in iter_rows(job):
        yield line, values, validate_row(line, values, header, columns, now)


def preview(
    job: ImportJob, limit: int = PREVIEW_ROWS, *, count_invalid: bool = False
) -> tuple[list[tuple[list[str], RowResult]], int | None]:
    """The first ``limit`` rows with their validation, for the preview page, and — with
    ``count_invalid`` — how many rows of the whole file cannot be imported (one pass over it)."""
    first, invalid = [], 0
    for _line, values, result in _validated(job):
        if len(first) < limit:
            first.append((values, result))
        elif not count_invalid:
            break
        invalid += not result.ok
    return first, (invalid if count_invalid else None)


def runs_in_background(job: ImportJob) -> bool:
    """Large files import as a Celery task with a progress bar; small ones within the request."""
    return job.total_rows > sync_row_limit()


def invalid_rows_csv(job: ImportJob) -> Iterator[list[str]]:
    """The rows that cannot be imported, as the file had them, with their line and what to fix."""
    yield ["line", "errors", *job_header(job)]
    for line, values, result in _validated(job):
        if not result.ok:
            problems = "; ".join(f"{column}: {message}" if column else message for column, message in result.errors)
            yield [str(line), problems, *values]


def sample_csv() -> str:
    """The downloadable template: every column the importer understands, two example rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([t.key for t in TARGETS])
    writer.writerow(
        [
            "ada.lovelace@analytical.example",
            "Ada",
            "Lovelace",
            "VP Marketing",
            "VP",
            "Marketing",
            "+44 20 7946 0000",
            "Analytical Engines",
            "analytical.example",
            "Software",
            "850",
            "120M",
            "GB",
            "Webinar",
            "Spring webinar",
            "Planned",
            "Decision maker",
            "Identified",
            "This quarter",
            "webinar_attended",
            "2026-03-12T15:00:00Z",
            "webinar-2026-03-ada",
        ]
    )
    writer.writerow(
        [
            "grace@navy.example",
            "Grace",
            "Hopper",
            "Director of Engineering",
            "Director",
            "Engineering",
            "",
            "",
            "",
            "Government",
            "12,000",
            "",
            "US",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    return out.getvalue()


# --- Services ---------------------------------------------------------------------------------


def import_job_create(*, upload: UploadedFile, user) -> ImportJob:
    """Store an uploaded CSV with what sniffing found and a guessed mapping (status "uploaded")."""
    if upload.size and upload.size > MAX_UPLOAD_BYTES:
        raise ImportProblem(
            f"The file has {upload.size / 1024 / 1024:.0f} MB; at most {MAX_UPLOAD_BYTES // 1024 // 1024} MB "
            "can be imported at once. Split it into several files."
        )
    raw = upload.read()
    found = sniff(raw)
    upload.seek(0)
    return ImportJob.objects.create(
        file=upload,
        original_name=(upload.name or "upload.csv")[:255],
        sha256=found.sha256,
        encoding=found.encoding,
        delimiter=found.delimiter,
        mapping={"header": found.header, "columns": guess_mapping(found.header)},
        total_rows=found.total_rows,
        created_by=user,
    )


def import_job_map(*, job: ImportJob, columns: Sequence[str]) -> ImportJob:
    """Save the chosen mapping (status "mapped"); ``ImportProblem`` if it cannot be imported or already ran."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.MAPPED):
            raise ImportProblem("This file is already being imported; the mapping cannot change any more.")
        problems = mapping_problems(columns)
        if problems:
            raise ImportProblem(" ".join(problems))
        job.mapping = {**job.mapping, "columns": list(columns)}
        job.status = ImportJob.Status.MAPPED
        job.save(update_fields=["mapping", "status"])
    return job


def import_job_start(*, job: ImportJob) -> bool:
    """Start importing a mapped file: small files now, large ones in a Celery task after commit.

    Returns True when it ran in a task. A second click finds the job running: ``ImportProblem``.
    """
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.MAPPED:
            raise ImportProblem(
                "This file was imported already."
                if job.status == ImportJob.Status.DONE
                else "This import has already started."
            )
        job.status = ImportJob.Status.RUNNING
        job.save(update_fields=["status"])
        in_background = runs_in_background(job)
        if in_background:
            transaction.on_commit(lambda: enqueue("leads.tasks.import_csv", job.pk))
    if not in_background:
        import_job_run(job_id=job.pk)
    return in_background


def _import_chunk(job_id: int, results: list[RowResult], now: dt.datetime) -> tuple[int, int, int]:
    """One chunk in one transaction: leads, then their activities; (created, updated, activities stored)."""
    with transaction.atomic():
        upserted = intake.leads_write([r.lead for r in results], now, defaults={"source": "import"})
        # Every lead of the file's valid rows, changed or not: "See the imported leads" lists these.
        ImportedLead.objects.bulk_create(
            [ImportedLead(job_id=job_id, lead_id=pk, created=pk in upserted.created) for pk in upserted.ids.values()],
            ignore_conflicts=True,  # a re-run chunk (a redelivered task) records nothing twice
        )
        activities = [
            {"lead_id": upserted.ids[r.lead["email"].lower()], "details": {"import_job": job_id}, **r.activity}
            for r in results
            if r.activity
        ]
        stored, _, touched = intake.store_activities(rows=activities, now=now, stamped=upserted.touched)
        rescore_leads_later(touched | upserted.touched)  # one rescore, once the chunk commits
    return len(upserted.created), len(upserted.updated), stored


def import_job_run(*, job_id: int) -> ImportJob:
    """Import every valid row of a running job, chunk by chunk, recording progress; safe to run again."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.RUNNING:
        return job  # done already (a redelivered task), or not started
    header, columns = job_header(job), job_columns(job)
    counts = {"processed_rows": 0, "created_count": 0, "updated_count": 0, "error_count": 0}
    activities = 0
    errors: list[dict] = []
    try:
        batch: list[RowResult] = []
        now = timezone.now()
        for line, values in iter_rows(job):
            result = validate_row(line, values, header, columns, now)
            counts["processed_rows"] += 1
            if result.ok:
                batch.append(result)
            else:
                counts["error_count"] += 1
                errors.extend({"line": line, "column": column, "message": message} for column, message in result.errors)
            if counts["processed_rows"] % CHUNK_ROWS == 0:
                activities += _flush(job.pk, batch, counts, now)
                batch = []
                now = timezone.now()
        activities += _flush(job.pk, batch, counts, now)
    except (csv.Error, UnicodeDecodeError, OSError) as exc:
        errors.insert(
            0, {"line": None, "column": "", "message": f"The import stopped: the file could not be read ({exc})."}
        )
        status = ImportJob.Status.FAILED
    except Exception:  # noqa: BLE001 - a bug must fail the job visibly, not leave it "running" for ever
        logger.exception("Import job %s stopped after %s rows", job.pk, counts["processed_rows"])
        errors.insert(
            0,
            {
                "line": None,
                "column": "",
                "message": "The import stopped because of an error on our side; the rows counted as created "
                "or updated are imported. Please tell your administrator.",
            },
        )
        status = ImportJob.Status.FAILED
    else:
        status = ImportJob.Status.DONE
    ImportJob.objects.filter(pk=job.pk).update(
        status=status,
        finished_at=timezone.now(),
        errors=errors[:MAX_STORED_ERRORS],
        mapping={**job.mapping, "activities_stored": activities},
        **counts,
    )
    job.refresh_from_db()
    return job


def _flush(job_id: int, batch: list[RowResult], counts: dict, now: dt.datetime) -> int:
    stored = 0
    if batch:
        created, updated, stored = _import_chunk(job_id, batch, now)
        counts["created_count"] += created
        counts["updated_count"] += updated
    # Progress for the live bar: its own short write, visible at once.
    ImportJob.objects.filter(pk=job_id).update(**counts)
    return stored
