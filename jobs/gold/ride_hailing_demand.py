"""gold.ride_hailing_demand: ride-hailing orders per H3 cell and local hour.

extract    silver.ride_trip (orders, located at their pickup point).
transform  Spark only: each order counts in the local hour it was placed (demand), its
           pickup in the hour it was picked up and its drop-off in the drop-off point's
           cell (H3 in Python inside mapInArrow: Spark SQL has no H3) and hour. The
           table is zero-filled over the cells that ever have an order and every hour
           from the first to the last order.
load       the whole table is rebuilt through its contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold.common import GoldReport
from citybrain.schemas.gold.ride_hailing_demand import GOLD_RIDE_HAILING_DEMAND, DemandParams
from citybrain.settings import Settings

COUNTS = ("orders", "completed", "cancelled", "compliant_orders", "known_compliance", "pickups", "dropoffs")


def local_hour_start(ts: Column, timezone: str) -> Column:
    """The instant at which the local hour holding ``ts`` began."""
    return F.to_utc_timestamp(F.date_trunc("hour", F.from_utc_timestamp(ts, timezone)), timezone)


def local_hour_label(hour_start: Column, timezone: str) -> Column:
    return F.date_format(F.from_utc_timestamp(hour_start, timezone), "yyyy-MM-dd HH:00")


def _dropoff_cells(resolution: int):
    def cells(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import h3
        import numpy as np

        for batch in batches:
            lat = batch.column("dropoff_lat").to_numpy(zero_copy_only=False)
            lon = batch.column("dropoff_lon").to_numpy(zero_copy_only=False)
            ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
            out = [h3.latlng_to_cell(float(a), float(b), resolution) if k else None for a, b, k in zip(lat, lon, ok, strict=True)]
            yield pa.RecordBatch.from_arrays([batch.column("dropped_off_at"), pa.array(out, pa.string())], ["event_at", "h3_cell"])

    return cells


def cell_hour_counts(trips: DataFrame, timezone: str, resolution: int) -> DataFrame:
    """Counts and sums per cell and hour_start (only the cell-hours where something happened)."""
    cell = f"h3_r{resolution}"
    placed = trips.where(F.col(cell).isNotNull())
    status = F.col("order_status")
    done = status == "completed"
    orders = placed.select(
        F.col(cell).alias("h3_cell"),
        local_hour_start(F.col("ordered_at"), timezone).alias("hour_start"),
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


def ride_hailing_demand(trips: DataFrame, timezone: str, params: DemandParams) -> DataFrame:
    """The zero-filled cell-hour table (every contract column but built_at)."""
    counts = cell_hour_counts(trips, timezone, params.resolution)
    placed = counts.where(F.col("orders") > 0)
    cells = placed.select("h3_cell").distinct()
    span = placed.agg(F.min("hour_start").alias("first"), F.max("hour_start").alias("last"))
    hours = span.select(F.explode(F.sequence("first", "last", F.expr("INTERVAL 1 HOUR"))).alias("hour_start"))
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


def run(spark, settings: Settings, params: DemandParams | None = None) -> GoldReport:
    """Rebuild gold.ride_hailing_demand from silver.ride_trip."""
    params = params or DemandParams()
    report = GoldReport(GOLD_RIDE_HAILING_DEMAND.name)
    timezone = params.timezone
    trips = lake.read(spark, settings, "silver.ride_trip")
    table = ride_hailing_demand(trips, timezone, params).withColumn("built_at", F.lit(datetime.now(UTC)))
    lake.write(spark, settings, GOLD_RIDE_HAILING_DEMAND.name, table, mode="overwrite")
    written = lake.read(spark, settings, GOLD_RIDE_HAILING_DEMAND.name)
    summary = written.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct("h3_cell").alias("cells"), F.sum("orders").alias("orders"))
    row = summary.collect()[0]
    report.details = {"cells": int(row["cells"]), "orders": int(row["orders"] or 0), "timezone": timezone}
    return report.finish(int(row["rows"]))
