"""gold.ride_hailing_demand: ride-hailing orders per H3 cell and local hour.

extract    silver.ride_trip (orders, located at their pickup point).
transform  Spark only: each order counts in the local hour it was placed (demand), its
           pickup in the hour it was picked up and its drop-off in the drop-off point's
           cell (H3 in Python inside mapInArrow: Spark SQL has no H3) and hour. The
           table is zero-filled over the cells that ever have an order and every hour
           from the first to the last order.
load       through its contract: on a lake where it was built before, only the days that
           silver's changes since can affect are replaced (demand_days.py); else the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import demand_days, incremental
from citybrain.jobs.gold.common import GoldReport
from citybrain.schemas.gold.ride_hailing_demand import GOLD_RIDE_HAILING_DEMAND, DemandParams
from citybrain.settings import Settings

TABLE = GOLD_RIDE_HAILING_DEMAND.name

#: degrees added around a cell's corners when looking for the drop-offs in it (~100 m: a cell's
#: edges are arcs between its corners, a few metres off the straight lines)
BOX_MARGIN = 0.001
COUNTS = ("orders", "completed", "cancelled", "compliant_orders", "known_compliance", "pickups", "dropoffs")


def local_hour_start(ts: Column, timezone: str) -> Column:
    """The instant at which the local hour holding ``ts`` began."""
    return F.to_utc_timestamp(F.date_trunc("hour", F.from_utc_timestamp(ts, timezone)), timezone)


def local_hour_label(hour_start: Column, timezone: str) -> Column:
    return F.date_format(F.from_utc_timestamp(hour_start, timezone), "yyyy-MM-dd HH:00")


def _dropoff_cells(resolution: int):
    def cells(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from citybrain import h3cells

        for batch in batches:
            lat = batch.column("dropoff_lat").to_numpy(zero_copy_only=False)
            lon = batch.column("dropoff_lon").to_numpy(zero_copy_only=False)
            out = h3cells.cells(lat, lon, resolution)
            yield pa.RecordBatch.from_arrays([batch.column("dropped_off_at"), out], ["event_at", "h3_cell"])

    return cells


def order_cell_hour(resolution: int, timezone: str) -> tuple[Column, Column]:
    """An order's ``h3_cell`` and ``hour_start``: its pickup cell and the local hour it was placed in."""
    return F.col(f"h3_r{resolution}").alias("h3_cell"), local_hour_start(F.col("ordered_at"), timezone).alias("hour_start")


def cell_hour_counts(trips: DataFrame, timezone: str, resolution: int) -> DataFrame:
    """Counts and sums per cell and hour_start (only the cell-hours where something happened)."""
    cell = f"h3_r{resolution}"
    placed = trips.where(F.col(cell).isNotNull())
    status = F.col("order_status")
    done = status == "completed"
    orders = placed.select(
        *order_cell_hour(resolution, timezone),
        F.lit(1).alias("orders"),
        done.cast("int").alias("completed"),
        status.startswith("cancelled").cast("int").alias("cancelled"),
        F.col("is_compliant").cast("int").alias("compliant_orders"),
        F.col("is_compliant").isNotNull().cast("int").alias("known_compliance"),
        F.lit(0).alias("pickups"),
        F.lit(0).alias("dropoffs"),
        F.when(done, F.col("distance_km")).alias("distance_km"),
        F.when(done, F.col("fare_yuan")).alias("fare_yuan"),
    )
    zeros = {c: F.lit(0) for c in COUNTS}
    pickups = placed.where(F.col("picked_up_at").isNotNull()).select(
        F.col(cell).alias("h3_cell"),
        local_hour_start(F.col("picked_up_at"), timezone).alias("hour_start"),
        *[(F.lit(1) if c == "pickups" else v).alias(c) for c, v in zeros.items()],
        F.lit(None).cast("double").alias("distance_km"),
        F.lit(None).cast("double").alias("fare_yuan"),
    )
    drops = (
        trips.where(F.col("dropped_off_at").isNotNull())
        .select(F.col("dropped_off_at"), F.col("dropoff_lat").cast("double"), F.col("dropoff_lon").cast("double"))
        .mapInArrow(_dropoff_cells(resolution), "event_at timestamp, h3_cell string")
        .where(F.col("h3_cell").isNotNull())
        .select(
            "h3_cell",
            local_hour_start(F.col("event_at"), timezone).alias("hour_start"),
            *[(F.lit(1) if c == "dropoffs" else v).alias(c) for c, v in zeros.items()],
            F.lit(None).cast("double").alias("distance_km"),
            F.lit(None).cast("double").alias("fare_yuan"),
        )
    )
    return (
        orders.unionByName(pickups)
        .unionByName(drops)
        .groupBy("h3_cell", "hour_start")
        .agg(
            *[F.sum(c).cast("bigint").alias(c) for c in COUNTS],
            F.avg("distance_km").alias("avg_distance_km"),
            F.avg("fare_yuan").alias("avg_fare_yuan"),
        )
    )


