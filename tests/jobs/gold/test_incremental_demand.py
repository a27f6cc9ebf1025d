"""gold.ride_hailing_demand built incrementally equals the same table built whole from the same silver.

A small silver.ride_trip (three cells, ten days, some trips ending after local midnight) is
merged into a lake of the test's own, day by day as refine does; the table is built, silver
changes (a new day, a late batch for an old day, a trip re-reported on another day), the job
runs again, and its content is compared with a full build of the same silver.
"""

from datetime import UTC, date, datetime, timedelta

import h3
import numpy as np
import pandas as pd
import pytest
from incremental_support import content, first_build, rebuilt_whole

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold import ride_hailing_demand as job
from citybrain.schemas.gold.ride_hailing_demand import GOLD_RIDE_HAILING_DEMAND, DemandParams
from citybrain.schemas.silver.ride_trip import SILVER_RIDE_TRIP

TABLE = GOLD_RIDE_HAILING_DEMAND.name
CELLS = ("883091190bfffff", "8830915657fffff", "8830915615fffff")  # resolution-8 cells of the demo city
NEW_CELL = "8830915611fffff"  # no order until a test places one; some drop-offs end there from the start
FIRST = date(2026, 9, 1)


def _local(day: date, hour: float) -> datetime:
    """``hour`` hours after local midnight of ``day`` in Shanghai (UTC+8), as a UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour - 8)


def centre(cell: str) -> tuple[float, float]:
    lat, lon = h3.cell_to_latlng(cell)
    return lon, lat


def near_the_top(cell: str) -> tuple[float, float]:
    """A point of ``cell`` 95 % of the way from its centre to its northernmost corner: at the edge of its bounding box."""
    (lat, lon), (corner_lat, corner_lon) = h3.cell_to_latlng(cell), max(h3.cell_to_boundary(cell))
    point = lon + 0.95 * (corner_lon - lon), lat + 0.95 * (corner_lat - lat)
    assert h3.latlng_to_cell(point[1], point[0], 8) == cell
    return point


def trips(day: date, seed: int, n: int = 12, prefix: str = "", cells=CELLS, last_hour: float = 20.5) -> pd.DataFrame:
    """``n`` orders of ``day`` (local), the last placed at ``last_hour`` (after 23:00: two of them end after
    midnight); the sixth ends in NEW_CELL, near its top."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        hour = last_hour if i == n - 1 else float(rng.uniform(6, last_hour))
        if i < 2:
            hour = 23.2 + 0.3 * i if last_hour > 23 else hour
        cell = cells[i % len(cells)]
        ordered = _local(day, hour)
        completed = i % 4 != 3
        picked = ordered + timedelta(minutes=10) if completed else None
        dropped = ordered + timedelta(minutes=int(rng.integers(20, 80))) if completed else None
        lon, lat = near_the_top(NEW_CELL) if i == 5 else centre(cells[(i + 1) % len(cells)])
        rows.append(
            {
                "order_id": f"{prefix}{day:%m%d}-{i}",
                "is_compliant": bool(i % 3),
                "ordered_at": ordered,
                "picked_up_at": picked,
                "dropped_off_at": dropped,
                "dropoff_lon": lon if dropped else None,
                "dropoff_lat": lat if dropped else None,
                "distance_km": float(rng.uniform(1, 9)),
                "fare_yuan": float(rng.uniform(8, 40)),
                "order_status": "completed" if completed else "cancelled_by_passenger",
                "uploaded_at": ordered + timedelta(hours=2),
                "h3_r8": cell,
                "_batch_id": f"b{seed}",
                "_source_file": f"ridehailing_{day:%Y%m%d}.csv",
                "_source_row": i,
                "_refined_at": datetime(2026, 12, 1, tzinfo=UTC),
                "dt": day,
            }
        )
    return pd.DataFrame(rows)


def merge(spark, settings, frame: pd.DataFrame) -> None:
    """Merge trips into silver.ride_trip on order_id, the newer upload winning (as refine does)."""
    frame = frame.reindex(columns=SILVER_RIDE_TRIP.column_names)
    df = spark.createDataFrame(frame.astype(object).where(frame.notna(), None), SILVER_RIDE_TRIP.ddl().replace(" NOT NULL", ""))
    lake.merge(spark, settings, SILVER_RIDE_TRIP.name, df, update_when="s.uploaded_at >= t.uploaded_at")


def history(spark, settings, days: int = 9) -> None:
    for k in range(days):
        day = FIRST + timedelta(days=k)
        merge(spark, settings, trips(day, seed=k, last_hour=23.5 if k % 3 == 0 else 20.5))


@pytest.fixture
def built(spark, lake_settings):
    history(spark, lake_settings)
    first_build(spark, lake_settings, job)
    return lake_settings


def test_a_new_day_replaces_only_its_days_and_equals_a_full_build(spark, built):
    rows_before = lake.read(spark, built, TABLE).count()
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=99))
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    incremental_content = content(built, TABLE)
    assert incremental_content == rebuilt_whole(spark, built, job)
    # the new day, its next day (drop-offs after midnight) and the old last day (its late hours' zeros)
    assert report.details["days"] == ["2026-09-09", "2026-09-11"]
    assert 0 < report.rows < rows_before / 3


