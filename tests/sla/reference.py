"""A brute-force recomputation of the SLA figures in plain Python, straight from Transition rows.

Deliberately naive (loops over every lead and transition, ``BusinessCalendar.hours_between`` for
business time) so that it shares nothing with the SQL in ``sla.figures`` but the definitions in
that module's docstring.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sla.clock import SlaTerms
from sla.figures import DISTRIBUTION_EDGES, TREND_WEEKS, Scope

ACCEPT = {"sal", "sql", "won"}


def _nearest_rank(values: list[float], p: float):
    if not values:
        return None
    ordered = sorted(values)
    k = -(-len(ordered) * int(p * 10) // 10)  # ceil(p·n) for p in tenths
    return ordered[k - 1]


def _kind(nxt) -> str:
    if nxt is None:
        return "open"
    if nxt.actor_id is None:
        return "withdrawn"
    if nxt.to_stage in ACCEPT:
        return "accepted"
    if nxt.to_stage == "rejected":
        return "rejected"
    if nxt.to_stage == "nurture":
        return "recycled"
    return "disqualified"


def _published_targets(versions) -> tuple[dict, dict]:
    """Response hours of every signed version (read from their specs) and of the active one."""
    signed = {v.id: (v.spec.get("sla") or {}).get("response_hours") or {} for v in versions if v.status in SIGNED}
    active = next((v for v in versions if v.status == "active"), None)
    return signed, signed.get(active.id, {}) if active else {}


SIGNED = ("active", "retired")


def _attempt_times() -> dict[int, list]:
    """Every logged follow-up attempt's time, by lead, in order."""
    from leads.models import FollowUpAttempt

    times = defaultdict(list)
    for lead_id, at in FollowUpAttempt.objects.values_list("lead_id", "at"):
        times[lead_id].append(at)
    return {k: sorted(v) for k, v in times.items()}


def _followup(t, nxt, attempts: list, terms: SlaTerms, now, target: float) -> tuple[str, float]:
    """An SAL pass's kind and elapsed seconds: to the Nth attempt between acceptance and the pass's end;
    without N, to now while open, to the move when it went on to SQL or won, else past the target."""
    window = [a for a in attempts if a >= t.at and (nxt is None or a <= nxt.at)]
    n = terms.followup_attempts
    if len(window) >= n:
        elapsed = terms.calendar.hours_between(t.at, window[n - 1]) * 3600
        return ("followed" if nxt is None else _kind(nxt)), round(elapsed, 3)
    if nxt is None:
        return "open", round(terms.calendar.hours_between(t.at, now) * 3600, 3)
    spent = round(terms.calendar.hours_between(t.at, nxt.at) * 3600, 3)
    if nxt.to_stage in ("sql", "won"):
        return _kind(nxt), spent
    return _kind(nxt), max(spent, target + 1)


def _passes(transitions, leads, terms: SlaTerms, now, stage="mql", versions=None):
    attempts = _attempt_times() if stage == "sal" else {}
    by_lead = defaultdict(list)
    for t in transitions:
        by_lead[t.lead_id].append(t)
    out = []
    for lead_id, rows in by_lead.items():
        rows.sort(key=lambda t: (t.at, t.id))
        for i, t in enumerate(rows):
            if t.to_stage != stage:
                continue
            nxt = rows[i + 1] if i + 1 < len(rows) else None
            grade = t.grade or "D"
            if stage == "mql" and versions is not None:
                # The version recorded on the MQL transition holds the pass to its own targets.
                signed, active = _published_targets(versions)
                hours = signed.get(t.agreement_version_id, active).get(grade)
                target = hours * 3600 if hours is not None else None
            elif stage == "mql":
                if t.agreement_version_id in terms.targets_by_version:
                    hours = terms.targets_by_version[t.agreement_version_id].get(grade)
                else:
                    hours = terms.response_hours.get(grade)
                target = hours * 3600 if hours is not None else None
            else:
                target = terms.followup_days * terms.calendar.hours_per_day * 3600
            end = nxt.at if nxt else now
            elapsed = round(terms.calendar.hours_between(t.at, end) * 3600, 3)
            kind = _kind(nxt)
            if stage == "sal":
                kind, elapsed = _followup(t, nxt, attempts.get(lead_id, []), terms, now, target)
            lead = leads[lead_id]
            sdr = lead.owner_id if nxt is None else (nxt.owner_id or nxt.actor_id)
            out.append(
                {
                    "lead": lead,
                    "start": t.at,
                    "kind": kind,
                    "reason": nxt.reason_code if nxt else None,
                    "sdr": sdr,
                    "target": target,
                    "elapsed": elapsed,
                    "acted": kind not in ("open", "withdrawn"),
                    "breached": target is not None and elapsed > target,
                    "warned": target is not None and elapsed >= 0.75 * target,
                    "is_latest": nxt is None,
                }
            )
    return out


def _lead_ok(lead, scope: Scope) -> bool:
    return (
        (not scope.team_id or lead.team_id == scope.team_id)
        and (not scope.source or lead.source == scope.source)
        and (not scope.persona_id or lead.persona_id == scope.persona_id)
    )


def counted(transitions) -> list:
    """The log as the SLA reads it: an undo and the move it took back are both left out."""
    by_lead = defaultdict(list)
    for t in transitions:
        by_lead[t.lead_id].append(t)
    out = []
    for rows in by_lead.values():
        rows.sort(key=lambda t: (t.at, t.id))
        for i, t in enumerate(rows):
            undone = i + 1 < len(rows) and rows[i + 1].reason_code == "undo"
            if t.reason_code != "undo" and not undone:
                out.append(t)
    return out


