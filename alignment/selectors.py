"""Reads for the agreement pages: a fixed number of queries per page, aggregated in SQL."""

from __future__ import annotations

from django.db.models import Count, Max, Prefetch, Q

from alignment import diff as spec_diff
from alignment import spec as vocab
from alignment.dictionary import Dictionary, load_dictionary
from alignment.models import AgreementEvent, AgreementRevision, AgreementVersion, Comment, Persona, SignOff
from alignment.services import OPEN_STATUSES, SIDE_ROLES, active_persona_ids, persona_names
from alignment.validation import validate_spec

Status = AgreementVersion.Status


def versions_with_signatures():
    """Every version, newest first, with its live and voided sign-offs prefetched."""
    return (
        AgreementVersion.objects.select_related("author", "published_by", "based_on")
        .prefetch_related(Prefetch("signoffs", queryset=SignOff.objects.select_related("user").order_by("signed_at")))
        .order_by("-number")
    )


def signature_slots(version: AgreementVersion) -> list[dict]:
    """Per side: the live signature (if any) and the voided ones, for the sign-off card."""
    signoffs = list(version.signoffs.all())
    slots = []
    for side, role in SIDE_ROLES.items():
        mine = [s for s in signoffs if s.side == side]
        live = next((s for s in mine if s.voided_at is None), None)
        slots.append(
            {
                "side": side,
                "label": SignOff.Side(side).label,
                "role": role.label,
                "live": live,
                "current": live is not None and live.revision == version.revision,
                "voided": [s for s in mine if s.voided_at is not None],
            }
        )
    return slots


def comment_threads(version: AgreementVersion, *, rule_id: str | None = None):
    """Root comments of a version (all, or those on one rule / the version itself) with replies."""
    roots = Comment.objects.filter(version=version, parent__isnull=True)
    if rule_id is not None:
        roots = roots.filter(rule_id=rule_id)
    return roots.select_related("author", "resolved_by").prefetch_related(
        Prefetch("replies", queryset=Comment.objects.select_related("author").order_by("created_at"))
    )


def unresolved_threads(version: AgreementVersion) -> list[Comment]:
    """Open comment threads of a version, oldest first (the sign dialog warns about them)."""
    return list(
        Comment.objects.filter(version=version, parent__isnull=True, resolved_at__isnull=True)
        .select_related("author")
        .order_by("created_at")
    )


def comment_counts(version: AgreementVersion) -> dict:
    """Unresolved threads in all, and per rule id (open threads and all threads) for the rule badges."""
    rows = (
        Comment.objects.filter(version=version, parent__isnull=True)
        .values("rule_id")
        .annotate(total=Count("id"), open=Count("id", filter=Q(resolved_at__isnull=True)))
        .order_by()
    )
    per_rule = {r["rule_id"]: {"total": r["total"], "open": r["open"]} for r in rows}
    return {"unresolved": sum(r["open"] for r in per_rule.values()), "per_rule": per_rule}


def last_saves(version: AgreementVersion) -> dict[int, object]:
    """When each author last saved this version: user id → datetime."""
    rows = (
        AgreementRevision.objects.filter(version=version, author__isnull=False)
        .values("author")
        .annotate(at=Max("created_at"))
        .order_by()
    )
    return {r["author"]: r["at"] for r in rows}


def latest_revision(version: AgreementVersion) -> AgreementRevision | None:
    return AgreementRevision.objects.filter(version=version).select_related("author").order_by("-revision").first()


def recent_events(version: AgreementVersion | None = None, limit: int = 50):
    events = AgreementEvent.objects.select_related("actor", "version").order_by("-at", "-id")
    if version is not None:
        events = events.filter(version=version)
    return events[:limit]


def open_draft_summary() -> dict | None:
    """The open draft with what its card shows: signatures, unresolved comments, problems, changes."""
    draft = versions_with_signatures().filter(status__in=OPEN_STATUSES).first()
    if draft is None:
        return None
    names = persona_names()
    dictionary = load_dictionary()
    base = draft.based_on.spec if draft.based_on else {}
    changes = spec_diff.spec_changes(base, draft.spec, names, dictionary)
    return {
        "version": draft,
        "signatures": signature_slots(draft),
        "comments": comment_counts(draft),
        "problems": validate_spec(draft.spec, persona_ids=active_persona_ids(), dictionary=dictionary),
        "changes": changes,
        "last_revision": latest_revision(draft),
    }