def zero_filled(counts: DataFrame, cells: DataFrame, hours: DataFrame, timezone: str, params: DemandParams) -> DataFrame:
    """The table's rows (every contract column but built_at) of ``cells`` x ``hours``, counts or zeros."""
    frame = cells.crossJoin(hours).join(counts, ["h3_cell", "hour_start"], "left")
    local = F.from_utc_timestamp(F.col("hour_start"), timezone)
    return frame.select(
        "h3_cell",
        F.lit(params.resolution).alias("h3_resolution"),
        "hour_start",
        local_hour_label(F.col("hour_start"), timezone).alias("local_hour"),
        F.hour(local).alias("hour_of_day"),
        *[F.coalesce(F.col(c), F.lit(0)).cast("bigint").alias(c) for c in COUNTS if c != "known_compliance"],
        F.when(F.col("known_compliance") > 0, F.col("compliant_orders") / F.col("known_compliance")).alias("compliance_share"),
        "avg_distance_km",
        "avg_fare_yuan",
        F.to_date(local).alias("dt"),
    )


def ride_hailing_demand(trips: DataFrame, timezone: str, params: DemandParams) -> DataFrame:
    """The zero-filled cell-hour table (every contract column but built_at)."""
    counts = cell_hour_counts(trips, timezone, params.resolution)
    placed = counts.where(F.col("orders") > 0)
    cells = placed.select("h3_cell").distinct()
    span = placed.agg(F.min("hour_start").alias("first"), F.max("hour_start").alias("last"))
    hours = span.select(F.explode(F.sequence("first", "last", F.expr("INTERVAL 1 HOUR"))).alias("hour_start"))
    return zero_filled(counts, cells, hours, timezone, params)


def near_cells(cells: set[str]) -> Column:
    """True for a trip whose drop-off point may lie in one of ``cells`` (their bounding boxes, with
    a margin): a cheap filter before the exact H3 cell is computed."""
    import h3

    condition = F.lit(False)
    lat, lon = F.col("dropoff_lat").cast("double"), F.col("dropoff_lon").cast("double")
    for cell in sorted(cells):
        lats, lons = zip(*h3.cell_to_boundary(cell), strict=True)
        box = lat.between(min(lats) - BOX_MARGIN, max(lats) + BOX_MARGIN) & lon.between(min(lons) - BOX_MARGIN, max(lons) + BOX_MARGIN)
        condition = condition | box
    return condition


def _cells_frame(spark, cells: set[str]) -> DataFrame:
    return spark.createDataFrame([(c,) for c in sorted(cells)], "h3_cell string")


