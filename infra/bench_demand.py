"""Ride-hailing demand benchmark: prints the wall time of building gold.ride_hailing_demand from
silver.ride_trip at the lake's size and at N times that size, and of training and scoring the forecaster.

    .venv/bin/python infra/bench_demand.py [--times 10] [--no-model]

Reads silver (and the calendar and grid) of the lake in CITYBRAIN_LAKE_ROOT (default ./lake, e.g. after
`citybrain demo`) and writes only into a temporary lake. N times the size is the silver orders
repeated N times (each copy with its own order ids): N times the orders on the same cells and hours.
Figures are printed, not asserted: compare runs on the same machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import reduce

from pyspark.sql import functions as F

from citybrain import engine, lake
from citybrain.jobs.gold import ride_hailing_demand
from citybrain.schemas.gold.ride_hailing_demand import GOLD_RIDE_HAILING_DEMAND, DemandParams
from citybrain.settings import Settings


def _build(spark, scratch: Settings, trips, params: DemandParams) -> tuple[float, int]:
    started = time.monotonic()
    table = ride_hailing_demand.ride_hailing_demand(trips, params.timezone, params).withColumn("built_at", F.current_timestamp())
    lake.write(spark, scratch, GOLD_RIDE_HAILING_DEMAND.name, table, mode="overwrite")
    rows = lake.read(spark, scratch, GOLD_RIDE_HAILING_DEMAND.name).count()
    return time.monotonic() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--times", type=int, default=10, help="also build from the orders repeated this many times")
    parser.add_argument("--no-model", action="store_true", help="skip timing training and scoring")
    args = parser.parse_args()
    settings = Settings.from_env()
    params = DemandParams()
    with tempfile.TemporaryDirectory(prefix="citybrain-bench-demand-") as tmp, engine.session_scope(settings) as spark:
        scratch = settings.with_(lake_root=f"{tmp}/lake")
        trips = lake.read(spark, settings, "silver.ride_trip")
        orders = trips.count()
        seconds, rows = _build(spark, scratch, trips, params)
        print(f"gold.ride_hailing_demand from {orders:,} orders: {rows:,} cell-hours in {seconds:.1f} s")
        if args.times > 1:
            copies = [trips.withColumn("order_id", F.concat(F.col("order_id"), F.lit(f"#{k}"))) for k in range(args.times)]
            many = reduce(lambda a, b: a.unionByName(b), copies)
            seconds, rows = _build(spark, scratch, many, params)
            print(f"gold.ride_hailing_demand from {orders * args.times:,} orders ({args.times}x): {rows:,} cell-hours in {seconds:.1f} s")
        if not args.no_model:
            from citybrain.models import demand_pipeline

            _build(spark, scratch, trips, params)
            for name in ("silver.calendar_day", "silver.grid"):
                lake.write(spark, scratch, name, lake.read(spark, settings, name), mode="overwrite")
            started = time.monotonic()
            trained = demand_pipeline.train(spark, scratch, params)
            print(f"training (24h and 7d models): {time.monotonic() - started:.1f} s  {trained}")
            scored = demand_pipeline.score(spark, scratch, params)
            print(f"scoring into gold.demand_forecast: {scored['seconds']:.1f} s, {scored['rows']:,} rows, {scored['anomalies']} anomalies")


if __name__ == "__main__":
    main()
