"""Which periods of a performance table a change in silver can affect: the one rule.

gold.hotline_performance (hotline tickets, silver.complaint) and gold.governance_scorecard
(urban-management cases, silver.urban_case, plus the hotline's urban tickets by their day) count
records in periods and judge backlogs as of each period's end, the same way
(jobs/gold/indicators.py). A record of silver day ``dt`` (its local day of receipt or report)
counts in the periods that hold its ``dt``, the local days of its events (``Records.events``:
dispatch, deadline, resolution or closure, callback), and, while it is open past its deadline,
every period judged after that deadline. All those days are on or after ``dt + lo``: ``lo``
(zero or less) is the smallest offset of any event's day from the record's ``dt``, one day wider
for the zones. The table keeps ``lo`` (``ops.gold_builds.state``), measured on the whole of
silver at a full build and widened by each incremental one with the changed days' records, so a
row deleted since was measured when it came. Then, for the silver days ``C`` that changed since
the last build (in any of the table's inputs):

- every period that ends after ``X = min C + lo`` may change; a period that ends on or before
  it holds no event and no backlog of a changed record;
- a period's ``as_of`` and ``period_complete`` come from its scope's first and last reported
  days: ``X`` also comes no later than the day after the old and the new last day, so the
  periods that end before it were judged complete both times; a scope whose first day moved,
  and a scope gained or lost, rebuild the table whole;
- a rank compares the units of one period, so it is recomputed with its period; a period's
  ``previous_rank`` reads the rank of the period before, which is kept when that one ends on or
  before ``X``;
- what every period shares (silver.grid names the streets; which data each hotline has decides
  which counts are null; the cases' time zone dates their events): a change rebuilds whole.

The write replaces the rows of the periods that end after ``X``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold.incremental import Plan
from citybrain.settings import Settings


@dataclass(frozen=True)
class Records:
    """What puts one kind of record in a table's periods, as the rule above reads it."""

    events: tuple[str, ...]  # the instants that put a record in a period besides its dt (the clearing ones too)
    deadline: str  # open past it, until the first of ``cleared``, it counts in the backlog
    cleared: tuple[str, ...]
    scope: str  # what one scope of the table is, as a reason to rebuild whole names it


TICKETS = Records(("dispatched_at", "due_at", "resolved_at", "visited_at"), "due_at", ("resolved_at",), "hotline")
CASES = Records(("dispatched_at", "deadline", "handled_at", "closed_at"), "deadline", ("handled_at", "closed_at"), "case feed")

#: why the table is rebuilt whole when a fact every period shares changed (the keys of ``facts``)
SHARED = {
    "grid": "silver.grid changed",
    "capabilities": "the data a hotline has changed (source_capabilities)",
    "zone": "the cases' time zone changed",
    "hotline": "silver.complaint was gained or lost",
}


@dataclass(frozen=True)
class Periods:
    """The periods to rebuild: those ending after ``after`` (None when nothing changed)."""

    after: date | None

    @property
    def where(self) -> str:
        """The SQL predicate of those periods (the ``replaceWhere`` of the write)."""
        return f"period_end > DATE'{self.after}'"

    @property
    def first_day(self) -> date:
        """The first day of the earliest of those periods (the week or the month holding ``after``)."""
        return min(self.after - timedelta(days=self.after.weekday()), self.after.replace(day=1))


def can_count_from(day: date, records: Records) -> Column:
    """Whether a record can count in a period that starts on or after ``day``: received then or
    later, an event at most a day before it (the zones), or due and not cleared (the backlog)."""
    since = F.to_timestamp(F.lit(str(day - timedelta(days=1))))
    latest = F.greatest(*(F.col(c) for c in records.events))
    is_open = F.coalesce(*(F.col(c) for c in records.cleared)).isNull() & F.col(records.deadline).isNotNull()
    return (F.col("dt") >= F.lit(day)) | (latest >= since) | is_open