def version_pair(
    a: AgreementVersion | None, b: AgreementVersion | None, names: dict | None = None, dictionary=None
) -> list[spec_diff.Change]:
    """What changed from ``a`` to ``b``; ``names`` and ``dictionary``: what the page has already read."""
    if a is None or b is None:
        return []
    names = persona_names() if names is None else names
    return spec_diff.spec_changes(a.spec, b.spec, names, load_dictionary() if dictionary is None else dictionary)


def _band_range(band: dict) -> str:
    low, high = band.get("min"), band.get("max")
    if low is None and high is None:
        return "any fit score"
    if low is None:
        return f"{high} or less"
    if high is None:
        return f"{low} or more"
    return f"{low} to {high}"


def document(spec: dict, names: dict | None = None, dictionary=None) -> dict:
    """The spec as the readable document every role sees (and prints), in the dictionary's labels."""
    names = persona_names() if names is None else names
    dictionary = load_dictionary() if dictionary is None else dictionary
    sla = spec.get("sla", {})
    calendar = sla.get("calendar", {})
    days = sorted(calendar.get("working_days", []))
    return {
        "fit_rules": [
            {"id": r.get("id"), "text": vocab.describe_condition(r, names, dictionary), "points": r.get("points", 0)}
            for r in spec.get("fit_rules", [])
        ],
        "knockouts": [
            {"id": r.get("id"), "label": r.get("label"), "text": vocab.describe_condition(r, names, dictionary)}
            for r in spec.get("knockouts", [])
        ],
        "behaviour_rules": [
            {
                "id": r.get("id"),
                "kind": spec_diff.kind_label(r.get("kind"), dictionary),
                "terms": spec_diff.behaviour_terms(r),
                "points": r.get("points", 0),
            }
            for r in spec.get("behaviour_rules", [])
        ],
        "mql_threshold": spec.get("mql_threshold"),
        "grade_bands": [
            {
                "grade": b.get("grade"),
                "range": _band_range(b),
                "hours": sla.get("response_hours", {}).get(b.get("grade")),
            }
            for b in spec.get("grade_bands", [])
        ],
        "calendar": {
            "time_zone": calendar.get("time_zone"),
            "days": ", ".join(vocab.WEEKDAYS[d] for d in days if isinstance(d, int) and 0 <= d <= 6),
            "hours": f"{calendar.get('start')}–{calendar.get('end')}",
            "holidays": calendar.get("holidays", []),
        },
        "followup": sla.get("followup", {}),
        "monthly_mql_quota": sla.get("monthly_mql_quota"),
        "reject_reasons": spec.get("reject_reasons", []),
        "recycle_reasons": spec.get("recycle_reasons", []),
    }


def with_comment_counts(doc: dict, counts: dict) -> dict:
    """Attach each rule's comment counts ({"open", "total"}) for the rule badges of the workspace."""
    for section in ("fit_rules", "knockouts", "behaviour_rules"):
        for rule in doc[section]:
            rule["comments"] = counts["per_rule"].get(rule["id"], {"open": 0, "total": 0})
    return doc


def persona_changes(persona: Persona, *, limit: int = 50) -> list[dict]:
    """The persona's last ``limit`` history records, newest first, each with its changed fields.

    One query: each record is compared with the next older one in the same list (``limit + 1``
    are read), not through ``prev_record``, which costs a query per record.
    """
    records = list(persona.history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1])
    changes = []
    for record, previous in zip(records[:limit], [*records[1:], None], strict=False):
        diffs = record.diff_against(previous).changes if previous else []
        fields = [
            {"field": Persona._meta.get_field(d.field).verbose_name, "old": d.old, "new": d.new}
            for d in diffs
            if d.field != "updated_at"
        ]
        changes.append({"record": record, "fields": fields})
    return changes


# --- Model cards of versions that began as proposals from outcomes -----------------------------

CURVE_COLOURS = ("#0d6efd", "#6c757d", "#198754")


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


