"""Which days of gold.ride_hailing_demand a change in silver.ride_trip can affect: the one rule.

A trip of silver day ``dt`` counts in gold on the local days of its order, its pickup and its
drop-off (in the ride-hailing feed's zone, which another feed's ``dt`` may not share). Their
offsets from ``dt`` are the trip's **reach**; the table keeps the smallest and largest reach of
every trip it has seen (``ops.gold_builds.state``; measured on the whole of silver at a full
build, widened by each incremental one with the changed days' trips, so a row deleted since
was measured when it came). Then:

- the changed silver days ``C`` affect the gold days ``[min C + lo, max C + hi]``;
- the zero-fill runs from the first to the last order hour: when the new days lie after the
  table's last day (or before its first), the range also takes in that last (first) day,
  whose hours after the old last order get their zero rows;
- those gold days are built from the silver days ``[first - hi, last - lo]``, every day whose
  trips can reach them;
- the rows of other days change only for a cell that gains its first order (it is zero-filled
  over every hour, with the drop-offs it had before) or loses its last (its rows go): those
  cells' rows are replaced too (``ride_hailing_demand.rows_of_days``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold.incremental import Plan
from citybrain.settings import Settings

INPUTS = ("silver.ride_trip",)
#: the build rules, in the fingerprint: a change here (or in what the job writes) rebuilds whole
RULES = "days [min C + lo, max C + hi] + the old last/first day; silver [first - hi, last - lo]; + every row of a cell gained or lost"
EVENTS = ("ordered_at", "picked_up_at", "dropped_off_at")


@dataclass(frozen=True)
class Days:
    """The gold days to rebuild (``first``..``last``, None when nothing changed) and the reach."""

    first: date | None
    last: date | None
    reach: tuple[int, int]

    @property
    def where(self) -> str:
        """The SQL predicate of those days (the ``replaceWhere`` of the write)."""
        return f"dt >= DATE'{self.first}' AND dt <= DATE'{self.last}'"

    @property
    def silver_days(self) -> tuple[date, date]:
        """The silver days whose trips can count in them."""
        lo, hi = self.reach
        return self.first - timedelta(days=hi), self.last - timedelta(days=lo)


def local_day(ts, timezone: str):
    return F.to_date(F.from_utc_timestamp(ts, timezone))


def day_reach(trips: DataFrame, timezone: str) -> list[int] | None:
    """[lo, hi]: the fewest and most days from a trip's ``dt`` to its events' local days; None without trips."""
    offsets = [F.datediff(local_day(F.col(c), timezone), F.col("dt")) for c in EVENTS]
    row = trips.select(F.least(*offsets).alias("lo"), F.greatest(*offsets).alias("hi")).agg(F.min("lo"), F.max("hi")).collect()[0]
    return None if row[0] is None else [int(row[0]), int(row[1])]


def plan_days(spark, settings: Settings, trips: DataFrame, plan: Plan, timezone: str) -> Days | str:
    """The gold days to rebuild for ``plan.changed_days``, or why the whole table must be (a text)."""
    stored = plan.state.get("reach")
    if stored is None:
        return "no reach recorded by the last build"
    if not plan.changed_days:
        return Days(None, None, tuple(stored))
    changed = day_reach(trips.where(F.col("dt").isin(*sorted(plan.changed_days))), timezone) or stored
    lo, hi = min(stored[0], changed[0]), max(stored[1], changed[1])
    first, last = min(plan.changed_days) + timedelta(days=lo), max(plan.changed_days) + timedelta(days=hi)
    gold = lake.read(spark, settings, "gold.ride_hailing_demand").where(F.col("orders") > 0)
    bounds = gold.agg(F.min("dt"), F.max("dt")).collect()[0]
    if bounds[0] is None:
        return "the table holds no orders"
    old_first, old_last = bounds
    if last > old_last:
        first = min(first, old_last)
    if first < old_first:
        last = max(last, old_first)
    return Days(first, last, (lo, hi))
