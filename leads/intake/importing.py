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
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from alignment.countries import fold
from leads.bulk import insert_rows
from leads.intake import writes as intake
from leads.intake.history import HistoryError, clean_created_at, outcome_stage, steps_from_outcome
from leads.intake.identity import resolve_identities
from leads.lifecycle import HISTORY_STAGES
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
        "lead_external_id",
        "Lead id in your system",
        "Optional: the id your CRM or automation tool gives the lead; names the lead like its e-mail.",
        ("lead_id", "crm_id", "contact_id", "prospect_id", "record_id", "external_lead_id", "prospect_number"),
    ),
    Target(
        "created_at",
        "Created at (history)",
        "For past leads: when the lead really arrived, ISO 8601 (2024-03-31); not in the future. Default: now.",
        ("created", "create_date", "created_date", "lead_created", "date_created", "createdate"),
    ),
    Target(
        "outcome",
        "Outcome (history)",
        "For past leads: the furthest stage reached — "
        + ", ".join(HISTORY_STAGES)
        + " (also: customer, closed won, opportunity, closed lost, unqualified). Empty: no outcome yet.",
        ("stage", "lead_stage", "lifecycle_stage", "status", "lead_status", "converted_stage"),
    ),
    Target(
        "outcome_at",
        "Outcome date (history)",
        "When the outcome was reached, ISO 8601; default: the created-at date.",
        ("outcome_date", "closed_at", "close_date", "converted_at", "stage_date", "won_date"),
    ),
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


# Columns mapped to the organisation's attributes: "attr:<key>"; to an attribute the import creates
# from the column: "new:<type>" (the value step turns it into "attr:<key>").
ATTR_PREFIX, NEW_PREFIX = "attr:", "new:"
# Cell values that mean "nobody said": offered as unknown in the value step.
UNKNOWN_WORDS = {"select", "n/a", "na", "-", "--", "none", "null", "unknown", "not specified", "?"}
# A value-step decision that adds the cell value as a new choice.
ADD_CHOICE = "+new"


def target_label(key: str, dictionary=None) -> str:
    if key.startswith(ATTR_PREFIX):
        attribute_key = key.removeprefix(ATTR_PREFIX)
        return dictionary.label(attribute_key) if dictionary else attribute_key
    if key.startswith(NEW_PREFIX):
        return f"New attribute ({key.removeprefix(NEW_PREFIX).replace('_', ' ')})"
    return TARGET_BY_KEY[key].label if key in TARGET_BY_KEY else key


def mapping_problems(mapping: Sequence[str]) -> list[str]:
    """Why a mapping cannot be imported (empty when it can)."""
    problems = []
    chosen = [key for key in mapping if key]
    if "email" not in chosen and "lead_external_id" not in chosen:
        problems.append(
            "Map one column to E-mail or to Lead id in your system: leads are matched by e-mail address or by that id."
        )
    for key in sorted({k for k in chosen if chosen.count(k) > 1 and not k.startswith(NEW_PREFIX)}):
        problems.append(f"{target_label(key)} is chosen for more than one column.")
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


@dataclass
class ImportPlan:
    """What the job's columns mean beyond the built-in fields: the dictionary, the attributes
    columns map to, and the value step's decisions (cell value → stored value, "" = unknown)."""

    dictionary: object = None
    values: dict[int, dict[str, str]] = field(default_factory=dict)
    # Cleaned cells per column index and cell text (see ``validate_row``): valid for this plan's dictionary.
    cells: dict[int, dict[str, tuple]] = field(default_factory=dict)
    layout: tuple | None = None  # (header and columns, _Layout) of the file last checked

    @classmethod
    def for_job(cls, job: ImportJob) -> ImportPlan:
        from alignment.dictionary import load_dictionary

        decided = job.mapping.get("values", {})
        return cls(load_dictionary(), {int(index): table for index, table in decided.items()})

    def custom(self, raw: str, index: int, key: str) -> tuple[str, object]:
        """(object, stored value) of one cell of a column mapped to the attribute ``key``."""
        from leads.intake.attributes import clean_value

        attribute = self.dictionary.attributes[key]
        table = self.values.get(index, {})
        lookup = self.dictionary.choice_lookup(key) if attribute.type in ("choice", "multi_choice") else {}

        def read(cell: str) -> str:
            # The value step's decision first, then what earlier imports taught to read as unknown.
            if cell in table:
                return table[cell]
            return "" if attribute.reads_unknown(cell) else cell

        if attribute.type == "multi_choice":
            items = [read(item.strip()) for item in re.split(r"[;|]", raw) if item.strip()]
            value = [item for item in items if item]  # "" = read as unknown
        else:
            value = read(raw)
        return attribute.object, clean_value(attribute, value, lookup)

    def builtin(self, raw: str, index: int, key: str) -> str:
        """A built-in choice field (source, country, …) read through the value step and the dictionary."""
        from leads.intake.attributes import clean_builtin_choice

        table = self.values.get(index, {})
        attribute = self.dictionary.attributes.get(key)
        if raw not in table and attribute is not None and attribute.reads_unknown(raw):
            return None
        return clean_builtin_choice(key, table.get(raw, raw), self.dictionary)


