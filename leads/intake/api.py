"""The integration API (django-ninja): ``/api/v1/…``, OpenAPI docs at ``/api/docs``.

Marketing automation, web forms and event scanners push leads and activities here with a bearer
token (``ApiToken``; ``manage.py create_api_token NAME`` or the admin). Every error is JSON with
a ``detail`` sentence; invalid bodies answer 422 with ``errors`` naming each field.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, Literal

import pydantic
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import ConfigDict, StrictBool, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from alignment import dictionary_services as data_dictionary
from alignment.dictionary import TYPES, Dictionary, builtin_dictionary, load_dictionary
from alignment.models import AgreementVersion, Attribute, Persona
from leads.inbox.followup import AttemptTimeError, attempt_log, may_log_attempt
from leads.inbox.services import LeadError
from leads.intake import writes as intake
from leads.intake.attributes import ValueRefused, clean_attributes, clean_builtin_choice
from leads.intake.history import HistoryError, clean_created_at, clean_history
from leads.intake.identity import resolve_identities
from leads.lifecycle import HISTORY_STAGES
from leads.models import API_SCOPES, FollowUpAttempt, Lead, Stage
from leads.scoring.insights_api import router as insights_router
from leads.scoring.scorer import explain

MAX_BATCH = 1000
MAX_PAGE = 500

# --- Errors ---------------------------------------------------------------------------------

_LOCATION_PARTS = {"body", "query", "path", "header", "cookie", "payload", "filters"}


def field_errors(errors: list[dict]) -> dict[str, list[str]]:
    """Pydantic/ninja errors as ``{"field": ["message", …]}``; nested fields joined with dots."""
    out: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        while loc and loc[0] in _LOCATION_PARTS:
            loc.pop(0)
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        out.setdefault(".".join(loc) or "body", []).append(message)
    return out


def _invalid(request: HttpRequest, errors: dict[str, list[str]]) -> HttpResponse:
    names = ", ".join(errors)
    detail = f"Invalid {'field' if len(errors) == 1 else 'fields'}: {names}."
    return api.create_response(request, {"detail": detail, "errors": errors}, status=422)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        return intake.api_token_authenticate(token.strip())


def _require(request: HttpRequest, scope: str) -> None:
    """403 unless the request's token carries ``scope``."""
    if not request.auth.allows(scope):
        raise HttpError(403, f"This API token lacks the scope {scope}; create one with --scopes {scope}.")


api = NinjaAPI(
    title="Accord API",
    version="1",
    description=(
        "Push leads and activities into Accord. Authenticate with `Authorization: Bearer <token>`; "
        "tokens are created in the admin or with `python manage.py create_api_token NAME`. "
        "Errors are JSON with a `detail` sentence; invalid bodies answer 422 with `errors` per field. "
        f"Tokens carry scopes ({', '.join(API_SCOPES)}); a token without the scope an endpoint needs gets 403."
    ),
    urls_namespace="api",
    docs_url="/docs",
    auth=TokenAuth(),
)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _invalid(request, field_errors(exc.errors))


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(
        request,
        {"detail": "Missing, unknown or revoked API token. Send the header: Authorization: Bearer <token>."},
        status=401,
    )
    response["WWW-Authenticate"] = 'Bearer realm="accord"'
    return response


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _request_too_large(request)


def _request_too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(
        request,
        {"detail": f"The request body is larger than {limit:,} bytes. Send smaller batches."},
        status=413,
    )


class Error(Schema):
    detail: str


