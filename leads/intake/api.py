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
from typing import Any, Literal

import pydantic
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer
from pydantic import ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from alignment.models import AgreementVersion, Persona
from leads.intake import writes as intake
from leads.intake.history import HistoryError, clean_created_at, clean_history
from leads.lifecycle import HISTORY_STAGES
from leads.models import Lead, Stage
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


api = NinjaAPI(
    title="Accord API",
    version="1",
    description=(
        "Push leads and activities into Accord. Authenticate with `Authorization: Bearer <token>`; "
        "tokens are created in the admin or with `python manage.py create_api_token NAME`. "
        "Errors are JSON with a `detail` sentence; invalid bodies answer 422 with `errors` per field."
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


def _choice(name: str):
    return Literal[intake.choice_codes(name)]  # type: ignore[valid-type]  # built from the agreement vocabulary


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


class LeadIn(StrictIn):
    """A lead to create or update, matched by e-mail (case-insensitive). Fields left out keep their value."""

    email: str = Field(..., max_length=_MAX["email"], examples=["ada.lovelace@example.com"])
    first_name: str | None = Field(None, max_length=_MAX["first_name"])
    last_name: str | None = Field(None, max_length=_MAX["last_name"])
    job_title: str | None = Field(None, max_length=_MAX["job_title"])
    seniority: _choice("seniority") | None = None
    department: _choice("department") | None = None
    phone: str | None = Field(None, max_length=_MAX["phone"])
    company: str | None = Field(
        None, max_length=_MAX["company"], description="Account name (used when the account is new)."
    )
    domain: str | None = Field(
        None,
        max_length=_MAX["domain"],
        description="Company web domain; defaults to the e-mail's unless it is a free mailbox.",
    )
    industry: _choice("industry") | None = None
    employees: int | None = Field(None, ge=0, le=intake.WHOLE_NUMBER_MAX["employees"], strict=True)
    annual_revenue: int | None = Field(
        None, ge=0, le=intake.WHOLE_NUMBER_MAX["annual_revenue"], strict=True, description="USD per year"
    )
    country: _choice("country") | None = Field(None, description="ISO 3166-1 alpha-2 code")
    source: _choice("source") | None = None
    campaign: str | None = Field(None, max_length=_MAX["campaign"])
    budget: _choice("budget") | None = None
    authority: _choice("authority") | None = None
    need: _choice("need") | None = None
    timeline: _choice("timeline") | None = None
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
        return intake.normalize_choice(info.field_name, value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return _checked(intake.clean_email, value)

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return _checked(intake.clean_domain, value)

    @field_validator(*intake.LEAD_TEXT_FIELDS, "company")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


class ActivityIn(StrictIn):
    """One activity; name the lead by ``email`` (unknown addresses create a lead) or by ``lead_id``."""

    lead_id: int | None = Field(None, ge=1, le=2**63 - 1, strict=True)
    email: str | None = Field(None, max_length=_MAX["email"], validate_default=True)
    kind: _choice("kind")
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
    def _known_kind(cls, value: Any) -> Any:
        return intake.normalize_choice("kind", value)

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


class LeadDetailOut(LeadOut):
    explanation: ExplanationOut | None = Field(
        description="Why the lead has its score under the active agreement (null when none is active)."
    )


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


@router.post(
    "/leads",
    response={200: UpsertOut, 201: UpsertOut, 400: Error, 401: Error, 413: Error, 422: InvalidFields},
    summary="Create or update a lead by e-mail",
)
def lead_upsert(request: HttpRequest, payload: LeadIn):
    """Creates the lead (201) or updates the one with this e-mail in any case (200); its account is
    found or created by web domain. Returns the lead's id, stage and score after rescoring."""
    lead, created = intake.lead_upsert(data=lead_data(payload))
    return Status(
        201 if created else 200, {"id": lead.id, "stage": lead.stage, "score": lead.score, "created": created}
    )


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
    response={202: BatchOut, 400: Error, 401: Error, 413: Error, 422: InvalidFields},
    summary="Add a batch of activities",
    openapi_extra={"requestBody": _BATCH_BODY},
)
def activities_post(request: HttpRequest):
    """Up to 1,000 activities. Good items are stored even when others are rejected (listed by index);
    an activity whose ``external_id`` was already stored counts as a duplicate, so retries are safe.
    Unknown e-mail addresses create a lead. Touched leads are rescored."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return _request_too_large(request)
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"The request body is not valid JSON ({exc}).") from None
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
    for index, raw in enumerate(raw_items):
        try:
            item = ActivityIn.model_validate(raw)
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
    version = AgreementVersion.objects.active()
    out["explanation"] = None
    if version is not None:
        names = dict(Persona.objects.values_list("id", "name"))
        result = explain(lead, version.spec, timezone.now(), names)
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


api.add_router("/v1", router)
api.add_router("/v1", insights_router)
api.add_router("/v1", "leads.scoring.scorecard_api.router")