HISTORY_TARGETS = ("created_at", "outcome", "outcome_at")


def _read_history(raw: dict[str, str], lead: dict, now) -> None:
    """A past lead's created-at, outcome and outcome date as the lead's ``created_at`` and ``history``."""
    created_at = clean_created_at(raw["created_at"], now=now) if "created_at" in raw else None
    if created_at is not None:
        lead["created_at"] = created_at
    if raw.get("outcome"):
        steps = steps_from_outcome(
            outcome_stage(raw["outcome"]), raw.get("outcome_at", ""), created_at=created_at or now, now=now
        )
        if steps:
            lead["history"] = steps


# Columns whose cells repeat (choices, numbers, yes/no, dates, kinds…) are cleaned once per distinct
# value and column; names, e-mails and ids are unique per row and not worth remembering.
_UNCACHED = frozenset(
    {"email", "first_name", "last_name", "job_title", "phone", "company", "domain", "campaign", "activity_external_id"}
)
_CACHE_LIMIT = 20_000  # distinct values remembered per column


def _clean_cell(plan: ImportPlan | None, index: int, key: str, raw: str) -> tuple[str | None, str, object]:
    """(slot, name, cleaned value) of one cell — slot "lead", "activity", "attributes" or
    "account_attributes" — or (None, "", message) when the value is refused."""
    from leads.intake.attributes import ValueRefused

    try:
        if key.startswith(ATTR_PREFIX) and plan is not None:
            attribute = key.removeprefix(ATTR_PREFIX)
            target, value = plan.custom(raw, index, attribute)
            return ("attributes" if target == "lead" else "account_attributes"), attribute, value
        if key == "activity_kind":
            try:
                return "activity", "kind", intake.clean_activity_field("kind", raw)
            except intake.FieldError:
                if plan is None:
                    raise
                return "activity", "kind", plan.builtin(raw, index, "kind")
        if key == "activity_external_id":
            return "activity", "external_id", intake.clean_activity_field("external_id", raw)
        try:
            return "lead", key, intake.clean_lead_field(key, raw)
        except intake.FieldError:
            # Values the organisation added to a built-in field's choices (or mapped in the value step).
            if key not in intake.CHOICES or plan is None:
                raise
            return "lead", key, plan.builtin(raw, index, key)
    except (ValueRefused, intake.FieldError) as exc:
        return None, "", str(exc)


@dataclass(frozen=True)
class _Layout:
    """What every row of a file shares: per mapped column (index, target, read specially, cell
    values read as unknown, its cleaned cells when remembered), and each target's column name for messages."""

    cells: tuple[tuple[int, str, bool, frozenset[str], dict | None], ...]
    where: dict[str, str]


_SPECIAL = frozenset({"lead_external_id", "activity_occurred_at", *("created_at", "outcome", "outcome_at")})


def _layout(header: Sequence[str], columns: Sequence[str], plan: ImportPlan | None) -> _Layout:
    key = (tuple(header), tuple(columns))
    if plan is not None and plan.layout is not None and plan.layout[0] == key:
        return plan.layout[1]
    cells, where = [], {}
    for index, target in enumerate(columns):
        if not target:
            continue
        where[target] = header[index] if index < len(header) and header[index] else f"column {index + 1}"
        table = plan.values.get(index, {}) if plan is not None else {}
        unknown = frozenset(value for value, stored in table.items() if stored == "")
        remembered = plan is not None and target not in _UNCACHED
        cells.append(
            (index, target, target in _SPECIAL, unknown, plan.cells.setdefault(index, {}) if remembered else None)
        )
    layout = _Layout(tuple(cells), where)
    if plan is not None:
        plan.layout = (key, layout)
    return layout