class InvalidFields(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(description="Messages per field name (nested fields joined with dots).")


# --- Schemas --------------------------------------------------------------------------------


def _custom(exc: intake.FieldError) -> PydanticCustomError:
    return PydanticCustomError("invalid_value", str(exc))


def _checked(clean, value: Any) -> Any:
    """Run one of ``leads.intake.writes``'s cleaners; its message becomes the field's error."""
    try:
        return clean(value)
    except intake.FieldError as exc:
        raise _custom(exc) from None


class StrictIn(pydantic.BaseModel):
    # Plain pydantic models: ninja's Schema adds a resolver pass per object, which costs ~40 % on
    # a 1,000-activity batch.
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return _checked(intake.ensure_storable, value)


_MAX = intake.MAX_LENGTHS  # the columns' limits, shared with the CSV import


def _iso_text_only(value: Any) -> Any:
    """Dates arrive as ISO 8601 text: pydantic would also read a bare number as a Unix time."""
    if value is not None and not isinstance(value, str | dt.datetime):
        raise PydanticCustomError("datetime_type", "Give the date as an ISO 8601 string.")
    return value


class HistoryStepIn(StrictIn):
    stage: str = Field(description="One of " + ", ".join(HISTORY_STAGES) + ".", examples=["won"])
    at: dt.datetime = Field(description="When the lead reached it (ISO 8601, not in the future).")

    @field_validator("at", mode="before")
    @classmethod
    def _at_iso_text(cls, value: Any) -> Any:
        return _iso_text_only(value)


def _dictionary(info: ValidationInfo) -> Dictionary:
    """The organisation's dictionary the endpoint loaded once for the whole request."""
    return (info.context or {}).get("dictionary") or builtin_dictionary()


def _dictionary_choice(value: Any, info: ValidationInfo) -> Any:
    try:
        return clean_builtin_choice(info.field_name, value, _dictionary(info))
    except ValueRefused as exc:
        raise PydanticCustomError("invalid_value", str(exc)) from None


class LeadIn(StrictIn):
    """A lead to create or update, named by ``email`` (case-insensitive) or ``external_id``. Fields left
    out keep their value. Choice fields take a value, its label or an alias from the data dictionary
    (``GET /api/v1/attributes``); ``attributes`` holds the organisation's own attributes by key."""

    email: str | None = Field(None, max_length=_MAX["email"], examples=["ada.lovelace@example.com"])
    external_id: str | None = Field(
        None, min_length=1, max_length=200, description="The lead's id in your system (unique); names the lead."
    )
    first_name: str | None = Field(None, max_length=_MAX["first_name"])
    last_name: str | None = Field(None, max_length=_MAX["last_name"])
    job_title: str | None = Field(None, max_length=_MAX["job_title"])
    seniority: str | None = None
    department: str | None = None
    phone: str | None = Field(None, max_length=_MAX["phone"])
    company: str | None = Field(
        None, max_length=_MAX["company"], description="Account name (used when the account is new)."
    )
    domain: str | None = Field(
        None,
        max_length=_MAX["domain"],
        description="Company web domain; defaults to the e-mail's unless it is a free mailbox.",
    )
    industry: str | None = None
    employees: int | None = Field(None, ge=0, le=intake.WHOLE_NUMBER_MAX["employees"], strict=True)
    annual_revenue: int | None = Field(
        None, ge=0, le=intake.WHOLE_NUMBER_MAX["annual_revenue"], strict=True, description="USD per year"
    )
    country: str | None = Field(
        None, description="ISO 3166-1 alpha-2 code or English name; kept on the lead, and on its account"
    )
    source: str | None = None
    campaign: str | None = Field(None, max_length=_MAX["campaign"])
    budget: str | None = None
    authority: str | None = None
    need: str | None = None
    timeline: str | None = None
    attributes: dict[str, Any] | None = Field(
        None,
        description="The organisation's own lead and account attributes by key; null clears one.",
        examples=[{"lead_origin": "Google", "time_on_site": 2.5}],
    )
    created_at: dt.datetime | None = Field(
        None,
        description="When the lead really arrived, for past leads (history import). ISO 8601, not in the future; "
        "default: now. Applies when the lead is created (or has not moved yet).",
    )
    history: list[HistoryStepIn] | None = Field(
        None,
        description='A past lead\'s path, in order: e.g. [{"stage": "sql", "at": "2025-03-02"}, '
        '{"stage": "won", "at": "2025-04-10"}]. Stored as historical transitions: evidence reads them, '
        "SLA figures never do. Needs created_at.",
    )

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_iso_text(cls, value: Any) -> Any:
        return _iso_text_only(value)

    @field_validator("created_at")
    @classmethod
    def _past(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else _checked(clean_created_at, value)

    @field_validator("history")
    @classmethod
    def _path(cls, value: list[HistoryStepIn] | None, info: ValidationInfo) -> list[HistoryStepIn] | None:
        if not value:
            return value
        created_at = info.data.get("created_at")
        if created_at is None:
            raise PydanticCustomError("history_created_at", "A history needs the lead's created_at.")
        try:
            clean_history([step.model_dump() for step in value], created_at=created_at)
        except HistoryError as exc:
            raise PydanticCustomError(
                "history", "{field}: {message}", {"field": exc.field, "message": str(exc)}
            ) from None
        return value

    @field_validator(*intake.LEAD_CHOICE_FIELDS, "industry", "country", mode="before")
    @classmethod
    def _known_spelling(cls, value: Any, info: ValidationInfo) -> Any:
        return _dictionary_choice(value, info)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else _checked(intake.clean_email, value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _checked(intake.clean_domain, value)

    @field_validator(*intake.LEAD_TEXT_FIELDS, "company", "external_id")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


class ActivityIn(StrictIn):
    """One activity; name the lead by ``email`` (unknown addresses create a lead) or by ``lead_id``."""

    lead_id: int | None = Field(None, ge=1, le=2**63 - 1, strict=True)
    email: str | None = Field(None, max_length=_MAX["email"], validate_default=True)
    kind: str = Field(description="An activity kind of the data dictionary (GET /api/v1/activity-kinds).")
    occurred_at: dt.datetime = Field(description="ISO 8601; without a time zone it is read as UTC.")
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=_MAX["external_id"],
        description="Your id for the activity: the same id is stored once.",
    )
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: Any, info: ValidationInfo) -> Any:
        return _dictionary_choice(value, info)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("lead_id") is None:
                raise PydanticCustomError("missing_lead", "Give the lead's email or its lead_id.")
            return None
        return _checked(intake.clean_email, value)

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise PydanticCustomError("datetime_type", "Give the date as an ISO 8601 string.")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, value: dt.datetime) -> dt.datetime:
        return _checked(intake.clean_occurred_at, value)


