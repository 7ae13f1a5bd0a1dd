"""Reads shared by the overview and lead pages: aggregated in SQL, a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone

from alignment import spec as vocab
from alignment.calendar import BusinessCalendar, working_windows
from alignment.dictionary import load_rule_labels
from alignment.models import AgreementVersion, Persona
from leads.inbox.followup import followup_statuses
from leads.models import Lead, Stage, Team, TeamMember, Transition, reason_label
from leads.scoring.scorer import (
    _known,
    _norm,
    behaviour_points,
    condition_matches,
    facts_for_lead,
    occurrences_shown,
    weights_for_leads,
)


def stage_counts() -> list[dict]:
    """Every stage with its lead count (zero included), in lifecycle order."""
    counts = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).order_by())
    return [{"stage": value, "label": label, "count": counts.get(value, 0)} for value, label in Stage.choices]


def latest_transitions(limit: int = 15) -> list[Transition]:
    """The latest moves of any lead, each with ``reason_label`` (see ``with_reason_labels``)."""
    rows = Transition.objects.select_related("lead", "actor", "lead__account").order_by("-at", "-id")[:limit]
    return with_reason_labels(list(rows))


@dataclass(frozen=True)
class ReasonWords:
    """The words of reject/recycle reason codes, by the one rule every page, export, report and e-mail uses.

    A reason reads as the label of the signed (published) version in force when it was given — the
    version recorded on its transition, else the one published last before that instant — falling
    back to the newest signed version that defines the code; never a draft's. A code no signed
    version defines reads as the system's words or as the code made readable (``reason_label``).
    """

    published: tuple[tuple[dt.datetime | None, int], ...] = ()  # (published_at, version id), oldest first
    by_version: dict[int, dict[str, str]] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)  # code → label of the newest version having it

    def version_at(self, at: dt.datetime | None) -> int | None:
        """The signed version in force at ``at`` (the last one published at or before it)."""
        if at is None or not self.published:
            return None
        instants = [p or dt.datetime.min.replace(tzinfo=dt.UTC) for p, _ in self.published]
        i = bisect_right(instants, at)
        return self.published[i - 1][1] if i else None

    def agreed(self, code: str, *, version_id: int | None = None, at: dt.datetime | None = None) -> str:
        """The words of the version ``code`` was given under (or in force ``at``); blank when none has it."""
        if version_id not in self.by_version:
            version_id = self.version_at(at)
        return self.by_version.get(version_id, {}).get(code) or self.newest.get(code, "")

    def label(self, code: str, *, version_id: int | None = None, at: dt.datetime | None = None) -> str:
        return reason_label(code, {code: self.agreed(code, version_id=version_id, at=at)} if code else {})

    def labels_at(self, at: dt.datetime, codes: set[str]) -> dict[str, str]:
        """``{code: words}`` for reasons counted together, in the version in force at ``at``."""
        return {code: self.label(code, at=at) for code in codes if code}


def reason_words() -> ReasonWords:
    """Every signed version's reason labels (one query; the specs' reason lists only)."""
    rows = (
        AgreementVersion.objects.filter(status__in=[AgreementVersion.Status.ACTIVE, AgreementVersion.Status.RETIRED])
        .order_by(F("published_at").asc(nulls_first=True), "number", "id")
        .values_list("id", "published_at", "spec__reject_reasons", "spec__recycle_reasons")
    )
    published, by_version, newest = [], {}, {}
    for vid, published_at, *lists in rows:
        labels = {
            r["code"]: r.get("label") or ""
            for reasons in lists
            for r in (reasons or [])
            if isinstance(r, dict) and r.get("code")
        }
        published.append((published_at, vid))
        by_version[vid] = labels
        newest.update({code: label for code, label in labels.items() if label})
    return ReasonWords(published=tuple(published), by_version=by_version, newest=newest)


def with_reason_labels(transitions: list[Transition], words: ReasonWords | None = None) -> list[Transition]:
    """Give each transition ``reason_label``: the words of the version in force when it was given."""
    if words is None and any(t.reason_code for t in transitions):
        words = reason_words()
    for t in transitions:
        t.reason_label = words.label(t.reason_code, version_id=t.agreement_version_id, at=t.at) if t.reason_code else ""
    return transitions


def lead_edits(lead: Lead) -> list[dict]:
    """The corrections of a lead's fields, newest first, each change with the field's label."""
    labels = {f.name: str(f.verbose_name) for f in Lead._meta.fields}
    labels["email"] = "E-mail"
    edits = lead.edits.select_related("actor").order_by("-at", "-id")
    return [
        {
            "at": edit.at,
            "actor": edit.actor,
            "changes": [(labels.get(name, name).capitalize(), old, new) for name, (old, new) in edit.changes.items()],
        }
        for edit in edits
    ]


def undoable_transition(lead: Lead, user) -> int | None:
    """The id of ``lead``'s latest transition when ``user`` made it (what an Undo would take back)."""
    last = lead.transitions.order_by("-at", "-id").values_list("id", "actor_id").first()
    return last[0] if last is not None and last[1] == user.id else None


