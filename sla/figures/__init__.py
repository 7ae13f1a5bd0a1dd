"""SLA figures, computed in SQL from the ``Transition`` log — the only source of truth — and never written by a read.

Vocabulary
----------
* An **MQL pass** is one transition into ``mql``. A recycled lead that returns to MQL starts a new
  pass with a new clock, and every figure counts every pass.
* An **undo** (reason ``undo``) and the move it took back are read as if neither happened: they
  start no pass and end none, so the pass they interrupted goes on.
* A pass **ends** at the lead's next transition. When a person made it (``actor`` set) that is the
  SDR's **first action**: accepted (→ SAL, or straight to SQL/won), rejected, recycled (→ nurture)
  or disqualified (→ disqualified/lost). When the system made it (rescoring dropped the lead) the
  pass is **withdrawn**. Without a next transition the pass is **open**.
* **Response time** = business time from the MQL transition to the first action, measured on the
  active agreement's calendar. The **target** is the response time for the pass's grade (grade
  recorded on the MQL transition, blank = D) in the agreement version recorded on that transition,
  or the active version's when none is recorded.
* A pass is **breached** when its business time — to the first action, to the withdrawal, or to
  now while open — exceeds the target. **At risk** = open with 75 % or more of the target used.
* The SDR of a pass is the lead's owner when the pass ended (``Transition.owner``, else the actor),
  or the current owner while it is open.
* An accepted lead is **followed up in time** when ``followup.attempts`` attempts
  (``leads.FollowUpAttempt``) were logged within ``followup.days`` business days (× the calendar's
  hours per day) after the move into SAL, counting attempts up to the pass's end; a move on to SQL or
  won within the period counts too. It is **missed** when the period ran out first, or the lead left
  SAL any other way without them; **pending** while the period runs (``sla.pass_sql``).
* A reject or recycle **reason** reads as the words of the signed version in force when it was given
  (``leads.inbox.selectors.ReasonWords``); a Pareto bar as those in force at the range's end.
* Pass figures belong to the range their MQL transition falls in (a cohort); the funnel counts
  moves into each stage within the range.

How it is built
---------------
``sla.pass_sql`` defines one pass's figures in SQL over ``sla.Pass`` (kept by ``sla.passes`` and
``sla.rollup``, refreshed by tasks: these modules only read). ``statement`` is the dashboard
statement over the passes, ``rolled`` the same over the daily roll-up, ``weekcache`` caches
finished weeks' percentiles, ``dashboard`` folds the rows into the figures, ``drill`` lists the
passes behind one figure and ``alerts`` finds the breach job's candidates.
"""

from sla.figures.alerts import alert_candidates
from sla.figures.dashboard import compute, prorated_quota
from sla.figures.drill import FUNNEL_METRICS, Drill, DrillRows
from sla.pass_sql import DISTRIBUTION_EDGES, DISTRIBUTION_LABELS
from sla.passes import FiguresPreparing
from sla.weeks import TREND_WEEKS, Scope, iso_week_bounds, iso_week_label, local_midnight, week_label

__all__ = [
    "DISTRIBUTION_EDGES",
    "DISTRIBUTION_LABELS",
    "FUNNEL_METRICS",
    "TREND_WEEKS",
    "Drill",
    "DrillRows",
    "FiguresPreparing",
    "Scope",
    "alert_candidates",
    "compute",
    "iso_week_bounds",
    "iso_week_label",
    "local_midnight",
    "prorated_quota",
    "week_label",
]
