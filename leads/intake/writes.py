"""Intake: leads and activities arriving from integrations (JSON API) and CSV imports.

Both entry points share one definition of what a field may hold (``clean_lead_field`` and
``clean_activity_field``, built from the agreement's vocabulary in ``alignment.spec``) and two
set-based services:

* ``leads_upsert(rows=…)`` creates or updates many leads by e-mail (case-insensitive) and
  attaches each to its account by web domain, creating accounts as needed. A handful of
  statements per call whatever the number of rows; race-safe because new leads are written
  with ``INSERT … ON CONFLICT DO NOTHING RETURNING`` against the unique index on
  ``lower(email)`` — whoever loses the race updates the winner's row instead. Every new lead
  starts in stage ``new`` with its first ``Transition`` in the same transaction.
* ``activities_ingest(items=…)`` stores a batch of activities once each (``external_id`` is
  unique; retries and duplicates inside one batch are counted, not stored), creating leads
  for unknown e-mail addresses.

Touched leads get a rescore request in the same transaction (``Lead.rescore_requested_at``, written
with the row write each makes anyway, and by ``leads.scoring.rescoring.rescore_leads_later``), which
also wakes a worker once it commits.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import secrets
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection, transaction
from django.db.models import Model
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from alignment import spec as vocab
from alignment.models import AgreementVersion
from leads.bulk import SQL_CHUNK, batches, insert_rows
from leads.lifecycle import ENTER, HISTORY, new_lead_team_id, transitions_add
from leads.models import API_SCOPES, Account, Activity, ApiToken, Lead, hash_token
from leads.scoring.rescoring import requested_since, rescore_leads_later
from leads.scoring.scorer import ACCOUNT_FACTS_ON_LEAD
from leads.sql import Fragment, column, join, run, sql, table

# --- What a field may hold ---------------------------------------------------------------------

# Lead columns an integration or a CSV may set (besides ``email``), written as given.
LEAD_TEXT_FIELDS = ("first_name", "last_name", "job_title", "phone", "campaign")
LEAD_CHOICE_FIELDS = ("seniority", "department", "source", "budget", "authority", "need", "timeline")
LEAD_FIELDS = LEAD_TEXT_FIELDS + LEAD_CHOICE_FIELDS
# Facts about the company, kept on the account found (or created) by web domain.
ACCOUNT_FIELDS = ("company", "domain", "industry", "employees", "annual_revenue", "country")
ACCOUNT_FACTS = ("industry", "employees", "annual_revenue", "country")
# Longest text each field takes: the columns' own limits, so the two cannot drift apart.
MAX_LENGTHS = {
    **{
        name: Lead._meta.get_field(name).max_length
        for name in ("email", "first_name", "last_name", "job_title", "phone", "campaign")
    },
    "company": Account._meta.get_field("name").max_length,
    "domain": Account._meta.get_field("domain").max_length,
    "external_id": Activity._meta.get_field("external_id").max_length,
}
LABELS = {
    "email": "E-mail",
    "first_name": "First name",
    "last_name": "Last name",
    "job_title": "Job title",
    "phone": "Phone",
    "campaign": "Campaign",
    "company": "Company",
    "domain": "Web domain",
    "employees": "Employee count",
    "annual_revenue": "Annual revenue (USD)",
    "kind": "Activity kind",
    "occurred_at": "Activity date",
    "external_id": "Activity id",
    **{key: vocab.FIELDS[key].label for key in ("industry", "country", *LEAD_CHOICE_FIELDS)},
}
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "seniority": vocab.SENIORITIES,
    "department": vocab.DEPARTMENTS,
    "source": vocab.SOURCES,
    "budget": vocab.BUDGET,
    "authority": vocab.AUTHORITY,
    "need": vocab.NEED,
    "timeline": vocab.TIMELINE,
    "industry": tuple((name, name) for name in vocab.INDUSTRIES),
    "country": tuple((code, name) for code, (name, _) in vocab.COUNTRIES.items()),
    "kind": vocab.ACTIVITY_KINDS,
}
# Spellings people type that are neither the code nor the label.
_CHOICE_ALIASES = {
    "country": {"uk": "GB", "great britain": "GB", "england": "GB", "usa": "US", "u s a": "US", "u s": "US"},
    "seniority": {"c level": "c_level", "cxo": "c_level", "ic": "individual", "vice president": "vp"},
}
# Activities dated this far ahead of the server clock are refused (clock skew is tolerated).
FUTURE_TOLERANCE = dt.timedelta(minutes=10)
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_NUMBER_RE = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<suffix>k|m|mm|bn|b)?$")
_SUFFIX = {None: 1, "k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}


class FieldError(ValueError):
    """A value a person can fix; the message says what is wrong and what is allowed."""


def ensure_storable(value: Any) -> Any:
    """Refuse text the database cannot store (NUL characters, unpaired surrogates), nested or not."""
    if isinstance(value, str):
        if "\x00" in value:
            raise FieldError("Text may not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError("Text is not valid Unicode (unpaired surrogate).") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            ensure_storable(key)
            ensure_storable(item)
    elif isinstance(value, list | tuple):
        for item in value:
            ensure_storable(item)
    return value


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-./]+", " ", text.strip().lower()).strip()


_CHOICE_LOOKUP: dict[str, dict[str, str]] = {
    name: {
        **{_fold(code): code for code, _ in choices},
        **{_fold(label): code for code, label in choices},
        **_CHOICE_ALIASES.get(name, {}),
    }
    for name, choices in CHOICES.items()
}


def normalize_choice(name: str, value: Any) -> Any:
    """Map a code or label in any case ("VP", "Vice President", "c-level") to the code; else unchanged."""
    if isinstance(value, str):
        return _CHOICE_LOOKUP[name].get(_fold(value), value)
    return value


def choice_codes(name: str) -> tuple[str, ...]:
    return tuple(code for code, _ in CHOICES[name])


@functools.lru_cache(maxsize=8192)
def _clean_choice(name: str, value: str) -> str:
    # Cached: an import repeats the same few spellings ("VP", "Software") on every row.
    code = normalize_choice(name, value)
    if code in _CHOICE_LOOKUP[name].values():
        return code
    if name == "country":
        raise FieldError(f'"{value}" is not a supported country: use a two-letter ISO code such as GB, US or DE.')
    shown = ", ".join(label for _, label in CHOICES[name])
    raise FieldError(f'"{value}" is not a known {LABELS[name].lower()}; use one of: {shown}.')


# Plain ASCII addresses whose every label is an ordinary LDH label (no "--" in third and fourth place,
# so neither punycode nor anything IDNA refuses), under a top-level domain that is not special-use:
# a strict subset of what email-validator accepts, checked without it (ten times faster on the hot
# path). tests/leads/test_email_rule.py holds the two to agreement.
_PLAIN_EMAIL_RE = re.compile(
    r"^(?=[^@]{1,64}@)[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:(?![a-z0-9]{2}--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z",
    re.IGNORECASE,
)


def clean_email(value: str) -> str:
    """The one rule for an e-mail address (API, CSV import, demo): RFC 5321 syntax and RFC 6531
    internationalised addresses (``niamh.müller@example.ie``, ``josé@bücher.de``), as the maintained
    ``email-validator`` reads them, without asking DNS. Returns the address with its domain in lower
    case (Unicode, NFC), the local part as given."""
    email = ensure_storable(value).strip()
    if len(email) > MAX_LENGTHS["email"]:
        raise FieldError(f"An e-mail address has at most {MAX_LENGTHS['email']} characters.")
    if _PLAIN_EMAIL_RE.match(email) and email.rpartition(".")[2].lower() not in SPECIAL_USE_DOMAIN_NAMES:
        local, _, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise FieldError(f'"{email}" is not a valid e-mail address: {exc}') from None
    return checked.normalized


def clean_domain(value: str) -> str:
    """``https://www.Example.com/about`` → ``example.com``."""
    host = value.strip().lower()
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host).split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.").rstrip(".")
    if not _DOMAIN_RE.match(host):
        raise FieldError(f'"{value}" is not a web domain such as example.com.')
    return host