# --- the SDR inbox ------------------------------------------------------------------------------
#
# One page of the queue costs a fixed number of queries whatever its size: the page of leads
# (with account, persona, owner joined), their scored activities (one query, for "why"), the
# persona names, and the capped tab counts (one query for every tab).

INBOX_PAGE_SIZE = 50
COUNT_CAP = 100  # tab badges count at most this many rows ("99+"), so they stay cheap at scale


class InboxTab:
    MINE = "mine"
    UNASSIGNED = "unassigned"
    TEAM = "team"
    ACCEPTED = "accepted"  # SAL and SQL leads: converting, won and lost happen here
    ALL = (MINE, UNASSIGNED, TEAM, ACCEPTED)
    LABELS = {MINE: "Mine", UNASSIGNED: "Unassigned", TEAM: "Team", ACCEPTED: "Accepted"}
    ACCEPTED_STAGES = (Stage.SAL, Stage.SQL)

    @classmethod
    def for_viewer(cls, viewer: Viewer) -> tuple[str, ...]:
        return cls.ALL if viewer.can_see_team else (cls.MINE, cls.UNASSIGNED, cls.ACCEPTED)


@dataclass(frozen=True)
class InboxFilters:
    grade: str = ""
    persona: int | None = None
    source: str = ""
    country: str = ""
    q: str = ""
    # Conditions on the organisation's own attributes (``leads.inbox.filters.attribute_condition``).
    conditions: tuple[Q, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.grade or self.persona or self.source or self.country or self.q or self.conditions)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the inbox, resolved once per request (two queries at most)."""

    user: object
    membership: TeamMember | None
    managed_team_ids: tuple[int, ...]
    is_admin: bool

    @property
    def team_id(self) -> int | None:
        return self.membership.team_id if self.membership else None

    @property
    def can_see_team(self) -> bool:
        return self.is_admin or bool(self.managed_team_ids)


def viewer_for(user) -> Viewer:
    from portal.access import Role, has_role, is_admin

    admin = is_admin(user)
    membership = TeamMember.objects.filter(user=user).select_related("team").first()
    managed: tuple[int, ...] = ()
    if not admin and has_role(user, Role.MANAGER):
        managed = tuple(Team.objects.filter(manager=user).values_list("id", flat=True))
    return Viewer(user=user, membership=membership, managed_team_ids=managed, is_admin=admin)


def inbox_queryset(viewer: Viewer, tab: str, filters: InboxFilters | None = None):
    """The leads of one tab, filtered, in queue order.

    MQL tabs are served by the partial index lead_mql_queue_idx. "Accepted" holds the SAL and SQL
    leads the viewer owns (a manager: also every one of the teams they manage), oldest commitment
    first; an SDR's are found through lead_owner_stage_idx.
    """
    qs = Lead.objects.filter(stage=Stage.MQL)
    if tab == InboxTab.ACCEPTED:
        qs = Lead.objects.filter(stage__in=InboxTab.ACCEPTED_STAGES)
        if not viewer.is_admin:
            qs = qs.filter(Q(owner=viewer.user) | Q(team_id__in=viewer.managed_team_ids))
    elif tab == InboxTab.MINE:
        qs = qs.filter(owner=viewer.user)
    elif tab == InboxTab.UNASSIGNED:
        qs = qs.filter(owner__isnull=True)
        if not viewer.is_admin:
            teams = {*viewer.managed_team_ids, *([viewer.team_id] if viewer.team_id else [])}
            qs = qs.filter(Q(team_id__in=teams) | Q(team__isnull=True))
    elif tab == InboxTab.TEAM:
        if not viewer.is_admin:
            qs = qs.filter(team_id__in=viewer.managed_team_ids)
    else:
        raise ValueError(f"unknown inbox tab {tab!r}")
    filters = filters or InboxFilters()
    if filters.grade:
        qs = qs.filter(grade=filters.grade)
    if filters.persona:
        qs = qs.filter(persona_id=filters.persona)
    if filters.source:
        qs = qs.filter(source=filters.source)
    if filters.country:
        qs = qs.filter(account__country=filters.country)
    if filters.q:
        qs = qs.search(filters.q.strip())
    for condition in filters.conditions:
        qs = qs.filter(condition)
    return qs.order_by(F("sla_due_at").asc(nulls_last=True), F("score").desc(), "id")


def encode_cursor(lead: Lead) -> str:
    due = lead.sla_due_at.isoformat() if lead.sla_due_at else ""
    return f"{due}~{lead.score}~{lead.id}"


def decode_cursor(raw: str) -> tuple[dt.datetime | None, int, int] | None:
    """The (sla_due_at, score, id) a page ends with; None for a missing or malformed cursor."""
    try:
        due, score, pk = raw.split("~")
        return (dt.datetime.fromisoformat(due) if due else None, int(score), int(pk))
    except (ValueError, AttributeError):
        return None


def after_cursor(qs, cursor: tuple[dt.datetime | None, int, int]):
    """Keyset condition for ORDER BY sla_due_at ASC NULLS LAST, score DESC, id ASC."""
    due, score, pk = cursor
    same_due_later = Q(score__lt=score) | Q(score=score, id__gt=pk)
    if due is None:
        return qs.filter(Q(sla_due_at__isnull=True) & same_due_later)
    return qs.filter(Q(sla_due_at__gt=due) | Q(sla_due_at__isnull=True) | (Q(sla_due_at=due) & same_due_later))


@dataclass(frozen=True)
class SlaClock:
    css: str  # sla-ok | sla-warn | sla-breach | "" (no SLA)
    label: str
    due_at: dt.datetime | None
    used_pct: int


def _duration(hours: float) -> str:
    minutes = max(1, round(hours * 60))
    if minutes < 60:
        return f"{minutes}m"
    h, m = divmod(minutes, 60)
    return f"{h}h {m:02d}m" if h < 24 else f"{h}h"


def sla_clock(lead: Lead, calendar: BusinessCalendar | BusinessClock, now: dt.datetime) -> SlaClock:
    """Business time left before the first action is due: green, amber from 75 % used, red when due.

    Outside business hours the clock is paused; when no business time separates two instants
    (a due time set outside the calendar), wall-clock time stands in so the label never reads 0m.
    """
    due = lead.sla_due_at
    if lead.first_action_at:
        took = calendar.hours_between(lead.mql_at or lead.first_action_at, lead.first_action_at)
        late = due is not None and lead.first_action_at > due
        return SlaClock("sla-breach" if late else "sla-ok", f"Answered in {_duration(took)}", due, 100)
    if due is None:
        return SlaClock("", "No SLA", None, 0)

    def wall(a: dt.datetime, b: dt.datetime) -> float:
        return max(0.0, (b - a).total_seconds() / 3600)

    def span(a: dt.datetime, b: dt.datetime) -> float:
        return calendar.hours_between(a, b) or wall(a, b)

    if now >= due:
        return SlaClock("sla-breach", f"Overdue {_duration(span(due, now))}", due, 100)
    start = min(lead.mql_at or due, now)
    # Used and budget on one scale: business hours (a weekend since the lead qualified uses none
    # of it), or wall-clock hours for both when the due time has no business time before it.
    budget = calendar.hours_between(start, due)
    used = calendar.hours_between(start, now)
    if not budget:
        budget, used = wall(start, due), wall(start, now)
    pct = round(100 * used / budget) if budget else 100
    css = "sla-warn" if pct >= 75 else "sla-ok"
    return SlaClock(css, f"{_duration(span(now, due))} left", due, min(pct, 100))


class BusinessClock:
    """``BusinessCalendar.hours_between`` for many instants between two dates, each in O(log days).

    The calendar's working windows over the dates are listed once with running totals of their
    business time, so the business time up to an instant is a binary search plus one subtraction
    instead of a walk over every day in between (an overdue lead's clock may span weeks, and a
    page asks three spans of each of its 50 rows). Spans outside the dates fall back to the
    calendar itself. Results are equal to the calendar's to the microsecond.
    """

    def __init__(self, calendar: BusinessCalendar, first: dt.datetime, last: dt.datetime):
        self.calendar = calendar
        self.first = first.astimezone(calendar.tz).date()
        self.last = last.astimezone(calendar.tz).date()
        windows = working_windows(calendar, self.first, self.last)
        self.opens = [opens for opens, _ in windows]
        self.closes = [closes for _, closes in windows]
        self.before: list[int] = []  # business microseconds before each window opens
        total = 0
        for opens, closes in windows:
            self.before.append(total)
            total += (closes - opens) // _MICROSECOND
        # Instants between these bounds lie on a covered day, whatever the zone's offset.
        self.low = dt.datetime.combine(self.first, dt.time.min, tzinfo=calendar.tz)
        self.high = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=calendar.tz)

    @classmethod
    def for_leads(cls, calendar: BusinessCalendar, leads, now: dt.datetime) -> BusinessClock:
        """A clock covering every instant ``sla_clock`` reads for these leads at ``now``."""
        instants = [now]
        for lead in leads:
            instants.extend(x for x in (lead.mql_at, lead.first_action_at, lead.sla_due_at) if x is not None)
        return cls(calendar, min(instants), max(instants))

    def _elapsed(self, at: dt.datetime) -> int:
        i = bisect_right(self.opens, at) - 1
        if i < 0:
            return 0
        return self.before[i] + (min(at, self.closes[i]) - self.opens[i]) // _MICROSECOND

    def hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        if end <= start:
            return 0.0
        if start < self.low or end >= self.high:
            return self.calendar.hours_between(start, end)
        elapsed = dt.timedelta(microseconds=self._elapsed(end) - self._elapsed(start))
        return elapsed.total_seconds() / 3600


_MICROSECOND = dt.timedelta(microseconds=1)


def calendar_for(version) -> BusinessCalendar:
    return BusinessCalendar.from_spec(((version.spec if version else {}).get("sla") or {}).get("calendar") or {})


def persona_names() -> dict[int, str]:
    return dict(Persona.objects.values_list("id", "name"))


def _persona_rows() -> list[tuple[int, str, bool]]:
    """(id, name, active) of every persona in name order: the portable twin of ``inbox_header``'s json_agg."""
    return [
        (pk, name, archived_at is None)
        for pk, name, archived_at in Persona.objects.order_by("name").values_list("id", "name", "archived_at")
    ]