class Rejected(Schema):
    index: int = Field(description="Position of the activity in the batch (0-based).")
    errors: dict[str, list[str]]


class BatchOut(Schema):
    accepted: int = Field(description="Activities stored by this request.")
    duplicates: int = Field(description="Activities already stored (same external_id) or repeated in the batch.")
    rejected: list[Rejected]


class UpsertOut(Schema):
    id: int
    stage: str
    score: int
    created: bool


class RuleOut(Schema):
    rule_id: str
    section: Literal["fit", "behaviour", "knockout"]
    label: str
    points: int
    detail: str


class ExplanationOut(Schema):
    agreement_version: int
    fit: int
    engagement: int
    total: int
    grade: str
    qualifies: bool
    knocked_out: bool
    completeness: int
    rules: list[RuleOut]


class LeadOut(Schema):
    id: int
    email: str
    external_id: str | None
    first_name: str
    last_name: str
    job_title: str
    seniority: str
    department: str
    phone: str
    company: str | None
    domain: str | None
    industry: str | None
    employees: int | None
    annual_revenue: int | None
    country: str | None
    region: str | None
    source: str
    campaign: str
    budget: str
    authority: str
    need: str
    timeline: str
    persona: str | None
    attributes: dict[str, Any] = Field(description="The organisation's own attributes of the lead and its account.")
    stage: str
    score: int
    fit_score: int
    engagement_score: int
    grade: str
    completeness: int
    owner: str | None
    scored_at: dt.datetime | None
    rescore_requested_at: dt.datetime | None = Field(
        description="Set while a new score is on its way (since this time): the scores shown predate the "
        "lead's latest changes or activities. Empty once they are current."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class AttemptOut(Schema):
    id: int
    channel: str = Field(description="call, email or social.")
    outcome: str = Field(description="connected, voicemail, no_answer or replied.")
    note: str
    at: dt.datetime = Field(description="When the attempt happened.")
    by: str = Field(description="Username of the person who made the attempt.")
    logged_at: dt.datetime


class AttemptIn(StrictIn):
    """One follow-up attempt on an accepted lead, made by ``by`` (a username; default: the lead's owner)."""

    channel: str = Field(description="call, email or social.")
    outcome: str = Field(description="connected, voicemail, no_answer or replied.")
    note: str = Field("", max_length=2000)
    at: dt.datetime | None = Field(
        None, description="ISO 8601, default now; back-dated by 24 hours at most, never before acceptance."
    )
    by: str | None = Field(None, max_length=150, description="Username of the SDR; default the lead's owner.")

    @field_validator("channel", "outcome")
    @classmethod
    def _one_of(cls, value: str, info: ValidationInfo) -> str:
        allowed = {"channel": FollowUpAttempt.Channel, "outcome": FollowUpAttempt.Outcome}[info.field_name].values
        if value not in allowed:
            raise PydanticCustomError(info.field_name, "Give one of: " + ", ".join(allowed) + ".")
        return value

    @field_validator("at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise PydanticCustomError("datetime_type", "Give the date as an ISO 8601 string.")
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class LeadDetailOut(LeadOut):
    explanation: ExplanationOut | None = Field(
        description="Why the lead has its score under the active agreement (null when none is active)."
    )
    attempts: list[AttemptOut] = Field(description="Follow-up attempts logged on the lead, oldest first.")


class LeadPageOut(Schema):
    items: list[LeadOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


def _encode_cursor(updated_at: dt.datetime, lead_id: int) -> str:
    raw = json.dumps([updated_at.isoformat(), lead_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, lead_id = json.loads(raw)
        moment = dt.datetime.fromisoformat(at)
        if not isinstance(lead_id, int) or timezone.is_naive(moment):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise PydanticCustomError("cursor", "Not a cursor this API returned; start again without one.") from None
    return moment, lead_id


class LeadQuery(Schema):
    stage: Literal[tuple(Stage.values)] | None = None  # type: ignore[valid-type]
    updated_since: dt.datetime | None = Field(
        None,
        description=(
            "Only leads whose record, stage or owner changed, or that received activities, at or after this "
            "moment. Scores that move only because a new agreement version was published, or because "
            "activities aged out of a window, do not count (see scored_at): re-read all leads after a publish."
        ),
    )
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(100, ge=1, le=MAX_PAGE)

    @field_validator("updated_since", mode="before")
    @classmethod
    def _iso_moment(cls, value: Any) -> Any:
        if value is None:
            return None
        try:
            return intake.parse_moment(value)
        except ValueError as exc:  # intake.FieldError included
            raise PydanticCustomError("datetime_parsing", str(exc)) from None

    @field_validator("cursor")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value:
            _decode_cursor(value)
        return value or None


# --- Endpoints ------------------------------------------------------------------------------


def lead_data(payload: LeadIn) -> dict[str, Any]:
    """A validated lead as the writer takes it: set fields only, the history as checked steps."""
    data = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}
    if payload.history:
        data["history"] = clean_history([step.model_dump() for step in payload.history], created_at=payload.created_at)
    return data


router = Router(tags=["v1"])


def _lead_out(lead: Lead) -> dict:
    account = lead.account
    return {
        **{name: getattr(lead, name) for name in ("id", "email", *intake.LEAD_FIELDS)},
        "company": account.name if account else None,
        **{
            name: getattr(account, name) if account else None
            for name in ("domain", "industry", "employees", "annual_revenue", "country", "region")
        },
        # The lead's own country when it has one (free mail: no account), else its account's.
        "country": lead.country or (account.country if account else None),
        "region": lead.region or (account.region if account else None),
        "external_id": lead.external_id,
        "attributes": {**((account.attributes or {}) if account else {}), **(lead.attributes or {})},
        "persona": lead.persona.name if lead.persona_id else None,
        "owner": lead.owner.get_username() if lead.owner_id else None,
        **{
            name: getattr(lead, name)
            for name in (
                "stage",
                "score",
                "fit_score",
                "engagement_score",
                "grade",
                "completeness",
                "scored_at",
                "rescore_requested_at",
                "created_at",
                "updated_at",
            )
        },
    }


def _leads():
    return Lead.objects.select_related("account", "persona", "owner")


def _read_json(request: HttpRequest) -> Any:
    """The request body as JSON; 413 past the upload limit, 400 when it is not JSON."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise HttpError(413, f"The request body is larger than {limit:,} bytes. Send smaller batches.")
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"The request body is not valid JSON ({exc}).") from None


def _lead_row(raw: Any, dictionary: Dictionary) -> tuple[dict | None, dict[str, list[str]]]:
    """One lead of a request as a row for ``leads_upsert``, or the errors per field."""
    try:
        item = LeadIn.model_validate(raw, context={"dictionary": dictionary})
    except pydantic.ValidationError as exc:
        return None, field_errors(exc.errors())
    row = lead_data(item)
    row.pop("attributes", None)
    if item.attributes:
        cleaned, errors = clean_attributes(item.attributes, dictionary)
        if errors:
            return None, errors
        row["attributes"], row["account_attributes"] = cleaned["lead"], cleaned["account"]
    return row, {}


_LEAD_BODY = {"required": True, "content": {"application/json": {"schema": LeadIn.model_json_schema()}}}


@router.post(
    "/leads",
    response={200: UpsertOut, 201: UpsertOut, 400: Error, 401: Error, 403: Error, 413: Error, 422: InvalidFields},
    summary="Create or update a lead by e-mail or external id",
    openapi_extra={"requestBody": _LEAD_BODY},
)
def lead_upsert(request: HttpRequest):
    """Creates the lead (201) or updates the one with this e-mail (any case) or ``external_id`` (200);
    its account is found or created by web domain. Returns the lead's id, stage and score after
    rescoring. Needs the scope ``leads:write``."""
    _require(request, "leads:write")
    raw = _read_json(request)
    dictionary = load_dictionary()
    row, errors = _lead_row(raw, dictionary)
    if row is not None:
        errors = resolve_identities([row]).get(0, {})
    if errors:
        return _invalid(request, errors)
    lead, created = intake.lead_upsert(data=row)
    return Status(
        201 if created else 200, {"id": lead.id, "stage": lead.stage, "score": lead.score, "created": created}
    )


class LeadBatchOut(Schema):
    created: int = Field(description="Leads created by this request.")
    updated: int = Field(description="Known leads this request changed.")
    rejected: list[Rejected]


_LEAD_BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["leads"],
                "properties": {"leads": {"type": "array", "maxItems": MAX_BATCH, "items": LeadIn.model_json_schema()}},
            }
        }
    },
}


@router.post(
    "/leads/batch",
    response={202: LeadBatchOut, 400: Error, 401: Error, 403: Error, 413: Error, 422: InvalidFields},
    summary="Create or update a batch of leads",
    openapi_extra={"requestBody": _LEAD_BATCH_BODY},
)
def leads_batch(request: HttpRequest):
    """Up to 1,000 leads, each as ``POST /leads`` takes it. Good leads are stored even when others are
    rejected (listed by index with the errors per field). Needs the scope ``leads:write``."""
    _require(request, "leads:write")
    payload = _read_json(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("leads"), list):
        return _invalid(request, {"leads": ['Send a JSON object with a "leads" list.']})
    unexpected = sorted(set(payload) - {"leads"})
    if unexpected:
        return _invalid(request, {name: ["Extra inputs are not permitted"] for name in unexpected})
    if len(payload["leads"]) > MAX_BATCH:
        raise HttpError(
            413, f"A batch holds at most {MAX_BATCH:,} leads; this one has {len(payload['leads']):,}. Split it."
        )
    dictionary = load_dictionary()
    rows: list[tuple[int, dict]] = []
    rejected: list[dict] = []
    for index, raw in enumerate(payload["leads"]):
        row, errors = _lead_row(raw, dictionary)
        if errors:
            rejected.append({"index": index, "errors": errors})
        else:
            rows.append((index, row))
    refused = resolve_identities([row for _, row in rows])
    rejected.extend({"index": rows[i][0], "errors": errors} for i, errors in refused.items())
    good = [row for i, (_, row) in enumerate(rows) if i not in refused]
    result = intake.leads_upsert(rows=good) if good else intake.UpsertResult()
    rejected.sort(key=lambda r: r["index"])
    return Status(202, {"created": len(result.created), "updated": len(result.updated), "rejected": rejected})


_BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["activities"],
                "properties": {
                    "activities": {
                        "type": "array",
                        "maxItems": MAX_BATCH,
                        "items": ActivityIn.model_json_schema(),
                    }
                },
            }
        }
    },
}


@router.post(
    "/activities",
    response={202: BatchOut, 400: Error, 401: Error, 403: Error, 413: Error, 422: InvalidFields},
    summary="Add a batch of activities",
    openapi_extra={"requestBody": _BATCH_BODY},
)
def activities_post(request: HttpRequest):
    """Up to 1,000 activities. Good items are stored even when others are rejected (listed by index);
    an activity whose ``external_id`` was already stored counts as a duplicate, so retries are safe.
    Unknown e-mail addresses create a lead. Touched leads are rescored."""
    _require(request, "leads:write")
    payload = _read_json(request)
    if not isinstance(payload, dict) or not isinstance(payload.get("activities"), list):
        return _invalid(request, {"activities": ['Send a JSON object with an "activities" list.']})
    unexpected = sorted(set(payload) - {"activities"})
    if unexpected:
        return _invalid(request, {name: ["Extra inputs are not permitted"] for name in unexpected})
    raw_items = payload["activities"]
    if len(raw_items) > MAX_BATCH:
        raise HttpError(
            413, f"A batch holds at most {MAX_BATCH:,} activities; this one has {len(raw_items):,}. Split it."
        )
    items: list[intake.ActivityItem] = []
    rejected: list[dict] = []
    context = {"dictionary": load_dictionary()}
    for index, raw in enumerate(raw_items):
        try:
            item = ActivityIn.model_validate(raw, context=context)
        except pydantic.ValidationError as exc:
            rejected.append({"index": index, "errors": field_errors(exc.errors())})
            continue
        items.append(intake.ActivityItem(index=index, **item.model_dump()))
    result = intake.activities_ingest(items=items)
    rejected.extend(result.rejected)
    rejected.sort(key=lambda r: r["index"])
    return Status(202, {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": rejected})


@router.get(
    "/leads/{lead_id}",
    response={200: LeadDetailOut, 401: Error, 404: Error, 422: InvalidFields},
    summary="One lead and its score",
)
def lead_get(request: HttpRequest, lead_id: int):
    """The lead with its score, grade, stage and the breakdown under the active agreement: each rule and its points."""
    lead = _leads().filter(pk=lead_id).first() if 0 < lead_id < 2**63 else None
    if lead is None:
        raise HttpError(404, f"No lead has id {lead_id}.")
    out = _lead_out(lead)
    out["attempts"] = [_attempt_out(a) for a in lead.attempts.select_related("logged_by")]
    version = AgreementVersion.objects.active()
    out["explanation"] = None
    if version is not None:
        names = dict(Persona.objects.values_list("id", "name"))
        result = explain(lead, version.spec, timezone.now(), names, load_dictionary())
        out["explanation"] = {
            "agreement_version": version.number,
            "fit": result.fit,
            "engagement": result.engagement,
            "total": result.total,
            "grade": result.grade,
            "qualifies": result.qualifies,
            "knocked_out": result.knocked_out,
            "completeness": result.completeness,
            "rules": [
                {"rule_id": h.rule_id, "section": h.section, "label": h.label, "points": h.points, "detail": h.detail}
                for h in result.breakdown
            ],
        }
    return out


def _attempt_out(attempt: FollowUpAttempt) -> dict:
    return {
        "id": attempt.id,
        "channel": attempt.channel,
        "outcome": attempt.outcome,
        "note": attempt.note,
        "at": attempt.at,
        "by": attempt.logged_by.get_username(),
        "logged_at": attempt.logged_at,
    }


@router.post(
    "/leads/{lead_id}/attempts",
    response={201: AttemptOut, 400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: InvalidFields},
    summary="Log a follow-up attempt",
)
def attempt_post(request: HttpRequest, lead_id: int, payload: AttemptIn):
    """A call, e-mail or social message to an accepted (SAL) lead, counted by the SLA's follow-up figure.
    ``by`` must be the lead's owner, its team's manager or a leader. An MQL or a lead past SAL answers
    409. Needs the scope ``leads:write``."""
    _require(request, "leads:write")
    lead = Lead.objects.select_related("owner", "team").filter(pk=lead_id).first() if 0 < lead_id < 2**63 else None
    if lead is None:
        raise HttpError(404, f"No lead has id {lead_id}.")
    user_model = get_user_model()
    if payload.by:
        user = user_model.objects.filter(username=payload.by, is_active=True).first()
        if user is None:
            return _invalid(request, {"by": [f"No active user is named {payload.by}."]})
    elif lead.owner_id is not None:
        user = lead.owner
    else:
        return _invalid(request, {"by": ["The lead has no owner: name the user who made the attempt."]})
    if not may_log_attempt(user, lead):
        return _invalid(request, {"by": [f"{user.get_username()} may not log attempts on this lead."]})
    try:
        attempt = attempt_log(
            lead_id=lead.pk,
            user=user,
            channel=payload.channel,
            outcome=payload.outcome,
            note=payload.note,
            at=payload.at,
        )
    except AttemptTimeError as error:
        return _invalid(request, {"at": [str(error)]})
    except LeadError as error:
        raise HttpError(409, str(error)) from None
    return Status(201, _attempt_out(attempt))


@router.get("/leads", response={200: LeadPageOut, 401: Error, 422: InvalidFields}, summary="Leads changed since")
def lead_list(request: HttpRequest, filters: Query[LeadQuery]):
    """Leads in order of last change (oldest first), ``limit`` per page; follow ``next_cursor`` to the end.
    Syncing clients keep the last ``updated_at`` they saw and pass it as ``updated_since`` next time.
    ``updated_at`` moves when the lead's data, stage or owner changes or activities arrive; a publish
    rescores every lead without moving it (a lead that crosses the threshold changes stage, which
    counts), so a client that mirrors scores re-reads everything after a publish."""
    queryset = _leads().order_by("updated_at", "id")
    if filters.stage:
        queryset = queryset.filter(stage=filters.stage)
    if filters.updated_since:
        queryset = queryset.filter(updated_at__gte=filters.updated_since)  # aware: parse_moment
    if filters.cursor:
        at, last_id = _decode_cursor(filters.cursor)
        queryset = queryset.filter(Q(updated_at__gt=at) | Q(updated_at=at, id__gt=last_id))
    rows = list(queryset[: filters.limit + 1])
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    cursor = _encode_cursor(rows[-1].updated_at, rows[-1].id) if more else None
    return {"items": [_lead_out(lead) for lead in rows], "next_cursor": cursor}


# --- The data dictionary ------------------------------------------------------------------------


class ChoiceIO(Schema):
    value: str = Field(min_length=1, max_length=200)
    label: str | None = Field(None, max_length=200)
    aliases: list[str] = Field(default_factory=list, description="Other spellings read as this value.")


class AttributeOut(Schema):
    key: str
    label: str
    object: Literal["lead", "account"]
    type: Literal[TYPES]  # type: ignore[valid-type]
    choices: list[ChoiceIO]
    before_contact: bool
    help: str
    archived: bool


class AttributeIn(Schema):
    key: str = Field(min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$", examples=["lead_origin"])
    label: str = Field("", max_length=120)
    object: Literal["lead", "account"] = "lead"
    type: Literal[TYPES]  # type: ignore[valid-type]
    choices: list[ChoiceIO] = Field(default_factory=list)
    before_contact: StrictBool = Field(True, description="Known before first contact (false: filled in by sales).")
    help: str = ""

    model_config = ConfigDict(extra="forbid")


class AttributePatch(Schema):
    label: str | None = Field(None, max_length=120)
    help: str | None = None
    before_contact: StrictBool | None = None
    archived: StrictBool | None = Field(None, description="Refused while the active agreement or a draft uses it.")
    choices: list[ChoiceIO] = Field(
        default_factory=list, description="Choices to add; for an existing value, its label and aliases are added."
    )

    model_config = ConfigDict(extra="forbid")


class KindIO(Schema):
    key: str = Field(min_length=1, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field("", max_length=120)
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    archived: StrictBool = False

    model_config = ConfigDict(extra="forbid")


def _attribute_out(key: str, dictionary: Dictionary) -> dict:
    a = dictionary.attributes[key]
    return {
        "key": a.key,
        "label": a.label,
        "object": a.object,
        "type": a.type,
        "choices": [
            {"value": c.value, "label": c.label, "aliases": list(c.aliases)} for c in a.choices if not c.archived
        ],
        "before_contact": a.before_contact,
        "help": a.help,
        "archived": a.archived,
    }


def _refused(request: HttpRequest, exc: data_dictionary.DictionaryError) -> HttpResponse:
    return _invalid(request, {exc.field or "body": [str(exc)]})


def _dictionary_write(request: HttpRequest, write: Callable[[], Any], answer: Callable[[Any], dict], status: int = 200):
    """What every write on the data dictionary shares: the ``schema:write`` scope, the service call,
    its refusal as a 422 naming the field, and the entry as it now reads."""
    _require(request, "schema:write")
    try:
        written = write()
    except data_dictionary.DictionaryError as exc:
        return _refused(request, exc)
    return Status(status, answer(written))


def _attribute_answer(attribute) -> dict:
    return _attribute_out(attribute.key, load_dictionary())


@router.get("/attributes", response={200: list[AttributeOut], 401: Error}, summary="The data dictionary's attributes")
def attributes_list(request: HttpRequest):
    """Every attribute, built-in and the organisation's own, with its live choices; archived ones too."""
    dictionary = load_dictionary()
    return [_attribute_out(key, dictionary) for key in dictionary.attributes]


@router.post(
    "/attributes",
    response={201: AttributeOut, 400: Error, 401: Error, 403: Error, 422: InvalidFields},
    summary="Add an attribute",
)
def attributes_create(request: HttpRequest, payload: AttributeIn):
    """A new lead or account attribute; leads and accounts then take it in ``attributes``. Needs ``schema:write``."""

    def write():
        return data_dictionary.attribute_create(
            key=payload.key,
            label=payload.label,
            type=payload.type,
            object=payload.object,
            choices=[c.model_dump() for c in payload.choices],
            before_contact=payload.before_contact,
            help=payload.help,
        )

    return _dictionary_write(request, write, _attribute_answer, status=201)


@router.patch(
    "/attributes/{key}",
    response={200: AttributeOut, 400: Error, 401: Error, 403: Error, 404: Error, 422: InvalidFields},
    summary="Rename, add choices or aliases, archive",
)
def attributes_update(request: HttpRequest, key: str, payload: AttributePatch):
    """Changes what is given; the key never changes, so rules keep working. Needs ``schema:write``."""

    def write():
        attribute = Attribute.objects.filter(key=key).first()
        if attribute is None:
            raise HttpError(404, f"No attribute has the key {key}.")
        data_dictionary.attribute_update(
            attribute=attribute,
            label=payload.label,
            help=payload.help,
            before_contact=payload.before_contact,
            archived=payload.archived,
            choices=[c.model_dump() for c in payload.choices],
        )
        return attribute

    return _dictionary_write(request, write, _attribute_answer)


@router.get("/activity-kinds", response={200: list[KindIO], 401: Error}, summary="The activity kinds")
def kinds_list(request: HttpRequest):
    """Every activity kind activities may have (archived ones are refused by ``POST /activities``)."""
    return [_kind_out(k) for k in load_dictionary().kinds.values()]


def _kind_out(kind) -> dict:
    return {
        "key": kind.key,
        "label": kind.label,
        "description": kind.description,
        "aliases": list(kind.aliases),
        "archived": kind.archived,
    }


@router.post(
    "/activity-kinds",
    response={201: KindIO, 400: Error, 401: Error, 403: Error, 422: InvalidFields},
    summary="Add an activity kind",
)
def kinds_create(request: HttpRequest, payload: KindIO):
    """A new kind of activity, to score with behaviour rules. Needs ``schema:write``."""

    def write():
        return data_dictionary.kind_create(
            key=payload.key, label=payload.label, description=payload.description, aliases=payload.aliases
        )

    return _dictionary_write(request, write, _kind_out, status=201)


api.add_router("/v1", router)
api.add_router("/v1", insights_router)
api.add_router("/v1", "leads.scoring.scorecard_api.router")
