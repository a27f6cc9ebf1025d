"""Which periods of gold.hotline_performance a change in silver.complaint can affect: the one rule.

A ticket of silver day ``dt`` (its local day of receipt) counts in the periods that hold its
receipt, the local days of its dispatch, deadline, resolution and callback, and, while it is
open past its deadline, every period judged after that deadline. All those days are on or after
``dt + lo``: ``lo`` (zero or less) is the smallest offset of any event's day from the ticket's
``dt``, one day wider for the zones. The table keeps ``lo`` (``ops.gold_builds.state``),
measured on the whole of silver at a full build and widened by each incremental one with the
changed days' tickets, so a row deleted since was measured when it came. Then, for the silver
days ``C`` that changed since the last build:

- every period that ends after ``X = min C + lo`` may change; a period that ends on or before
  it holds no event and no backlog of a changed ticket;
- a period's ``as_of`` and ``period_complete`` come from its hotline's first and last reported
  days: ``X`` also comes no later than the day after the old and the new last day, so the
  periods that end before it were judged complete both times; a hotline whose first day moved,
  and a hotline gained or lost, rebuild the table whole;
- a rank compares the units of one period, so it is recomputed with its period; a period's
  ``previous_rank`` reads the rank of the period before, which is kept when that one ends on or
  before ``X``;
- which data each hotline has (``source_capabilities``) decides which counts are null in every
  period, and silver.grid names the streets in every period: a change in either rebuilds whole.

The write replaces the rows of the periods that end after ``X``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold.incremental import Plan
from citybrain.settings import Settings

INPUTS = ("silver.complaint",)
#: the build rules, in the fingerprint: a change here (or in what the job writes) rebuilds whole
RULES = (
    "periods ending after min C + lo and the day after the old and new last day; previous_rank of a kept period from the table;"
    " whole on a hotline's first day, a hotline gained or lost, a capability or silver.grid changed"
)
#: the instants of a ticket that put it in a period besides its receipt day
EVENTS = ("dispatched_at", "due_at", "resolved_at", "visited_at")


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


def ticket_can_count_from(day: date) -> Column:
    """Whether a ticket can count in a period that starts on or after ``day``: received then or
    later, an event at most a day before it (the zones), or due and not resolved (the backlog)."""
    since = F.to_timestamp(F.lit(str(day - timedelta(days=1))))
    latest = F.greatest(*(F.col(c) for c in EVENTS))
    return (F.col("dt") >= F.lit(day)) | (latest >= since) | (F.col("resolved_at").isNull() & F.col("due_at").isNotNull())


def reach(tickets: DataFrame) -> int:
    """The smallest offset in days of any ticket's event from its ``dt`` (0 at most; one day wider for the zones)."""
    earliest = F.to_date(F.least(*(F.col(c) for c in EVENTS)))
    found = tickets.agg(F.min(F.datediff(earliest, F.col("dt")))).collect()[0][0]
    return min(0, found if found is not None else 0) - 1


def facts(settings: Settings, capabilities: list[dict], coverage: list[dict]) -> dict:
    """What decides whether the table can be built in part, as this build sees it (kept in the watermark)."""
    grid = incremental.input_versions(settings, ("silver.grid",))["silver.grid"] if lake.exists(settings, "silver.grid") else None
    return {
        "grid": grid,
        "capabilities": sorted(json.dumps(row, sort_keys=True) for row in capabilities),
        "coverage": {row["_scope"]: [str(row["first_day"]), str(row["last_day"])] for row in coverage},
    }


def plan_periods(plan: Plan, now: dict, complaints: DataFrame) -> tuple[Periods, int] | str:
    """The periods to rebuild for ``plan.changed_days`` and the reach to keep, or why the whole table must be (a text)."""
    kept = plan.state
    if "reach" not in kept:
        return "no reach recorded by the last build"
    if kept.get("grid") != now["grid"]:
        return "silver.grid changed"
    if set(kept.get("coverage", {})) != set(now["coverage"]):
        return "a hotline was gained or lost"
    if kept.get("capabilities") != now["capabilities"]:
        return "the data a hotline has changed (source_capabilities)"
    if any(kept["coverage"][scope][0] != first for scope, (first, _) in now["coverage"].items()):
        return "a hotline's first day moved"
    if not plan.changed_days:
        return Periods(None), kept["reach"]
    lo = min(kept["reach"], reach(complaints.where(F.col("dt").isin(*sorted(plan.changed_days)))))
    last_days = [date.fromisoformat(last) for coverage in (kept["coverage"], now["coverage"]) for _, last in coverage.values()]
    after = min(min(plan.changed_days) + timedelta(days=lo), *(last + timedelta(days=1) for last in last_days))
    return Periods(after), lo