# How a model card names an activity kind among the attributes it used ("activity:<kind>").
ACTIVITY_PREFIX = "activity:"


def _attribute_label(key: str, stored: str, dictionary: Dictionary | None) -> str:
    """An attribute or kind the card names, by the dictionary's label today (else as it was fitted)."""
    if dictionary is None:
        return stored
    if key.startswith(ACTIVITY_PREFIX):
        kind = key.removeprefix(ACTIVITY_PREFIX)
        return dictionary.kind_label(kind) if kind in dictionary.kinds else stored
    return dictionary.label(key) if key in dictionary.attributes else stored


def card_view(card: dict | None, dictionary: Dictionary | None = None) -> dict | None:
    """A model card as the pages show it: figures formatted, capture curves as SVG polylines
    (0–100 on both axes, y upwards), the threshold of each definition marked on its curve;
    the attributes it used and left out named by ``dictionary``'s labels."""
    if not card:
        return None
    sides = [card["proposal"], *card.get("compare", [])]
    rows, curves = [], []
    for side, colour in zip(sides, CURVE_COLOURS, strict=False):
        per_month = side.get("per_month")
        rows.append(
            {
                "label": side["label"],
                "auc": "—" if side.get("auc") is None else f"{side['auc']:.2f}",
                "threshold": side.get("mql_threshold"),
                "mqls": side.get("mqls"),
                "per_month": "—" if per_month is None else f"{per_month:,.0f}",
                "captured": _pct(side.get("captured")),
                "rate_inside": _pct(side.get("rate_inside")),
                "flagged": _pct(side.get("flagged")),
            }
        )
        points = " ".join(f"{100 * x:.2f},{100 - 100 * y:.2f}" for x, y in side.get("curve", []))
        marker = None
        if side.get("flagged") is not None and side.get("captured") is not None:
            marker = {"x": f"{100 * side['flagged']:.2f}", "y": f"{100 - 100 * side['captured']:.2f}"}
        curves.append({"label": side["label"], "points": points, "marker": marker, "colour": colour})
    proposal_grades = {g["grade"]: g for g in card["proposal"].get("by_grade", [])}
    return {
        **card,
        "attributes_used": [
            {**a, "label": _attribute_label(a["attribute"], a.get("label", a["attribute"]), dictionary)}
            for a in card.get("attributes_used", [])
        ],
        "attributes_excluded": [
            {**a, "label": _attribute_label(a["attribute"], a.get("label", a["attribute"]), dictionary)}
            for a in card.get("attributes_excluded", [])
        ],
        "rows": rows,
        "curves": curves,
        "calibration": [
            {
                "grade": grade,
                "leads": proposal_grades.get(grade, {}).get("leads", 0),
                "predicted": _pct(proposal_grades.get(grade, {}).get("predicted")),
                "actual": _pct(proposal_grades.get(grade, {}).get("actual")),
            }
            for grade in vocab.GRADES
        ],
        "others_by_grade": [
            {
                "label": side["label"],
                "grades": [
                    {"grade": g["grade"], "leads": g["leads"], "actual": _pct(g["actual"])} for g in side["by_grade"]
                ],
            }
            for side in card.get("compare", [])
        ],
        "cv_auc_text": "—" if card.get("cv_auc") is None else f"{card['cv_auc']:.2f}",
        "folds_text": ", ".join("—" if a is None else f"{a:.2f}" for a in card.get("cv_auc_folds", [])),
    }


def with_data_notes(doc: dict, spec: dict, card: dict | None) -> dict:
    """Attach to each rule the evidence it was proposed with ("from data: …"), marking rules edited since."""
    if not card:
        return doc
    notes, adopted = card.get("rule_notes", {}), card.get("rules", {})
    current = {r.get("id"): r for section in ("fit_rules", "behaviour_rules") for r in spec.get(section, [])}
    for section in ("fit_rules", "behaviour_rules"):
        for rule in doc[section]:
            note = notes.get(rule["id"])
            if note:
                edited = adopted.get(rule["id"]) not in (None, current.get(rule["id"]))
                rule["data_note"] = f"{note} (as proposed, before it was edited)" if edited else note
    return doc