def rows_of_days(
    spark, settings: Settings, trips: DataFrame, days: demand_days.Days, timezone: str, params: DemandParams
) -> tuple[DataFrame, str] | None:
    """The table's rows that silver's changes can alter, and the predicate that selects them in the table
    (None when no order is left: the table is then rebuilt whole).

    Those are the rows of ``days`` (every cell), and every row of a cell that gained its first order
    or lost its last (the zero-fill runs over the cells that have an order): a new cell's rows on
    other days hold the drop-offs it had before, found through ``near_cells``.
    """
    cell = f"h3_r{params.resolution}"
    in_days = demand_days.local_day(F.col("hour_start"), timezone).between(F.lit(days.first), F.lit(days.last))
    read_from, read_to = days.silver_days
    read = trips.where(F.col("dt").between(F.lit(read_from), F.lit(read_to)))
    counts = cell_hour_counts(read, timezone, params.resolution).where(in_days)
    # the cell-hours with an order, from the orders alone: the drop-offs' cells (H3 in Python, the
    # costly part of the counts) do not decide them, and the write computes the counts anyway
    order_hours = read.where(F.col(cell).isNotNull()).select(*order_cell_hour(params.resolution, timezone)).where(in_days)
    inside = order_hours.groupBy("h3_cell").agg(F.min("hour_start").alias("first"), F.max("hour_start").alias("last"))
    gold = lake.read(spark, settings, TABLE).where(F.col("orders") > 0)
    outside = (
        gold.where(~F.col("dt").between(F.lit(days.first), F.lit(days.last)))
        .groupBy("h3_cell")
        .agg(F.min("hour_start").alias("first"), F.max("hour_start").alias("last"))
    )
    # collected before the write replaces part of the table they are read from (microseconds: no zone)
    placed = inside.unionByName(outside).select("h3_cell", F.unix_micros("first").alias("first"), F.unix_micros("last").alias("last"))
    bounds = placed.collect()
    if not bounds:
        return None
    cells = {r["h3_cell"] for r in bounds}
    old_cells = {r[0] for r in gold.select("h3_cell").distinct().collect()}
    first, last = min(r["first"] for r in bounds), max(r["last"] for r in bounds)
    span = F.sequence(F.timestamp_micros(F.lit(first)), F.timestamp_micros(F.lit(last)), F.expr("INTERVAL 1 HOUR"))
    hours = spark.range(1).select(F.explode(span).alias("hour_start"))
    table = zero_filled(counts, _cells_frame(spark, cells), hours.where(in_days), timezone, params)
    where = days.where
    if cells != old_cells:
        new = cells - old_cells
        if new:
            near = trips.where(F.col(cell).isin(*sorted(new)) | near_cells(new))
            new_counts = cell_hour_counts(near, timezone, params.resolution).where(F.col("h3_cell").isin(*sorted(new)) & ~in_days)
            table = table.unionByName(zero_filled(new_counts, _cells_frame(spark, new), hours.where(~in_days), timezone, params))
        listed = ", ".join(f"'{c}'" for c in sorted(cells ^ old_cells))
        where = f"({where}) OR h3_cell IN ({listed})"
    return table, where


def _summary(written: DataFrame | None) -> dict:
    """Rows, cells and orders written (none when nothing was)."""
    if written is None:
        return {"rows": 0, "cells": 0, "orders": 0}
    counts = written.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct("h3_cell").alias("cells"), F.sum("orders").alias("orders"))
    return counts.collect()[0].asDict()


def run(spark, settings: Settings, params: DemandParams | None = None, *, full: bool = False) -> GoldReport:
    """Build gold.ride_hailing_demand from silver.ride_trip: only the days that silver's changes since
    the last build can affect, or the whole table (first build, ``full``, any doubt: see
    ``demand_days.plan_days`` and jobs/gold/README.md)."""
    params = params or DemandParams()
    report = GoldReport(TABLE)
    timezone = params.timezone
    fingerprint = incremental.fingerprint(TABLE, params, demand_days.RULES)
    plan = incremental.plan(settings, TABLE, demand_days.INPUTS, fingerprint, full=full)
    trips = lake.read(spark, settings, "silver.ride_trip")
    built_at = F.lit(datetime.now(UTC))
    days = table = None
    if not plan.full:
        days = demand_days.plan_days(spark, settings, trips, plan, timezone)
        if isinstance(days, str):  # the rule cannot tell: rebuild whole
            plan = replace(plan, full=True, reason=days)
        elif days.first is not None:
            rows = rows_of_days(spark, settings, trips, days, timezone, params)
            if rows is None:
                plan = replace(plan, full=True, reason="no order is left")
            else:
                table, where = rows
    if plan.full:
        table = ride_hailing_demand(trips, timezone, params).withColumn("built_at", built_at)
        lake.write(spark, settings, TABLE, table, mode="overwrite")
        state, days, written = {"reach": demand_days.day_reach(trips, timezone)}, None, lake.read(spark, settings, TABLE)
    elif days.first is None:  # nothing in silver changed
        state, written = {"reach": list(days.reach)}, None
    else:
        lake.write(spark, settings, TABLE, table.withColumn("built_at", built_at), mode="overwrite", replace_where=where)
        state, written = {"reach": list(days.reach)}, lake.read(spark, settings, TABLE).where(where)
    row = _summary(written)
    span = (days.first, days.last) if days is not None and days.first is not None else None
    incremental.record_build(settings, TABLE, plan, fingerprint, rows=int(row["rows"]), state=state, days=span)
    report.details = {
        "cells": int(row["cells"]),
        "orders": int(row["orders"] or 0),
        "timezone": timezone,
        "build": "full" if plan.full else "incremental",
        "why_full": plan.reason,
        "days": [str(d) for d in span] if span else None,
    }
    return report.finish(int(row["rows"]))