# What the columns hold (employees: a PostgreSQL integer; revenue: a bigint), for every intake path.
WHOLE_NUMBER_MAX = {"employees": 2_000_000_000, "annual_revenue": 9_000_000_000_000_000}


def clean_whole_number(name: str, value: Any) -> int:
    """Whole numbers as people write them: 1200, "1,200", "1 200", "$1.2M", "15k"."""
    if isinstance(value, bool):
        raise FieldError(f"{LABELS[name]} must be a whole number.")
    if isinstance(value, int):
        number = value
    else:
        text = re.sub(r"[\s,$€£]", "", str(value)).lower()
        match = _NUMBER_RE.match(text)
        if not match:
            raise FieldError(f'{LABELS[name]} "{value}" is not a whole number (e.g. 1200 or 1.2M).')
        try:
            number = Decimal(match["number"]) * _SUFFIX[match["suffix"]]
        except InvalidOperation:
            raise FieldError(f'{LABELS[name]} "{value}" is not a whole number.') from None
        if number != number.to_integral_value():
            raise FieldError(f'{LABELS[name]} "{value}" is not a whole number.')
        number = int(number)
    if number < 0:
        raise FieldError(f"{LABELS[name]} cannot be negative.")
    if number > WHOLE_NUMBER_MAX[name]:
        raise FieldError(f"{LABELS[name]} is too large.")
    return number