@dataclass(frozen=True)
class Reason:
    points: int
    short: str  # "Industry: Software", "Demo request ×2"
    full: str  # the rule as the agreement words it


def _fact_label(field: str, value, names: dict[int, str]) -> str:
    if field == "persona":
        return names.get(value, "matched")
    if isinstance(value, int):
        return f"{value:,}"
    choices = dict(vocab.FIELDS[field].choices) if field in vocab.FIELDS else {}
    return str(choices.get(value, value))


def _fit_test(rule: dict):
    """``condition_matches`` for one rule, with an ``in``/``not_in`` rule's values normalised once."""
    operator = rule["operator"]
    if operator in ("in", "not_in"):
        wanted = {_norm(v) for v in rule.get("values") or []}
        inside = operator == "in"
        return lambda value: _known(value) and (_norm(value) in wanted) == inside
    return lambda value: condition_matches(rule, value)


class ReasonRules:
    """The "why it qualified" chips of many leads under one spec: ``score_lead``'s ``top_reasons(n)``
    (same rules, points, order and wording), computed once per page and only for what a row shows.

    A row needs the three best-scoring rules, not the whole breakdown, so rules are matched
    without building every hit's sentence, and each rule's sentence is built once per page.
    """

    def __init__(self, spec: dict, names: dict[int, str], dictionary=None):
        self.names = names
        # The organisation's labels: a ``Dictionary``, or a function that reads it, called on the first
        # sentence a page needs (a page without chips reads nothing). None: the built-in labels.
        self.dictionary = dictionary
        self.fit = [(rule, _fit_test(rule)) for rule in spec.get("fit_rules", []) if rule["points"] > 0]
        self.behaviour = spec.get("behaviour_rules", [])
        self.kinds = dict(vocab.ACTIVITY_KINDS)
        self._labels: dict[str, str] = {}

    def label(self, rule: dict, section: str) -> str:
        key = f"{section}:{rule['id']}"
        if key not in self._labels:
            if callable(self.dictionary):
                self.dictionary = self.dictionary()
            self._labels[key] = (
                vocab.describe_behaviour(rule, self.dictionary)
                if section == "behaviour"
                else vocab.describe_condition(rule, self.names, self.dictionary)
            )
        return self._labels[key]

    def hits(self, facts: dict, weights: dict[str, float], n: int = 3) -> list[tuple[dict, str, int, str]]:
        """(rule, section, points, shown count) of the ``n`` rules that gave most points, best first."""
        hits = [(rule, "fit", rule["points"], "") for rule, test in self.fit if test(facts.get(rule["field"]))]
        for rule in self.behaviour:
            weight = weights.get(rule["id"], 0)
            if weight:
                points = behaviour_points(rule, weight)
                if points > 0:
                    hits.append((rule, "behaviour", points, occurrences_shown(rule, weight)))
        hits.sort(key=lambda hit: -hit[2])  # stable: fit rules first on equal points, as in score_lead
        return hits[:n]

    def reasons(self, facts: dict, weights: dict[str, float], n: int = 3) -> list[Reason]:
        """The top ``n`` reasons as chips: the lead's own fact for fit rules, the count for behaviour."""
        reasons = []
        for rule, section, points, shown in self.hits(facts, weights, n):
            label = self.label(rule, section)
            words = self.dictionary  # read by ``label`` when the page was given a reader
            if section == "behaviour":
                kind = rule.get("kind")
                name = words.kind_label(kind) if words and kind in words.kinds else self.kinds.get(kind, label)
                short = f"{name} ×{shown}"
            elif rule.get("field") in vocab.FIELDS:
                field = rule["field"]
                value = facts.get(field)
                named = words is not None and field in words.attributes
                name = words.label(field) if named else vocab.FIELDS[field].label
                if named and field != "persona" and not isinstance(value, int):
                    fact = words.value_label(field, value)
                else:
                    fact = _fact_label(field, value, self.names)
                short = f"{name}: {fact}" if value not in (None, "") else label
            else:
                short = label
            reasons.append(Reason(points=points, short=short, full=label))
        return reasons