def test_a_late_batch_for_an_old_day_equals_a_full_build(spark, built):
    merge(spark, built, trips(FIRST + timedelta(days=3), seed=7, prefix="late-", last_hour=23.6))  # two end after midnight
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["days"] == ["2026-09-04", "2026-09-05"]


def test_a_trip_reported_again_on_another_day_leaves_its_old_day_and_equals_a_full_build(spark, built):
    moved = trips(FIRST + timedelta(days=1), seed=1).iloc[[4]].copy()  # placed on day 5 after all, uploaded later
    for column in ("ordered_at", "picked_up_at", "dropped_off_at", "uploaded_at"):
        moved[column] = moved[column] + timedelta(days=4)
    moved["dt"] = FIRST + timedelta(days=5)
    merge(spark, built, moved)
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["days"] == ["2026-09-02", "2026-09-07"]


def test_a_trip_reaching_further_widens_the_days_rebuilt(spark, built):
    far = trips(FIRST + timedelta(days=2), seed=11, n=1, prefix="far-")
    far["dropped_off_at"] = far["ordered_at"] + timedelta(days=2)  # a drop-off two days later: wider than any before
    merge(spark, built, far)
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["days"] == ["2026-09-03", "2026-09-05"]


def test_nothing_changed_writes_nothing_and_keeps_the_table(spark, built):
    before = content(built, TABLE)
    report = job.run(spark, built)
    assert (report.details["build"], report.rows) == ("incremental", 0)
    assert content(built, TABLE) == before


def test_a_cell_with_its_first_order_gets_every_hour_with_its_earlier_drop_offs(spark, built):
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=5, n=3, cells=(NEW_CELL,)))
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["build"] == "incremental"
    drop_offs = lake.read(spark, built, TABLE).where(f"h3_cell = '{NEW_CELL}' AND dt < DATE'2026-09-09'").agg({"dropoffs": "sum"})
    assert drop_offs.collect()[0][0] > 0  # trips ended there before it had an order


def test_an_order_outside_every_cell_adds_no_cell(spark, built):
    day = trips(FIRST + timedelta(days=9), seed=99)
    day.loc[0, "h3_r8"] = None  # placed outside the grid: it counts nowhere
    merge(spark, built, day)
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert {r[0] for r in lake.read(spark, built, TABLE).select("h3_cell").distinct().collect()} == set(CELLS)


def test_a_cell_losing_its_only_order_loses_its_rows(spark, built):
    lone = trips(FIRST + timedelta(days=9), seed=5, n=1, prefix="lone-", cells=(NEW_CELL,))
    merge(spark, built, lone)
    job.run(spark, built)
    lone["h3_r8"], lone["uploaded_at"] = CELLS[0], lone["uploaded_at"] + timedelta(hours=1)  # placed again: in another cell
    merge(spark, built, lone)
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["build"] == "incremental"
    assert lake.read(spark, built, TABLE).where(f"h3_cell = '{NEW_CELL}'").count() == 0


def test_changed_parameters_or_full_rebuild_whole(spark, built):
    other = job.run(spark, built, DemandParams(resolution=8, history_days=14))
    assert other.details["why_full"] == "parameters, contract or build rules changed"
    assert job.run(spark, built, full=True).details["why_full"] == "a full build was asked for"


def test_a_table_written_by_another_build_is_rebuilt_whole(spark, built):
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=99))
    lake.write(spark, built, TABLE, lake.read(spark, built, TABLE).limit(5), mode="overwrite")
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["why_full"] == f"{TABLE} changed since its last recorded build"


def test_a_compacted_table_is_still_built_incrementally(spark, built):
    version = lake.version(built, TABLE)
    lake.optimize(built, TABLE)
    assert lake.version(built, TABLE) > version  # the compaction is a commit of its own
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=99))
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["build"] == "incremental"


def test_the_watermark_names_the_silver_days_changed_by_a_merge(spark, built):
    previous = incremental.last_build(built, TABLE)
    moved = trips(FIRST + timedelta(days=1), seed=1).iloc[[4]].copy()
    moved["dt"] = FIRST + timedelta(days=6)
    moved["uploaded_at"] = moved["uploaded_at"] + timedelta(days=6)
    merge(spark, built, moved)
    plan = incremental.plan(built, TABLE, ("silver.ride_trip",), previous["fingerprint"])
    assert not plan.full
    assert plan.changed_days == {FIRST + timedelta(days=1), FIRST + timedelta(days=6)}  # the day it left and the day it went to


def test_a_day_whose_only_trip_moves_away_is_emptied(spark, built):
    lone = trips(FIRST + timedelta(days=14), seed=3, n=1, prefix="lone-")
    merge(spark, built, lone)
    assert job.run(spark, built).details["build"] == "incremental"
    for column in ("ordered_at", "picked_up_at", "dropped_off_at", "uploaded_at"):
        lone[column] = lone[column] - timedelta(days=3)
    lone["uploaded_at"] = lone["uploaded_at"] + timedelta(days=5)
    lone["dt"] = FIRST + timedelta(days=11)
    merge(spark, built, lone)  # day 15 now has no file at all: only its removal names it
    report = job.run(spark, built)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    assert report.details["days"] == ["2026-09-12", "2026-09-16"]