def parse_moment(value: Any) -> dt.datetime:
    """ISO 8601 date or date-time text, as UTC; without a time zone it is read as UTC."""
    problem = f'"{value}" is not a date: use ISO 8601, e.g. 2026-03-31 or 2026-03-31T14:05:00Z.'
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = parse_datetime(text) if len(text) > 10 else None
            if moment is None:
                day = parse_date(text) if len(text) == 10 else None
                if day is None:
                    raise FieldError(problem)
                moment = dt.datetime.combine(day, dt.time())
        except ValueError:
            raise FieldError(problem) from None
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=dt.UTC)
    try:
        # PostgreSQL refuses offsets beyond ±15:59 that Python accepts: store UTC.
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise FieldError(problem) from None


def clean_occurred_at(value: Any, now: dt.datetime | None = None) -> dt.datetime:
    """When an activity happened: ``parse_moment``, and not in the future."""
    moment = parse_moment(value)
    if moment > (now or timezone.now()) + FUTURE_TOLERANCE:
        raise FieldError("The activity date is in the future.")
    return moment


def clean_text(name: str, value: Any) -> str:
    text = ensure_storable(str(value)).strip()
    limit = MAX_LENGTHS.get(name)
    if limit and len(text) > limit:
        raise FieldError(f"{LABELS[name]} has {len(text)} characters; at most {limit} fit.")
    return text


def clean_lead_field(name: str, value: Any) -> Any:
    """One lead or account field, cleaned for storage; ``FieldError`` explains a bad value."""
    if name == "email":
        return clean_email(str(value))
    if name == "domain":
        return clean_domain(str(value))
    if name in ("employees", "annual_revenue"):
        return clean_whole_number(name, value)
    if name in CHOICES:
        return _clean_choice(name, str(value))
    return clean_text(name, value)


def clean_activity_field(name: str, value: Any, now: dt.datetime | None = None) -> Any:
    if name == "kind":
        return _clean_choice("kind", str(value))
    if name == "occurred_at":
        return clean_occurred_at(value, now)
    return clean_text(name, value)


def account_name_from_domain(domain: str) -> str:
    """``acme-robotics.co.uk`` → "Acme Robotics" (until someone tells us the real name)."""
    return domain.split(".", 1)[0].replace("-", " ").title()


def country_regions() -> dict[str, str]:
    """Region per ISO country code, as the data dictionary says (editable on the Data page)."""
    from alignment.models import Country

    regions = dict(Country.objects.values_list("code", "region"))
    return regions or {code: region for code, (_, region) in vocab.COUNTRIES.items()}


def domain_of(row: Mapping[str, Any]) -> str | None:
    """The account domain of a lead row: the given domain, else the e-mail's unless it is a free mailbox."""
    if row.get("domain"):
        return row["domain"]
    email_domain = row["email"].rpartition("@")[2].lower()
    return None if email_domain in vocab.FREE_EMAIL_DOMAINS else email_domain


# --- Set-based SQL helpers (PostgreSQL and SQLite alike) ----------------------------------------


