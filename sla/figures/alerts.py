"""Open MQL passes that crossed 75 % or 100 % of their target and lack that alert: the breach job's reading."""

from __future__ import annotations

import datetime as dt

from leads.sql import sql
from sla import sql as S
from sla.clock import SlaTerms
from sla.pass_sql import passes_ctes, run
from sla.weeks import Scope

__all__ = ["AlertCandidate", "alert_candidates"]

AlertCandidate = tuple[int, int, dt.datetime, float | None, int]  # pass, lead, start, target seconds, breached


def alert_candidates(terms: SlaTerms, now: dt.datetime) -> list[AlertCandidate]:
    """One statement: open passes from the partial index ``sla_pass_open_cover_idx``, each probed for
    its alert on the unique ``sla_alert_once_per_pass`` (mql_transition, threshold)."""
    scope = Scope(start=now, end=now, tz=terms.calendar.tz, now=now)
    ctes = passes_ctes(prefix="o", source="open", scope=scope, terms=terms)
    statement = sql(
        """
        WITH {ctes}
        SELECT oq.pass_id, oq.lead_id, oq.start_at, oq.target_seconds, oq.breached
        FROM oq
        WHERE oq.warned = 1 AND (
          (oq.breached = 0 AND NOT EXISTS (
             SELECT 1 FROM sla_alert a WHERE a.mql_transition_id = oq.pass_id AND a.threshold = 'warning'))
          OR (oq.breached = 1 AND NOT EXISTS (
             SELECT 1 FROM sla_alert a WHERE a.mql_transition_id = oq.pass_id AND a.threshold = 'breach'))
        )
        ORDER BY oq.start_at, oq.pass_id""",
        ctes=ctes,
    )
    return [
        (pass_id, lead_id, S.parse_dt(start_at), target, breached)
        for pass_id, lead_id, start_at, target, breached in run(statement)
    ]
