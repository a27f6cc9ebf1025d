"""gold.hotspot_context: other departments' records per H3 cell and ISO week (the cross-domain
context of gold.complaint_hotspots), kept between builds so that a new day recounts one week.

A record counts in the ISO week of its silver ``dt``. At each build of the hotspots, per kind
of record (``CONTEXT``):

- a silver table partitioned by ``dt`` (silver.ride_trip, by far the largest input, and the
  police incidents and urban cases) is
  recounted only for the weeks that hold a day it changed since the last build: the changed
  ``dt`` partitions come from its Delta log (jobs/gold/incremental.py), a row that moved day
  names both days, and a week whose days were all emptied loses its rows;
- any other silver table is recounted whole at every build: without day partitions nothing
  says which weeks changed, and such tables are small (the petitions);
- everything is recounted when ``incremental.plan`` has any doubt: first build, ``full=True``,
  other parameters or rules, this table written by another build, a partitioned table
  replaced or not read by the last build (e.g. it was not partitioned then).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold.common import week_start
from citybrain.schemas.contract import BY_DAY
from citybrain.schemas.gold.complaint_hotspots import GOLD_HOTSPOT_CONTEXT, HotspotParams
from citybrain.settings import Settings

TABLE = GOLD_HOTSPOT_CONTEXT.name
CONTEXT = {  # kind of record (a column of gold.complaint_hotspots) -> (silver table, filter)
    "police_incidents": ("silver.police_incident", None),
    "petitions": ("silver.petition", None),
    "urban_cases": ("silver.urban_case", None),
    "ride_pickups": ("silver.ride_trip", "picked_up_at IS NOT NULL"),
}
#: the build rules, in the fingerprint: a change here (or in CONTEXT) rebuilds whole
RULES = f"week of dt; dt-partitioned tables: the weeks of the changed days; others: whole; {sorted(CONTEXT.items())}"


def context_counts(frames: dict[str, DataFrame], resolution: int) -> DataFrame | None:
    """Records per cell and week of each frame (the contract's columns but built_at); None without frames."""
    parts = [
        df.where(F.col(f"h3_r{resolution}").isNotNull())
        .groupBy(F.col(f"h3_r{resolution}").alias("h3_cell"), week_start(F.col("dt")).alias("week_start"))
        .agg(F.count(F.lit(1)).alias("records"))
        .select(F.lit(kind).alias("context"), "h3_cell", F.lit(resolution).alias("h3_resolution"), "week_start", "records")
        for kind, df in frames.items()
    ]
    if not parts:
        return None
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def sources(spark, settings: Settings) -> dict[str, DataFrame]:
    """The records of every kind whose silver table exists (filtered)."""
    frames = {}
    for kind, (table, condition) in CONTEXT.items():
        if lake.exists(settings, table):
            df = lake.read(spark, settings, table)
            frames[kind] = df.where(condition) if condition else df
    return frames


def by_day(settings: Settings) -> dict[str, str]:
    """{kind: silver table} of the kinds whose table exists and is partitioned by ``dt``."""
    return {
        kind: table for kind, (table, _) in CONTEXT.items() if lake.exists(settings, table) and lake.partitioning(settings, table) == BY_DAY
    }


def weeks_of(spark, days: frozenset[date]) -> list[date]:
    """The ISO weeks (their Mondays) that hold ``days``, by the rule that counts the records."""
    if not days:
        return []
    frame = spark.createDataFrame([(d,) for d in sorted(days)], "dt date")
    return sorted({r[0] for r in frame.select(week_start(F.col("dt"))).distinct().collect()})


def _in_weeks(weeks: list[date]) -> str:
    return ", ".join(f"DATE'{w}'" for w in weeks)


def _empty(spark) -> DataFrame:
    return spark.createDataFrame([], GOLD_HOTSPOT_CONTEXT.ddl().replace(" NOT NULL", "")).drop("built_at")


def build(spark, settings: Settings, params: HotspotParams, *, full: bool = False) -> tuple[dict, pa.Table | None]:
    """Bring gold.hotspot_context up to date with silver; return how (for the hotspots' report) and,
    after a whole build, the table as written (None after a build in part: read the table)."""
    fingerprint = incremental.fingerprint(TABLE, params, RULES)
    partitioned = by_day(settings)
    plan = incremental.plan(settings, TABLE, tuple(sorted(partitioned.values())), fingerprint, full=full)
    frames = sources(spark, settings)
    built_at = F.lit(datetime.now(UTC))
    weeks: list[date] = []
    written = None
    if plan.full:
        # counted by the engine, written from this client (``lake.write_client_table``): the
        # counts are small (cells x weeks x kinds) and the hotspots need them here anyway, so a
        # whole build neither writes through the engine nor reads the table back
        counts = context_counts(frames, params.resolution)
        written = _with_built_at(_empty_arrow() if counts is None else counts.toArrow())
        lake.write_client_table(settings, TABLE, written, mode="overwrite")
        rows = written.num_rows
    else:
        weeks = weeks_of(spark, plan.changed_days)
        whole = [kind for kind in CONTEXT if kind not in partitioned]  # a table gone since: its rows go too
        recount = {kind: df for kind, df in frames.items() if kind in whole}
        where = [f"context IN ({', '.join(repr(k) for k in whole)})"] if whole else []
        if weeks:
            days = F.col("dt").between(F.lit(weeks[0]), F.lit(weeks[-1] + timedelta(days=6)))  # prunes the day partitions
            recount |= {kind: frames[kind].where(days & week_start(F.col("dt")).isin(*weeks)) for kind in partitioned}
            listed = ", ".join(f"DATE'{w}'" for w in weeks)
            where.append(f"(context IN ({', '.join(repr(k) for k in partitioned)}) AND week_start IN ({listed}))")
        rows = 0
        if where:
            counts = context_counts(recount, params.resolution)
            replaced = " OR ".join(where)
            table = (_empty(spark) if counts is None else counts).withColumn("built_at", built_at)
            lake.write(spark, settings, TABLE, table, mode="overwrite", replace_where=replaced)
            rows = lake.read(spark, settings, TABLE).where(replaced).count()
    span = (weeks[0], weeks[-1] + timedelta(days=6)) if weeks else None
    incremental.record_build(settings, TABLE, plan, fingerprint, rows=rows, state={}, days=span)
    report = {
        "build": "full" if plan.full else "incremental",
        "why_full": plan.reason,
        "weeks_recounted": None if plan.full else [str(w) for w in weeks],
        "recounted_whole": sorted(CONTEXT) if plan.full else sorted(k for k in CONTEXT if k not in partitioned),
        "rows": rows,
    }
    return report, written


def _empty_arrow() -> pa.Table:
    return GOLD_HOTSPOT_CONTEXT.arrow_schema().empty_table().drop_columns(["built_at"])


def _with_built_at(counts: pa.Table) -> pa.Table:
    now = pa.array([datetime.now(UTC)] * counts.num_rows, pa.timestamp("us", tz="UTC"))
    return counts.append_column("built_at", now)