def _update_from_values(model: type[Model], rows: Sequence[tuple], columns: Sequence[tuple[str, str | None]], **fixed):
    """One ``UPDATE … FROM (VALUES …)`` per chunk, rows found by primary key: ``rows`` are
    ``(id, value, …)``; NULL keeps the stored value.

    ``columns`` names each value's model field and its SQL cast (needed where a VALUES column
    may hold only NULLs, which PostgreSQL would otherwise type as text). ``fixed`` are set on
    every row (``updated_at=now``).
    """
    if not rows:
        return
    target = table(model)
    # Casts are type names written in this module, never input.
    casts = [Fragment("bigint"), *(Fragment(cast) if cast else None for _, cast in columns)]
    assignments = [
        sql(
            "{col} = COALESCE({value}, {target}.{col})",
            col=column(model, name),
            value=Fragment(f"v.column{i + 2}"),
            target=target,
        )
        for i, (name, _) in enumerate(columns)
    ]
    for name, value in fixed.items():
        f = model._meta.get_field(name)
        assignments.append(sql("{col} = {value}", col=column(model, name), value=f.get_db_prep_save(value, connection)))
    for chunk in batches(rows, max(1, min(SQL_CHUNK, 30_000 // (len(columns) + 1)))):
        values = join(
            ", ",
            [
                sql(
                    "({cells})",
                    cells=join(
                        ", ",
                        [
                            sql("CAST({v} AS {t})", v=value, t=cast) if cast is not None else sql("{v}", v=value)
                            for value, cast in zip(row, casts, strict=True)
                        ],
                    ),
                )
                for row in chunk
            ],
        )
        run(
            sql(
                "UPDATE {target} SET {assignments} FROM (VALUES {values}) AS v WHERE {target}.{pk} = v.column1",
                target=target,
                assignments=join(", ", assignments),
                values=values,
                pk=column(model, model._meta.pk.name),
            ),
            fetch=False,
        )


# --- Leads ----------------------------------------------------------------------------------


@dataclass
class UpsertResult:
    """Lead id per lower-case e-mail, and which of those leads this call created or changed."""

    ids: dict[str, int] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    updated: set[int] = field(default_factory=set)

    @property
    def touched(self) -> set[int]:
        return self.created | self.updated


def _merge_by_email(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One row per lead; a later row's values win, a missing or None value never erases one."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["email"].lower()
        target = merged.setdefault(key, {"email": row["email"]})
        for name, value in row.items():
            if name in ("attributes", "account_attributes") and value:
                target.setdefault(name, {}).update(value)  # a None inside clears that attribute
            elif value is not None and name != "email":
                target[name] = value
    return merged


def _accounts_upsert(merged: Mapping[str, Mapping[str, Any]], now: dt.datetime) -> dict[str, int]:
    """Account id per domain for these rows: existing accounts get the facts given, missing ones are created."""
    facts: dict[str, dict[str, Any]] = {}
    for row in merged.values():
        domain = domain_of(row)
        if domain:
            entry = facts.setdefault(domain, {})
            entry.update({k: row[k] for k in ACCOUNT_FIELDS if row.get(k) is not None and k != "domain"})
            if row.get("account_attributes"):
                entry.setdefault("account_attributes", {}).update(row["account_attributes"])
    if not facts:
        return {}
    regions = country_regions() if any(values.get("country") for values in facts.values()) else {}
    stored = {
        row[0]: row[1:]
        for row in Account.objects.filter(domain__in=list(facts)).values_list("domain", "id", *ACCOUNT_FACTS)
    }
    ids = {domain: values[0] for domain, values in stored.items()}
    new = [
        {
            "domain": domain,
            "name": values.get("company") or account_name_from_domain(domain),
            "industry": values.get("industry", ""),
            "employees": values.get("employees"),
            "annual_revenue": values.get("annual_revenue"),
            "country": values.get("country", ""),
            "region": regions.get(values.get("country", ""), ""),
            "attributes": values.get("account_attributes") or {},
        }
        for domain, values in sorted(facts.items())
        if domain not in ids
    ]
    # Rows go in key order (domain here, e-mail and id below): two imports that share keys then
    # wait for each other on the first shared one instead of deadlocking on two.
    inserted = dict(insert_rows(Account, new, now=now, returning=("domain", "id")))
    if len(inserted) < len(new):  # another request created some of them meanwhile
        missing = [a["domain"] for a in new if a["domain"] not in inserted]
        inserted.update(Account.objects.filter(domain__in=missing).values_list("domain", "id"))
    # Facts for accounts that already existed, where they change; the name stays the first one given.
    changes = []
    for domain, values in facts.items():
        if domain not in stored:
            continue
        given = tuple(values.get(k) for k in ACCOUNT_FACTS)
        if all(new is None or new == old for new, old in zip(given, stored[domain][1:], strict=True)):
            continue
        region = regions.get(values["country"], "") if values.get("country") else None
        changes.append((ids[domain], *given, region))
    _update_from_values(
        Account,
        sorted(changes),
        [
            ("industry", None),
            ("employees", "integer"),
            ("annual_revenue", "bigint"),
            ("country", None),
            ("region", None),
        ],
    )
    _attributes_patch(
        Account,
        sorted(
            (ids[d], v["account_attributes"]) for d, v in facts.items() if d in stored and v.get("account_attributes")
        ),
    )
    return {**ids, **inserted}


def _attributes_patch(model: type[Model], patches: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
    """Merge ``{key: value}`` into each row's ``attributes`` JSON; a None value removes the key.

    One ``UPDATE … FROM (VALUES …)`` per chunk on PostgreSQL (``||`` then ``-``); SQLite's
    ``json_patch`` has exactly these semantics (RFC 7396), one statement per row.
    """
    target, attributes = table(model), column(model, "attributes")
    pk = column(model, model._meta.pk.name)
    if connection.vendor != "postgresql":
        for row_id, patch in patches:
            run(
                sql(
                    "UPDATE {t} SET {a} = json_patch({a}, {patch}) WHERE {pk} = {id}",
                    t=target,
                    a=attributes,
                    patch=json.dumps(dict(patch)),
                    pk=pk,
                    id=row_id,
                ),
                fetch=False,
            )
        return
    for chunk in batches(list(patches), SQL_CHUNK):
        values = join(
            ", ",
            [
                sql(
                    "(CAST({id} AS bigint), CAST({keep} AS jsonb), CAST({drop} AS text[]))",
                    id=row_id,
                    keep=json.dumps({k: v for k, v in patch.items() if v is not None}),
                    drop=[k for k, v in patch.items() if v is None],
                )
                for row_id, patch in chunk
            ],
        )
        run(
            sql(
                "UPDATE {t} AS x SET {a} = (x.{a} || v.patch) - v.drop "
                "FROM (VALUES {values}) AS v(id, patch, drop) WHERE x.{pk} = v.id",
                t=target,
                a=attributes,
                values=values,
                pk=pk,
            ),
            fetch=False,
        )


# Lead columns besides LEAD_FIELDS that intake sets: the lead's own country, its id in the source system.
LEAD_IDENTITY_FIELDS = ("country", "external_id")
_STORED = ("id", "account_id", *LEAD_FIELDS, *LEAD_IDENTITY_FIELDS, "attributes")


def _unchanged(row: Mapping[str, Any], stored: Sequence[Any]) -> bool:
    """Does ``row`` say nothing new about the lead stored as ``stored`` (``_STORED`` minus id and account)?"""
    *columns, attributes = stored
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    names = (*LEAD_FIELDS, *LEAD_IDENTITY_FIELDS)
    if not all(row.get(name) is None or row[name] == old for name, old in zip(names, columns, strict=True)):
        return False
    return all((attributes or {}).get(k) == v for k, v in (row.get("attributes") or {}).items())


def _has_account_facts(row: Mapping[str, Any]) -> bool:
    return any(row.get(k) is not None for k in ACCOUNT_FIELDS) or bool(row.get("account_attributes"))


def _leads_by_email(keys: Sequence[str], names: Sequence[str]) -> list[tuple]:
    """``(lower(email), *names)`` of the leads with these lower-case e-mails: one query, any number of keys.

    On PostgreSQL one array parameter (``= ANY``) on the ``lower(email)`` unique index
    (``lead_email_ci_unique``); Django's ``IN`` would send, quote and parse one parameter per address.
    """
    if not keys:
        return []
    if connection.vendor != "postgresql":
        found: list[tuple] = []
        for chunk in batches(keys, SQL_CHUNK):
            found.extend(
                Lead.objects.annotate(email_ci=Lower("email"))
                .filter(email_ci__in=chunk)
                .values_list("email_ci", *names)
            )
        return found
    return run(
        sql(
            "SELECT lower({email}), {columns} FROM {lead} WHERE lower({email}) = ANY({keys}::text[])",
            email=column(Lead, "email"),
            columns=join(", ", [column(Lead, name) for name in names]),
            lead=table(Lead),
            keys=list(keys),
        )
    )


def leads_write(
    rows: Iterable[Mapping[str, Any]], now: dt.datetime, defaults: Mapping[str, Any] | None = None
) -> UpsertResult:
    """``leads_upsert`` without queuing the rescore, inside the caller's transaction: for callers
    that write more (activities) and queue one rescore for everything they touched."""
    merged = _merge_by_email(rows)
    result = UpsertResult()
    if not merged:
        return result
    for row in merged.values():
        # Company facts with no account to hold them (a free-mail address, no domain) stay on the lead.
        kept = {k: row[k] for k in ACCOUNT_FACTS_ON_LEAD if row.get(k) is not None} if not domain_of(row) else {}
        if kept:
            row["attributes"] = {**row.get("attributes", {}), **kept}
    stored = {row[0]: row[1:] for row in _leads_by_email(list(merged), _STORED)}
    regions = country_regions() if any(row.get("country") for row in merged.values()) else {}
    existing = {key: values[0] for key, values in stored.items()}
    # Accounts for new leads, and for known leads only when the row says something about the company.
    account_ids = _accounts_upsert(
        {key: row for key, row in merged.items() if key not in existing or _has_account_facts(row)}, now
    )
    team_id = new_lead_team_id()
    new_leads = []
    for key, row in sorted(merged.items()):
        if key in existing:
            continue
        domain = domain_of(row)
        new_leads.append(
            {
                "email": row["email"],
                "email_domain": row["email"].rpartition("@")[2].lower(),
                "account_id": account_ids.get(domain) if domain else None,
                "team_id": team_id,
                "stage": ENTER.to_stage,
                "created_at": row.get("created_at") or now,
                "updated_at": now,
                "rescore_requested_at": now,  # a new lead waits for its first score
                **{name: row.get(name, (defaults or {}).get(name, "")) for name in LEAD_FIELDS},
                # Facts about the lead itself stay on it, with or without an account (free mail).
                "country": row.get("country", ""),
                "region": regions.get(row.get("country", ""), ""),
                "external_id": row.get("external_id"),
                "attributes": {k: v for k, v in (row.get("attributes") or {}).items() if v is not None},
            }
        )
    inserted = insert_rows(Lead, new_leads, now=now, returning=("email", "id"))
    created_at: dict[int, dt.datetime] = {}
    for email, lead_id in inserted:
        result.created.add(lead_id)
        existing[email.lower()] = lead_id
        created_at[lead_id] = merged[email.lower()].get("created_at") or now
    if len(inserted) < len(new_leads):  # lost a race: the other request's lead is the one to update
        lost = [lead["email"].lower() for lead in new_leads if lead["email"].lower() not in existing]
        existing.update(_leads_by_email(lost, ("id",)))
    result.ids = existing
    if result.created:
        version_id = (
            AgreementVersion.objects.filter(status=AgreementVersion.Status.ACTIVE).values_list("id", flat=True).first()
        )
        transitions_add(
            [
                {
                    "lead_id": lead_id,
                    "from_stage": "",
                    "to_stage": ENTER.to_stage,
                    "at": created_at[lead_id],
                    "agreement_version_id": version_id,
                }
                for lead_id in sorted(result.created)
            ]
        )
    _history_write(merged, existing, result, now)
    changes, patches = [], []
    for key, row in merged.items():
        lead_id = existing[key]
        if lead_id in result.created:
            continue
        domain = domain_of(row) if _has_account_facts(row) else None
        account_id = account_ids.get(domain) if domain else None
        before = stored.get(key)
        if before is not None and _unchanged(row, before[2:]) and account_id in (None, before[1]):
            continue  # nothing new: no write, updated_at stays (re-importing a file changes nothing)
        country = row.get("country")
        changes.append(
            (
                lead_id,
                *(row.get(name) for name in LEAD_FIELDS),
                country,
                regions.get(country, "") if country else None,
                row.get("external_id"),
                account_id,
            )
        )
        if row.get("attributes"):
            patches.append((lead_id, row["attributes"]))
        result.updated.add(lead_id)
    changes.sort()
    columns = [*((name, None) for name in LEAD_FIELDS), ("country", None), ("region", None), ("external_id", None)]
    _update_from_values(Lead, changes, [*columns, ("account", "bigint")], updated_at=now)
    _attributes_patch(Lead, sorted(patches))
    return result


def _history_write(
    merged: Mapping[str, Mapping[str, Any]], ids: Mapping[str, int], result: UpsertResult, now: dt.datetime
) -> None:
    """The dated steps of past leads (``history``, checked by ``leads.intake.history``), as historical moves.

    A lead takes a history when this write created it, or when it is still untouched (stage New,
    no move yet); a lead that already has one keeps it, so importing the same file twice changes
    nothing. Its stage becomes the last step's, as the log says.
    """
    paths = {ids[key]: row["history"] for key, row in merged.items() if row.get("history")}
    if not paths:
        return
    untouched = set(
        Lead.objects.filter(pk__in=[pk for pk in paths if pk not in result.created], stage=ENTER.to_stage)
        .exclude(transitions__from_stage__gt="")
        .values_list("pk", flat=True)
    )
    rows, stages = [], []
    for lead_id in sorted(paths):
        if lead_id not in result.created and lead_id not in untouched:
            continue
        previous = ENTER.to_stage
        for step in paths[lead_id]:
            rows.append({"lead_id": lead_id, "from_stage": previous, "to_stage": step.stage, "at": step.at})
            previous = step.stage
        stages.append((lead_id, previous))
        result.updated.discard(lead_id)
    if not rows:
        return
    transitions_add(rows, by=HISTORY, historical=True)
    _update_from_values(Lead, stages, [("stage", None)], updated_at=now)


def leads_upsert(
    *, rows: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any] | None = None, now: dt.datetime | None = None
) -> UpsertResult:
    """Create or update leads by e-mail (case-insensitive) from cleaned rows; rescored after commit.

    A row holds ``email`` and any of ``LEAD_FIELDS`` and ``ACCOUNT_FIELDS``; a missing or None
    value keeps what is stored. Several rows for one e-mail merge, later values winning.
    ``defaults`` fill lead fields of new leads that the row leaves empty (``source="import"``).
    """
    now = now or timezone.now()
    with transaction.atomic():
        result = leads_write(rows, now, defaults)
        rescore_leads_later(result.touched, marked_by_write=result.created)  # once this transaction commits
    return result


def lead_upsert(*, data: Mapping[str, Any], now: dt.datetime | None = None) -> tuple[Lead, bool]:
    """Create or update one lead by e-mail; returns the lead and whether it was created."""
    result = leads_upsert(rows=[data], now=now)
    lead_id = result.ids[data["email"].lower()]
    lead = Lead.objects.get(pk=lead_id)  # after the commit: with eager Celery, already rescored
    return lead, lead_id in result.created


# --- Activities -----------------------------------------------------------------------------


def store_activities(
    *, rows: Sequence[Mapping[str, Any]], now: dt.datetime, stamped: Collection[int] = ()
) -> tuple[int, int, set[int]]:
    """Insert activities once each: (stored, duplicates, ids of leads that got one). Call inside a transaction.

    ``rows`` are dicts with ``lead_id``, ``kind``, ``occurred_at`` and optionally ``external_id``
    and ``details``; ``stamped`` are leads whose ``updated_at`` this transaction already set.

    An ``external_id`` already stored, or repeated earlier in ``rows``, is a duplicate. The leads
    that got activities have their ``updated_at`` bumped (API clients poll ``?updated_since=``) and
    a rescore request recorded.
    """
    seen: set[str] = set()
    unique: list[Mapping[str, Any]] = []
    for row in rows:
        external_id = row.get("external_id")
        if external_id is not None:
            if external_id in seen:
                continue
            seen.add(external_id)
        unique.append(row)
    # External ids in order, so two overlapping batches cannot deadlock on the unique index.
    unique.sort(key=lambda row: row.get("external_id") or "")
    inserted = insert_rows(Activity, unique, now=now, returning=("lead",))
    touched = {lead_id for (lead_id,) in inserted}
    for chunk in batches(sorted(touched.difference(stamped)), SQL_CHUNK):
        # The rescore request rides on the same row write (``rescore_request`` then finds it made).
        # A lead already stamped at this moment and waiting for a rescore (written by an earlier
        # call with the same ``now``, e.g. a history import's leads) would not change: no new row
        # version for it.
        Lead.objects.filter(pk__in=chunk).exclude(updated_at=now, rescore_requested_at__isnull=False).update(
            updated_at=now, rescore_requested_at=requested_since(now)
        )
    return len(inserted), len(rows) - len(inserted), touched


@dataclass(frozen=True)
class ActivityItem:
    """One cleaned activity of a batch; ``index`` is its position in what the client sent."""

    index: int
    kind: str
    occurred_at: dt.datetime
    email: str | None = None
    lead_id: int | None = None
    external_id: str | None = None
    details: dict = field(default_factory=dict)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)


def activities_ingest(*, items: Sequence[ActivityItem], now: dt.datetime | None = None) -> IngestResult:
    """Store a batch of activities once each; unknown e-mails become new leads; touched leads are rescored.

    An activity whose ``external_id`` is already stored, or appears earlier in the same batch,
    counts as a duplicate. Items naming a lead id that does not exist are rejected by index.
    """
    now = now or timezone.now()
    result = IngestResult()
    with transaction.atomic():
        emails = {item.email.lower(): item.email for item in items if item.email and item.lead_id is None}
        upserted = leads_write([{"email": email} for email in emails.values()], now)
        wanted_ids = {item.lead_id for item in items if item.lead_id is not None}
        lead_emails = dict(Lead.objects.filter(pk__in=wanted_ids).values_list("id", "email")) if wanted_ids else {}
        rows: list[dict] = []
        for item in items:
            if item.lead_id is not None:
                if item.lead_id not in lead_emails:
                    result.rejected.append(
                        {"index": item.index, "errors": {"lead_id": [f"No lead has id {item.lead_id}."]}}
                    )
                    continue
                if item.email and item.email.lower() != lead_emails[item.lead_id].lower():
                    result.rejected.append(
                        {"index": item.index, "errors": {"email": [f"Lead {item.lead_id} has another e-mail address."]}}
                    )
                    continue
                lead_id = item.lead_id
            else:
                lead_id = upserted.ids[item.email.lower()]
            rows.append(
                {
                    "lead_id": lead_id,
                    "kind": item.kind,
                    "occurred_at": item.occurred_at,
                    "external_id": item.external_id,
                    "details": item.details or {},
                    "created_at": now,
                }
            )
        result.accepted, result.duplicates, touched = store_activities(rows=rows, now=now, stamped=upserted.created)
        rescore_leads_later(touched | upserted.created, marked_by_write=upserted.created)  # after commit
    return result


# --- API tokens -----------------------------------------------------------------------------

TOKEN_PREFIX = "acc_"  # noqa: S105 - a marker that makes leaked keys recognisable, not a secret


def api_token_key(token: ApiToken) -> str:
    """Give an unsaved token a fresh key: sets ``prefix`` and ``key_hash``, returns the raw key (shown once)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token.prefix, token.key_hash = raw[:12], hash_token(raw)
    return raw


def api_token_create(*, name: str, created_by=None, scopes: Sequence[str] | None = None) -> tuple[ApiToken, str]:
    """A new token for a named integration (every scope unless ``scopes`` says otherwise): returns
    the row and the raw key, which is never stored."""
    name = name.strip()
    if not name:
        raise FieldError("Name the integration the token is for.")
    scopes = list(API_SCOPES) if scopes is None else list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown:
        raise FieldError(f"Unknown scope {', '.join(unknown)}; scopes are {', '.join(API_SCOPES)}.")
    token = ApiToken(name=name, created_by=created_by, scopes=scopes)
    raw = api_token_key(token)
    token.save()
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The live token for this key, or None; ``last_used_at`` is refreshed at most once a minute."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.filter(key_hash=hash_token(raw), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