def brute_force(transitions, leads: dict, scope: Scope, terms: SlaTerms, versions=None) -> dict:
    """The figures ``sla.figures.compute`` must produce, by looping over everything.

    With ``versions`` (every ``AgreementVersion``) targets are read from the versions' own specs.
    Undone moves and their undos count for nothing.
    """
    transitions = counted(transitions)
    now = scope.now
    passes = [p for p in _passes(transitions, leads, terms, now, versions=versions) if _lead_ok(p["lead"], scope)]
    if scope.sdr_id:
        passes = [p for p in passes if p["sdr"] == scope.sdr_id]
    in_range = [p for p in passes if scope.start <= p["start"] < scope.end]
    kinds = defaultdict(int)
    for p in in_range:
        kinds[p["kind"]] += 1
    acted = [p for p in in_range if p["acted"]]
    dist = [0] * (len(DISTRIBUTION_EDGES) + 1)
    for p in acted:
        if p["target"] is None:
            continue
        for i, edge in enumerate(DISTRIBUTION_EDGES):
            if p["elapsed"] <= edge * p["target"]:
                dist[i] += 1
                break
        else:
            dist[-1] += 1
    reasons = {"rejected": defaultdict(int), "recycled": defaultdict(int)}
    for p in in_range:
        if p["kind"] in reasons:
            reasons[p["kind"]][p["reason"] or ""] += 1
    weeks = scope.week_starts
    trends = []
    for i in range(TREND_WEEKS):
        wk = [p for p in passes if weeks[i] <= p["start"] < weeks[i + 1]]
        wk_acted = [p["elapsed"] for p in wk if p["acted"]]
        trends.append(
            {
                "mqls": len(wk),
                "accepted": sum(p["kind"] == "accepted" for p in wk),
                "acted": len(wk_acted),
                "breaches": sum(p["breached"] for p in wk),
                "median_seconds": _nearest_rank(wk_acted, 0.5),
            }
        )
    sdrs = defaultdict(lambda: {"passes": 0, "accepted": 0, "breaches": 0, "elapsed": []})
    for p in in_range:
        s = sdrs[p["sdr"]]
        s["passes"] += 1
        s["accepted"] += p["kind"] == "accepted"
        s["breaches"] += p["breached"]
        if p["acted"]:
            s["elapsed"].append(p["elapsed"])
    # Open now: MQL passes that are the lead's latest transition, whenever they started.
    open_now = [
        p
        for p in _passes(transitions, leads, terms, now, versions=versions)
        if p["is_latest"] and p["lead"].stage == "mql" and _lead_ok(p["lead"], scope)
    ]
    if scope.sdr_id:
        open_now = [p for p in open_now if p["sdr"] == scope.sdr_id]
    sal = [p for p in _passes(transitions, leads, terms, now, stage="sal") if _lead_ok(p["lead"], scope)]
    if scope.sdr_id:
        sal = [p for p in sal if p["sdr"] == scope.sdr_id]
    sal = [p for p in sal if scope.start <= p["start"] < scope.end]
    funnel = defaultdict(int)
    for t in transitions:
        if (
            t.to_stage in ("sal", "sql", "won")
            and scope.start <= t.at < scope.end
            and _lead_ok(leads[t.lead_id], scope)
        ) and (not scope.sdr_id or t.owner_id == scope.sdr_id):
            funnel[t.to_stage] += 1
    elapsed = [p["elapsed"] for p in acted]
    return {
        "delivered": len(in_range),
        "kinds": dict(kinds),
        "breaches": sum(p["breached"] for p in in_range),
        "within": sum(p["acted"] and not p["breached"] for p in in_range),
        "median_seconds": _nearest_rank(elapsed, 0.5),
        "p90_seconds": _nearest_rank(elapsed, 0.9),
        "distribution": dist,
        "reasons": {k: dict(v) for k, v in reasons.items()},
        "trends": trends,
        "sdrs": dict(sdrs.items()),
        "open_now": {
            "open": len(open_now),
            "at_risk": sum(p["warned"] and not p["breached"] for p in open_now),
            "overdue": sum(p["breached"] for p in open_now),
        },
        "followup": {
            "n": len(sal),
            "kept": sum(p["kind"] != "open" and not p["breached"] for p in sal),
            "missed": sum(p["breached"] for p in sal),
        },
        "funnel": {"mql": len(in_range), **dict(funnel)},
        "acted": len(acted),
        "sdr_breaches": {sid: s["breaches"] for sid, s in sdrs.items()},
    }


def reason_words(code: str, versions, at: dt.datetime) -> str:
    """A reason bar's words: the signed version in force at ``at``, else the newest signed one with the code."""
    if not code:
        return "No reason given"
    signed = sorted((v for v in versions if v.status in SIGNED), key=lambda v: (v.published_at, v.number))

    def label(v):
        return {r["code"]: r["label"] for k in ("reject", "recycle") for r in v.spec.get(f"{k}_reasons", [])}.get(code)

    in_force = [v for v in signed if v.published_at <= at]
    if in_force and label(in_force[-1]):
        return label(in_force[-1])
    for v in reversed(signed):
        if label(v):
            return label(v)
    return code.replace("_", " ").capitalize()


def hours(seconds) -> float | None:
    return round(float(seconds) / 3600, 2) if seconds is not None else None


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)