def reach(rows: DataFrame, records: Records) -> int:
    """The smallest offset in days of any record's event from its ``dt`` (0 at most; one day wider for the zones)."""
    earliest = F.to_date(F.least(*(F.col(c) for c in records.events)))
    found = rows.agg(F.min(F.datediff(earliest, F.col("dt")))).collect()[0][0]
    return min(0, found if found is not None else 0) - 1


def facts(settings: Settings, coverage: list[dict], **shared) -> dict:
    """What decides whether the table can be built in part, as this build sees it (kept in the
    watermark): the scopes' first and last days, silver.grid's version, and ``shared`` (keys of ``SHARED``)."""
    grid = incremental.input_versions(settings, ("silver.grid",))["silver.grid"] if lake.exists(settings, "silver.grid") else None
    return {"grid": grid, **shared, "coverage": {row["_scope"]: [str(row["first_day"]), str(row["last_day"])] for row in coverage}}


def plan_periods(plan: Plan, now: dict, rows: DataFrame, records: Records) -> tuple[Periods, int] | str:
    """The periods to rebuild for ``plan.changed_days`` and the reach to keep, or why the whole table must be (a text).

    ``rows`` are the records (silver, with ``dt``) whose changed days widen the reach kept.
    """
    kept = plan.state
    if "reach" not in kept:
        return "no reach recorded by the last build"
    if kept.get("grid") != now["grid"]:
        return SHARED["grid"]
    if set(kept.get("coverage", {})) != set(now["coverage"]):
        return f"a {records.scope} was gained or lost"
    for key, why in SHARED.items():
        if key in now and kept.get(key) != now[key]:
            return why
    if any(kept["coverage"][scope][0] != first for scope, (first, _) in now["coverage"].items()):
        return f"a {records.scope}'s first day moved"
    if not plan.changed_days:
        return Periods(None), kept["reach"]
    lo = min(kept["reach"], reach(rows.where(F.col("dt").isin(*sorted(plan.changed_days))), records))
    last_days = [date.fromisoformat(last) for coverage in (kept["coverage"], now["coverage"]) for _, last in coverage.values()]
    after = min(min(plan.changed_days) + timedelta(days=lo), *(last + timedelta(days=1) for last in last_days))
    return Periods(after), lo


def build(
    spark,
    settings: Settings,
    table: str,
    plan: Plan,
    fingerprint: str,
    state: dict,
    rows: DataFrame,
    records: Records,
    periods_table: Callable[[Periods | None], DataFrame],
) -> tuple[int, dict]:
    """Build ``table`` whole or only the periods the rule names, record the watermark, and return
    (rows written, the report's details). ``periods_table(None)`` is the whole table,
    ``periods_table(periods)`` the rows of those periods; ``state`` is ``facts``' (the reach is added)."""
    periods = None
    if not plan.full:
        decided = plan_periods(plan, state, rows, records)
        if isinstance(decided, str):  # the rule cannot tell: rebuild whole
            plan = replace(plan, full=True, reason=decided)
        else:
            periods, state["reach"] = decided
    if plan.full:
        lake.write(spark, settings, table, periods_table(None), mode="overwrite")
        state["reach"], written = reach(rows, records), lake.read(spark, settings, table)
    elif periods.after is None:  # nothing in silver changed
        written = None
    else:
        lake.write(spark, settings, table, periods_table(periods), mode="overwrite", replace_where=periods.where)
        written = lake.read(spark, settings, table).where(periods.where)
    count = written.count() if written is not None else 0
    after = periods.after if periods is not None else None
    last_day = max((date.fromisoformat(last) for _, last in state["coverage"].values()), default=None)
    span = (periods.first_day, last_day) if after is not None and last_day is not None else None
    incremental.record_build(settings, table, plan, fingerprint, rows=count, state=state, days=span)
    details = {
        "build": "full" if plan.full else "incremental",
        "why_full": plan.reason,
        "periods_ending_after": str(after) if after else None,
    }
    return count, details