def validate_row(
    line: int,
    values: Sequence[str],
    header: Sequence[str],
    columns: Sequence[str],
    now=None,
    plan: ImportPlan | None = None,
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
    history_raw: dict[str, str] = {}
    layout = _layout(header, columns, plan)
    where = layout.where
    present: set[str] = set()
    count = len(values)
    for index, key, special, unknown, cache in layout.cells:
        raw = values[index].strip() if index < count else ""
        if not raw or raw in unknown:
            continue  # empty, or a value the person read as unknown
        present.add(key)
        if special:
            try:
                if key == "lead_external_id":
                    lead["external_id"] = intake.clean_text("external_id", raw)
                elif key in HISTORY_TARGETS:
                    history_raw[key] = raw
                else:
                    activity["occurred_at"] = intake.clean_activity_field("occurred_at", raw, now)
            except intake.FieldError as exc:
                result.errors.append((where[key], str(exc)))
            continue
        if cache is None:
            slot, name, value = _clean_cell(plan, index, key, raw)
        else:
            found = cache.get(raw)
            if found is None:
                found = _clean_cell(plan, index, key, raw)
                if len(cache) < _CACHE_LIMIT:
                    cache[raw] = found
            slot, name, value = found
            if value.__class__ is list:
                value = list(value)  # a list (multiple choice) is remembered once: each row gets its own
        if slot is None:
            result.errors.append((where[key], value))
        elif slot == "lead":
            lead[name] = value
        elif slot == "activity":
            activity[name] = value
        else:
            lead.setdefault(slot, {})[name] = value
    if history_raw:
        try:
            _read_history(history_raw, lead, now)
        except HistoryError as exc:
            result.errors.append((where.get(exc.field, exc.field), str(exc)))
    if "email" not in present and "lead_external_id" not in present:
        result.errors.append((where.get("email", "email"), "E-mail is required."))
    if present & set(ACTIVITY_TARGETS):
        for key, message in (
            ("activity_kind", "Give the kind of this activity."),
            ("activity_occurred_at", "Give the date of this activity."),
        ):
            if key in where and key not in present:
                result.errors.append((where[key], message))
    if activity and "email" not in present:
        result.errors.append((where.get("email", "email"), "An activity needs the lead's e-mail in this file."))
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
    plan = ImportPlan.for_job(job)
    for line, values in iter_rows(job):
        yield line, values, validate_row(line, values, header, columns, now, plan)


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
    at = [t.key for t in TARGETS].index("created_at")

    def example(row: list[str]) -> list[str]:
        return row[:at] + ["", "", ""] + row[at:]  # live leads: no history columns

    writer.writerow(
        example(
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
                "crm-1001",
                "webinar_attended",
                "2026-03-12T15:00:00Z",
                "webinar-2026-03-ada",
            ]
        )
    )
    writer.writerow(
        example(
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
                "",
            ]
        )
    )
    return out.getvalue()


# --- The organisation's attributes: new ones from a column, and the value step -----------------

