"""Keep ``sla.Pass`` — every pass of the lifecycle log with its end and business seconds — up to date.

Triggers (migration 0002) queue the lead of every new transition, and of every change to a lead's
team, source, persona or owner, in ``sla_dirtylead`` within the writing transaction. ``refresh``
runs before any figure is read: it takes the queue (``DELETE … RETURNING``) and recomputes those
leads' passes from ``leads_transition`` in one ``INSERT … SELECT … ON CONFLICT DO UPDATE``. A
changed calendar or hour-table origin (the stored business seconds are relative to it) rebuilds
every pass. Refreshes are serialised by an advisory lock so that an older snapshot can never
overwrite a newer one.
"""

from __future__ import annotations

import datetime as dt
import json

from django.db import transaction
from django.utils import timezone

from sla import sql as S
from sla.clock import SlaTerms, ensure_hours
from sla.models import PassState

LOCK_KEY = 0x51A9A55  # pg_advisory_xact_lock key of the pass refresh
PASS_STAGES = ("mql", "sal", "sql", "won")
# Beyond this many dirty leads one full rebuild is cheaper than an id list.
FULL_REBUILD_AT = 200_000

COLUMNS = (
    "pass_id, lead_id, stage, start_at, start_owner_id, grade, version_id, team_id, source, persona_id, owner_id,"
    " end_id, end_at, end_to_stage, end_actor_id, end_owner_id, end_reason_code, calendar_key, start_cum, end_cum"
)


def _upsert_sql(*, by_ids: bool) -> str:
    stages = ", ".join(f"'{s}'" for s in PASS_STAGES)
    if S.pg():
        lead_filter = " AND t.lead_id = ANY(%(ids)s)" if by_ids else ""
        source = """
          FROM leads_transition t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN LATERAL (
            SELECT x.id, x.at, x.to_stage, x.actor_id, x.owner_id, x.reason_code FROM leads_transition x
            WHERE x.lead_id = t.lead_id AND (x.at, x.id) > (t.at, t.id) ORDER BY x.at, x.id LIMIT 1) n ON TRUE"""
    else:
        lead_filter = " AND t0.lead_id IN (SELECT value FROM json_each(%(ids)s))" if by_ids else ""
        source = f"""
          FROM (SELECT t0.*, (SELECT x.id FROM leads_transition x
                               WHERE x.lead_id = t0.lead_id AND (x.at, x.id) > (t0.at, t0.id)
                               ORDER BY x.at, x.id LIMIT 1) AS next_id
                FROM leads_transition t0 WHERE t0.to_stage IN ({stages}){lead_filter}) t
          JOIN leads_lead l ON l.id = t.lead_id
          LEFT JOIN leads_transition n ON n.id = t.next_id"""
        lead_filter = ""
    updates = ", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in COLUMNS.split(",")[1:])
    return f"""
        INSERT INTO sla_pass ({COLUMNS})
        SELECT t.id, t.lead_id, t.to_stage, t.at, t.owner_id, COALESCE(NULLIF(t.grade, ''), 'D'),
               t.agreement_version_id, l.team_id, l.source, l.persona_id, l.owner_id,
               n.id, n.at, n.to_stage, n.actor_id, n.owner_id, n.reason_code, %(key)s,
               {S.cum("hs", "t.at")}, CASE WHEN n.id IS NULL THEN NULL ELSE {S.cum("he", "n.at")} END
        {source}
          JOIN sla_businesshour hs ON hs.calendar_key = %(key)s AND hs.hour_start = {S.hour("t.at")}
          LEFT JOIN sla_businesshour he ON he.calendar_key = %(key)s AND he.hour_start = {S.hour("n.at")}
        WHERE t.to_stage IN ({stages}){lead_filter}
        ON CONFLICT (pass_id) DO UPDATE SET {updates}"""


def _rebuild(terms: SlaTerms, origin: dt.datetime, now: dt.datetime) -> int:
    S.run("DELETE FROM sla_dirtylead", {})
    S.run("DELETE FROM sla_pass", {})
    S.run(_upsert_sql(by_ids=False), {"key": terms.key})
    PassState.objects.all().delete()
    PassState.objects.create(calendar_key=terms.key, hours_origin=origin, built_at=now)
    if S.pg():
        S.run("ANALYZE sla_pass", {})
    return -1


def refresh(*, terms: SlaTerms, now: dt.datetime | None = None) -> int:
    """Bring the pass table up to date; the number of leads recomputed (-1 after a full rebuild)."""
    now = now or timezone.now()
    origin = ensure_hours(terms, now=now)
    with transaction.atomic():
        if S.pg():
            S.run("SELECT pg_advisory_xact_lock(%(k)s)", {"k": LOCK_KEY})
        state = PassState.objects.first()
        if state is None or state.calendar_key != terms.key or state.hours_origin != origin:
            return _rebuild(terms, origin, now)
        claimed = sorted({row[0] for row in S.run("DELETE FROM sla_dirtylead RETURNING lead_id", {})})
        if not claimed:
            return 0
        if len(claimed) > FULL_REBUILD_AT:
            return _rebuild(terms, origin, now)
        S.run(_upsert_sql(by_ids=True), {"key": terms.key, "ids": claimed if S.pg() else json.dumps(claimed)})
        return len(claimed)