# Row links are built from one reversed template per action instead of ~6 reverse() calls per
# row: on a 50-row page that is most of the URL work of the page.
_PK = 987654321
ROW_URLS = ("lead_detail", "accept", "claim", "recycle", "reject", "reassign", "convert", "won", "lost", "attempt")


_ROW_URLS: dict[tuple, dict[str, str]] = {}


def row_url_templates() -> dict[str, str]:
    """The row links with a placeholder id, reversed once per process (per URLconf and script prefix)."""
    from django.urls import get_script_prefix, get_urlconf, reverse

    key = (get_script_prefix(), get_urlconf())
    if key not in _ROW_URLS:
        _ROW_URLS[key] = {name: reverse(f"leads:{name}", args=[_PK]) for name in ROW_URLS}
    return _ROW_URLS[key]


@dataclass
class InboxRow:
    lead: Lead
    reasons: list
    sla: SlaClock
    age: str
    urls: dict[str, str] = field(default_factory=dict)
    name: str = ""
    persona: str = ""
    followup: object = None  # leads.inbox.followup.FollowUpStatus of an SAL on the Accepted tab


@dataclass
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None
    counts: dict[str, str]
    version: object


def _age(since: dt.datetime | None, now: dt.datetime) -> str:
    if since is None:
        return "—"
    seconds = max(0, (now - since).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def row_for(
    lead: Lead,
    *,
    rules: ReasonRules,
    weights: dict,
    calendar: BusinessCalendar | BusinessClock,
    now,
    urls: dict | None = None,
) -> InboxRow:
    urls = urls or row_url_templates()
    return InboxRow(
        lead=lead,
        reasons=rules.reasons(facts_for_lead(lead), weights),
        sla=sla_clock(lead, calendar, now),
        age=_age(lead.mql_at or lead.created_at, now),
        urls={name: url.replace(str(_PK), str(lead.pk)) for name, url in urls.items()},
        name=str(lead),
        persona=rules.names.get(lead.persona_id) or str(lead.persona) if lead.persona_id else "",
    )


# What a row reads (its cells, its reasons' facts, its SLA clock, the cursor): the page's query
# loads these columns only, and persona names come from one dict instead of a join.
ROW_FIELDS = (
    *("first_name", "last_name", "email", "job_title", "seniority", "department", "persona_id", "email_domain"),
    *("budget", "authority", "need", "timeline", "source", "grade", "score", "fit_score", "completeness"),
    "recycled_at",
    *("mql_at", "created_at", "sla_due_at", "first_action_at", "owner_id", "owner__username", "account_id"),
    *("stage", "opportunity_amount", "owner__first_name", "owner__last_name"),
    # What rules read besides the columns above: the lead's own country, and custom attributes.
    *("country", "region", "attributes"),
    *(f"account__{name}" for name in ("name", "country", "industry", "employees", "annual_revenue", "region")),
    "account__attributes",
)


def _capped(n: int) -> str:
    return f"{COUNT_CAP - 1}+" if n >= COUNT_CAP else str(n)


def _count_parts(viewer: Viewer) -> tuple[tuple[str, ...], list[str], list]:
    """The tabs, one ``(SELECT count(*) …)`` per tab and their parameters, compiled once per viewer.

    The statement is a pure function of the viewer's user, teams and admin flag, so a process keeps
    it instead of building and compiling three querysets on every page (~2 ms of CPU per request).
    The MQL tabs keep their queue order so that PostgreSQL walks lead_mql_queue_idx and stops after
    100 rows (0.5 ms on 1M leads); unordered, it chose a sequential scan that reads until it has
    found 100 unassigned MQLs, wherever they lie in the table (6-27 ms for a 1,000 cap, measured).
    """
    key = (viewer.user.pk, viewer.is_admin, viewer.managed_team_ids, viewer.team_id)
    compiled = _COUNT_SQL.get(key)
    if compiled is None:
        tabs = InboxTab.for_viewer(viewer)
        parts, params = [], []
        for i, tab in enumerate(tabs):
            qs = inbox_queryset(viewer, tab)
            if tab == InboxTab.ACCEPTED:
                qs = qs.order_by()  # an SDR's few hundred, found through lead_owner_stage_idx: no need to sort them
            sql, tab_params = qs.values("id")[:COUNT_CAP].query.sql_with_params()
            # Django's compiled SQL of our own queryset; every value in it is a bound parameter.
            parts.append(f"(SELECT count(*) FROM ({sql}) AS tab{i})")  # noqa: S608
            params.extend(tab_params)
        if len(_COUNT_SQL) >= 4096:  # bounded: one entry per user who opened the inbox
            _COUNT_SQL.clear()
        compiled = _COUNT_SQL[key] = (tabs, parts, params)
    return compiled


_COUNT_SQL: dict[tuple, tuple[tuple[str, ...], list[str], list]] = {}


@dataclass(frozen=True)
class InboxHeader:
    counts: dict[str, str]  # tab → badge
    names: dict[int, str]  # persona id → name, in name order (archived ones too: old leads name them)
    version: AgreementVersion | None  # the active agreement version
    filter_names: dict[int, str] = field(default_factory=dict)  # the personas one may filter by: not archived


# The active version per process, keyed by (id, updated_at): an active version's spec never
# changes (edits happen on drafts, publishing activates another row), and any save bumps updated_at.
_ACTIVE_VERSION: dict[tuple, AgreementVersion] = {}


def _active_version(stamp: tuple) -> AgreementVersion | None:
    if stamp[0] is None:
        return None
    version = _ACTIVE_VERSION.get(stamp)
    if version is None:
        version = AgreementVersion.objects.filter(pk=stamp[0]).first()
        if version is None:
            return None
        _ACTIVE_VERSION.clear()
        _ACTIVE_VERSION[stamp] = version
    return version


def inbox_header(viewer: Viewer) -> InboxHeader:
    """The tab badges, the persona names and which agreement version is active, in one round trip.

    On PostgreSQL the persona names come back in the same statement (``json_agg``); elsewhere they
    cost one more query. The active version's spec (a few KB of JSON) is read only when the active
    version changed since this process last read it.
    """
    tabs, parts, params = _count_parts(viewer)
    versions = connection.ops.quote_name(AgreementVersion._meta.db_table)
    active = f"FROM {versions} WHERE status = %s ORDER BY number DESC LIMIT 1"
    columns = [*parts, f"(SELECT id {active})", f"(SELECT updated_at {active})"]
    params = [*params, AgreementVersion.Status.ACTIVE, AgreementVersion.Status.ACTIVE]
    postgres = connection.vendor == "postgresql"
    if postgres:
        personas = connection.ops.quote_name(Persona._meta.db_table)
        columns.append(
            f"(SELECT json_agg(json_build_array(id, name, archived_at IS NULL) ORDER BY name) FROM {personas})"  # noqa: S608 - the table name from _meta
        )
    with connection.cursor() as cursor:
        # Table names from _meta and compiled querysets; values are bound parameters.
        cursor.execute(f"SELECT {', '.join(columns)}", params)
        row = cursor.fetchone()
    counts = {tab: _capped(n) for tab, n in zip(tabs, row[: len(tabs)], strict=True)}
    stamp = (row[len(tabs)], row[len(tabs) + 1])
    persona_rows = (row[len(tabs) + 2] or ()) if postgres else _persona_rows()
    return InboxHeader(
        counts=counts,
        names={pk: name for pk, name, _ in persona_rows},
        version=_active_version(stamp),
        filter_names={pk: name for pk, name, active in persona_rows if active},
    )


def inbox_row(lead: Lead, now: dt.datetime | None = None) -> InboxRow:
    """One inbox row (after an action that keeps the lead in its tab), as ``inbox_page`` writes it."""
    now = now or timezone.now()
    version = AgreementVersion.objects.active()
    spec = version.spec if version else {}
    rules = ReasonRules(spec, persona_names(), lambda: load_rule_labels(spec))
    weights = weights_for_leads([lead], spec, now)[lead.id]
    row = row_for(lead, rules=rules, weights=weights, calendar=calendar_for(version), now=now)
    row.followup = followup_statuses([lead], version).get(lead.pk)
    return row


def inbox_page(
    *,
    viewer: Viewer,
    tab: str,
    filters: InboxFilters,
    cursor: str = "",
    now: dt.datetime | None = None,
    size: int = INBOX_PAGE_SIZE,
    header: InboxHeader,
) -> InboxPage:
    """One page of a tab: rows with their top three reasons and SLA clock, a cursor to the next page.

    ``header`` (``inbox_header``) brings the tab badges, persona names and active version.
    """
    now = now or timezone.now()
    qs = inbox_queryset(viewer, tab, filters).select_related("account", "owner").only(*ROW_FIELDS)
    position = decode_cursor(cursor) if cursor else None
    if position:
        qs = after_cursor(qs, position)
    leads = list(qs[: size + 1])
    more = len(leads) > size
    leads = leads[:size]
    version = header.version
    spec = version.spec if version else {}
    calendar = BusinessClock.for_leads(calendar_for(version), leads, now)
    weights = weights_for_leads(leads, spec, now)
    urls = row_url_templates()
    rules = ReasonRules(spec, header.names, lambda: load_rule_labels(spec))
    rows = [
        row_for(lead, rules=rules, weights=weights[lead.id], calendar=calendar, now=now, urls=urls) for lead in leads
    ]
    if tab == InboxTab.ACCEPTED:
        statuses = followup_statuses(leads, version)
        for row in rows:
            row.followup = statuses.get(row.lead.pk)
    return InboxPage(
        rows=rows,
        next_cursor=encode_cursor(leads[-1]) if more else None,
        counts=header.counts,
        version=version,
    )