CHOICE_LIMIT = 100  # a column with at most this many distinct values becomes a choice attribute
_YES_NO = {"yes", "no", "y", "n", "true", "false", "t", "f", "0", "1"}
_DECIMAL_RE = re.compile(r"^-?\d+(?:[.,]\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def guess_type(counts: Counter) -> str:
    """The attribute type a column's values suggest: yes/no, number, date, choice (≤ 100 distinct), text."""
    given = [v for v in counts if v.strip() and v.strip().lower() not in UNKNOWN_WORDS]
    if not given:
        return "text"
    if all(v.strip().lower() in _YES_NO for v in given) and not all(_DECIMAL_RE.match(v) for v in given):
        return "yes_no"
    if all(_DECIMAL_RE.match(v.strip().replace(",", "")) for v in given):
        return "number"
    if all(_DATE_RE.match(v.strip()) for v in given):
        return "date"
    return "choice" if len(given) <= CHOICE_LIMIT else "text"


def column_values(job: ImportJob, indexes: Sequence[int]) -> dict[int, Counter]:
    """Distinct values and their counts of some columns (one pass over the file); multi-choice
    cells count each of their ";"-separated items."""
    counts: dict[int, Counter] = {i: Counter() for i in indexes}
    for _line, values in iter_rows(job):
        for index in indexes:
            if index < len(values) and values[index].strip():
                counts[index][values[index].strip()] += 1
    return counts


def _split_counts(counts: Counter) -> Counter:
    items: Counter = Counter()
    for value, n in counts.items():
        for item in re.split(r"[;|]", value):
            if item.strip():
                items[item.strip()] += n
    return items


def value_columns(job: ImportJob, dictionary, *, builtins: bool = False) -> list[tuple[int, str]]:
    """(column index, target) of the columns the value step asks about: every column mapped to a
    choice attribute of the organisation or to a new one, and with ``builtins`` the built-in choice
    fields too (a mapping file may add "Google" to the sources; the pages report unknown values of
    built-in fields in the preview, where they are fixed in the file or added on the Data page)."""
    found = []
    for index, key in enumerate(job_columns(job)):
        if key.startswith(NEW_PREFIX) and key.removeprefix(NEW_PREFIX) in ("choice", "multi_choice"):
            found.append((index, key))
        elif key.startswith(ATTR_PREFIX):
            attribute = dictionary.attributes.get(key.removeprefix(ATTR_PREFIX))
            if attribute is not None and attribute.type in ("choice", "multi_choice"):
                found.append((index, key))
        elif builtins and key in intake.CHOICES and key not in ("kind", "country"):  # countries have aliases
            found.append((index, key))
    return found


@dataclass
class ValueRow:
    value: str
    count: int
    suggestion: str  # a choice's value, ADD_CHOICE or "" (unknown)


def value_step(job: ImportJob, dictionary, *, builtins: bool = False) -> list[dict]:
    """Per choice column: its distinct values with counts and a suggested reading of each."""
    columns = value_columns(job, dictionary, builtins=builtins)
    counts = column_values(job, [i for i, _ in columns])
    header = job_header(job)
    decided = job.mapping.get("values", {})
    steps = []
    for index, key in columns:
        attribute_key = key.removeprefix(ATTR_PREFIX) if not key.startswith(NEW_PREFIX) else None
        multi = key == f"{NEW_PREFIX}multi_choice" or (
            attribute_key is not None and dictionary.attributes[attribute_key].type == "multi_choice"
        )
        attribute = dictionary.attributes[attribute_key] if attribute_key else None
        lookup = dictionary.choice_lookup(attribute_key) if attribute_key else {}
        choices = [c for c in attribute.choices if not c.archived] if attribute else []
        rows = []
        for value, n in (_split_counts(counts[index]) if multi else counts[index]).most_common():
            if value in decided.get(str(index), {}):
                suggestion = decided[str(index)][value]
            elif value.lower() in UNKNOWN_WORDS or (attribute is not None and attribute.reads_unknown(value)):
                suggestion = ""
            else:
                suggestion = lookup.get(fold(value), ADD_CHOICE)
            rows.append(ValueRow(value, n, suggestion))
        steps.append(
            {
                "index": index,
                "column": header[index] if index < len(header) else f"Column {index + 1}",
                "target": key,
                "label": target_label(key, dictionary),
                "choices": choices,
                "known": {c.value for c in choices},
                "rows": rows,
            }
        )
    return steps


def _new_key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "column"
    if not base[0].isalpha():
        base = f"attr_{base}"
    base = base[:50]
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def import_job_values(*, job: ImportJob, decisions: dict[int, dict[str, str]], user=None) -> ImportJob:
    """Apply the value step: create the attributes the mapping asked for, add the choices marked
    new, remember each other spelling as an alias of the choice it was mapped to (the next import
    of that column maps it by itself), and keep what was read as unknown for this job."""
    from alignment import dictionary_services as data_dictionary
    from alignment.dictionary import load_dictionary
    from alignment.models import Attribute

    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status not in (ImportJob.Status.UPLOADED, ImportJob.Status.MAPPED):
            raise ImportProblem("This file is already being imported; its values cannot change any more.")
        header, columns = job_header(job), job_columns(job)
        taken = set(Attribute.objects.values_list("key", flat=True)) | set(TARGET_BY_KEY)
        new_columns = [i for i, key in enumerate(columns) if key.startswith(NEW_PREFIX)]
        if new_columns:
            counts = column_values(job, new_columns)
            for index in new_columns:
                kind = columns[index].removeprefix(NEW_PREFIX)
                name = header[index] if index < len(header) else f"Column {index + 1}"
                key = _new_key(name, taken)
                taken.add(key)
                data_dictionary.attribute_create(key=key, label=name, type=kind, user=user)
                columns[index] = f"{ATTR_PREFIX}{key}"
                if kind in ("choice", "multi_choice"):
                    # Every value of the column becomes a choice, except what was decided otherwise.
                    found = _split_counts(counts[index]) if kind == "multi_choice" else counts[index]
                    defaults = {v: ("" if v.lower() in UNKNOWN_WORDS else ADD_CHOICE) for v in found}
                    decisions[index] = {**defaults, **decisions.get(index, {})}
        dictionary = load_dictionary()
        tables: dict[str, dict[str, str]] = {}
        for index, table in decisions.items():
            key = columns[index].removeprefix(ATTR_PREFIX)
            attribute = Attribute.objects.get(key=key)
            added, aliases = [], {}
            lookup = dictionary.choice_lookup(key)
            definition = dictionary.attributes[key]
            # Values read as unknown are remembered, so the next import of this attribute reads them so
            # by itself; a spelling of a choice read as unknown this once is not (it still names the choice).
            unknowns = [
                raw
                for raw, decision in table.items()
                if not decision and fold(raw) not in lookup and not definition.reads_unknown(raw)
            ]
            for raw, decision in table.items():
                if decision == ADD_CHOICE:
                    if fold(raw) not in lookup:
                        added.append({"value": raw, "label": raw})
                    decision = lookup.get(fold(raw), raw)
                elif decision and fold(raw) != fold(decision) and lookup.get(fold(raw)) != decision:
                    aliases.setdefault(decision, []).append(raw)
                tables.setdefault(str(index), {})[raw] = decision
            choices = added + [{"value": value, "aliases": spellings} for value, spellings in aliases.items()]
            # A value once read as unknown and now mapped to a choice is forgotten as unknown.
            named = {raw.strip().lower() for raw, decision in table.items() if decision}
            kept = [a for a in definition.unknown_aliases if a.strip().lower() not in named]
            remembered = [*kept, *unknowns]
            if choices or remembered != list(definition.unknown_aliases):
                data_dictionary.attribute_update(
                    attribute=attribute,
                    choices=choices,
                    unknown_aliases=remembered if remembered != list(definition.unknown_aliases) else None,
                    user=user,
                )
        job.mapping = {**job.mapping, "columns": columns, "values": tables, "values_done": True}
        job.status = ImportJob.Status.MAPPED
        job.save(update_fields=["mapping", "status"])
    return job


def import_job_from_mapping_file(*, job: ImportJob, spec: dict, user=None) -> ImportJob:
    """Map a job as a mapping file says (``manage.py import_leads``; format in docs/operations.md)::

        {"columns": {"Email": "email", "Lead Origin": "lead_origin", "Occupation": {"new": "choice"}},
         "values": {"Lead Origin": {"Select": null, "Referral Sites": "Referral", "Blog": "+new"}}}

    Columns are named by their header; a target is a built-in field, an attribute's key, or
    ``{"new": TYPE}`` (an attribute created from the column; "guess" guesses the type); columns not
    named are ignored. ``values`` maps a cell value to a choice, ``"+new"`` (add it) or null
    (unknown); values not named read through the dictionary, and new attributes add theirs.
    """
    from alignment.dictionary import load_dictionary

    header = job_header(job)
    dictionary = load_dictionary()
    given = spec.get("columns") or {}
    unknown = sorted(set(given) - set(header))
    if unknown:
        raise ImportProblem(f"The mapping names columns the file does not have: {', '.join(unknown)}.")
    columns = []
    for index, name in enumerate(header):
        target = given.get(name)
        if isinstance(target, dict):
            kind = target.get("new", "guess")
            if kind == "guess":
                kind = guess_type(column_values(job, [index])[index])
            columns.append(f"{NEW_PREFIX}{kind}")
        elif not target:
            columns.append("")
        elif target in TARGET_BY_KEY:
            columns.append(target)
        elif target in dictionary.attributes and not dictionary.attributes[target].builtin:
            columns.append(f"{ATTR_PREFIX}{target}")
        else:
            raise ImportProblem(f"Column {name}: '{target}' is neither a field nor an attribute's key.")
    job = import_job_map(job=job, columns=columns)
    wanted = {header.index(name): table for name, table in (spec.get("values") or {}).items() if name in header}
    decisions = {}
    for index, key in value_columns(job, dictionary, builtins=True):
        table = {raw: ("" if to is None else to) for raw, to in wanted.get(index, {}).items()}
        if key.startswith(NEW_PREFIX) and not table:
            continue  # a new attribute takes every value of its column as a choice
        decisions[index] = table
    return import_job_values(job=job, decisions=decisions, user=user)


def needs_value_step(job: ImportJob, dictionary) -> bool:
    """A new choice attribute, or a value of a choice column the dictionary does not know: ask."""
    if job.mapping.get("values_done") or not value_columns(job, dictionary):
        return False
    return any(
        step["target"].startswith(NEW_PREFIX) or any(row.suggestion not in step["known"] for row in step["rows"])
        for step in value_step(job, dictionary)
    )


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
        values = job.mapping.get("values", {}) if list(columns) == job_columns(job) else {}
        job.mapping = {**job.mapping, "columns": list(columns), "values": values, "values_done": bool(values)}
        job.status = ImportJob.Status.MAPPED
        job.save(update_fields=["mapping", "status"])
    return job


def import_job_start(*, job: ImportJob, in_background: bool | None = None) -> bool:
    """Start importing a mapped file: small files now, large ones in a Celery task after commit
    (``in_background`` forces either).

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
        in_background = runs_in_background(job) if in_background is None else in_background
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
        # A re-run chunk (a redelivered task) records nothing twice: the pair is unique.
        insert_rows(
            ImportedLead,
            [{"job_id": job_id, "lead_id": pk, "created": pk in upserted.created} for pk in upserted.ids.values()],
            now=now,
        )
        activities = [
            {"lead_id": upserted.ids[r.lead["email"].lower()], "details": {"import_job": job_id}, **r.activity}
            for r in results
            if r.activity
        ]
        stored, _, touched = intake.store_activities(rows=activities, now=now, stamped=upserted.touched)
        # One rescore, once the chunk commits; new leads were inserted waiting for it.
        rescore_leads_later(touched | upserted.touched, marked_by_write=upserted.created)
    return len(upserted.created), len(upserted.updated), stored


OUR_ERROR = {
    "line": None,
    "column": "",
    "message": "The import stopped because of an error on our side; the rows counted as created "
    "or updated are imported. Please tell your administrator.",
}


@dataclass
class _Flushed:
    """What writing one chunk did: counts to add to the job's, and the rows refused by identity."""

    created: int = 0
    updated: int = 0
    stored: int = 0
    errors: list[dict] = field(default_factory=list)
    refused: int = 0


def import_job_run(*, job_id: int) -> ImportJob:
    """Import every valid row of a running job, chunk by chunk, recording progress; safe to run again."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status != ImportJob.Status.RUNNING:
        return job  # done already (a redelivered task), or not started
    header, columns = job_header(job), job_columns(job)
    plan = ImportPlan.for_job(job)
    counts = {"processed_rows": 0, "created_count": 0, "updated_count": 0, "error_count": 0}
    activities = 0
    errors: list[dict] = []

    def account(done: _Flushed) -> None:
        nonlocal activities
        counts["created_count"] += done.created
        counts["updated_count"] += done.updated
        counts["error_count"] += done.refused
        activities += done.stored
        errors.extend(done.errors)
        # Progress for the live bar: its own short write, visible at once.
        ImportJob.objects.filter(pk=job.pk).update(**counts)

    try:
        batch: list[RowResult] = []
        now = timezone.now()
        for line, values in iter_rows(job):
            result = validate_row(line, values, header, columns, now, plan)
            counts["processed_rows"] += 1
            if result.ok:
                batch.append(result)
            else:
                counts["error_count"] += 1
                errors.extend({"line": line, "column": column, "message": message} for column, message in result.errors)
            if counts["processed_rows"] % CHUNK_ROWS == 0:
                account(_flush(job.pk, batch, now))
                batch = []
                now = timezone.now()
        account(_flush(job.pk, batch, now))
    except (csv.Error, UnicodeDecodeError, OSError) as exc:
        errors.insert(
            0, {"line": None, "column": "", "message": f"The import stopped: the file could not be read ({exc})."}
        )
        status = ImportJob.Status.FAILED
    except Exception:
        logger.exception("Import job %s stopped after %s rows", job.pk, counts["processed_rows"])
        errors.insert(0, OUR_ERROR)
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


def _flush(job_id: int, batch: list[RowResult], now: dt.datetime) -> _Flushed:
    """Write one chunk of valid rows (those whose identity conflicts are refused, by line)."""
    done = _Flushed()
    refused = resolve_identities([r.lead for r in batch])
    for index, problems in sorted(refused.items()):
        done.refused += 1
        done.errors.extend(
            {"line": batch[index].line, "column": "", "message": m} for ms in problems.values() for m in ms
        )
    batch = [r for i, r in enumerate(batch) if i not in refused]
    if batch:
        done.created, done.updated, done.stored = _import_chunk(job_id, batch, now)
    return done
