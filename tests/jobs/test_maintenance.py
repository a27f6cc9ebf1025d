"""Lake maintenance: compaction keeps every row and cuts the files; vacuum honours the retention;
one broken table does not stop the others."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

from citybrain import lake
from citybrain.jobs import maintenance
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine

HEADER = "date,weekday,is_workday,holiday_name,weather,temp_max_c,temp_min_c,precipitation_mm,aqi,event_name,event_lon,event_lat,event_attendance\n"


def _daily_drops(spark, settings, folder: Path, days: int, *, dated: bool = False) -> None:
    """Several drops (of one drop date, or of one date each), each ingested and refined on its own: small files."""
    for k in range(days):
        day = date(2026, 9, 1) + timedelta(days=k)
        (folder / "calendar").mkdir(parents=True, exist_ok=True)
        name = f"calendar_{day:%Y%m%d}.csv" if dated else f"calendar_20260905_{k}.csv"
        (folder / "calendar" / name).write_text(HEADER + f"{day},{day.isoweekday()},1,,晴,30,22,0,50,,,,\n")
        ingest.run(spark, settings, "calendar", drops_dir=folder)
        refine.refine(spark, settings, "calendar")


def _rows(settings, name: str, version: int | None = None) -> list[tuple]:
    table = lake.arrow(settings, name, version=version)
    keep = [c for c in table.column_names if c not in ("_ingested_at",)]
    return sorted(map(tuple, (r.values() for r in table.select(keep).to_pylist())), key=repr)


def _parquet_files(settings, name: str) -> int:
    return len(list(Path(lake.table_location(settings, name)).rglob("*.parquet")))


def test_compaction_keeps_every_row_and_vacuum_honours_the_retention(spark, lake_settings, tmp_path):
    _daily_drops(spark, lake_settings, tmp_path / "drops", 4)
    names = ["bronze.calendar", "silver.calendar_day"]
    before = {n: _rows(lake_settings, n) for n in names}
    on_disk = _parquet_files(lake_settings, "bronze.calendar")  # append only: every file is referenced

    kept = maintenance.maintain(lake_settings.with_(vacuum_retention_days=30), tables=names)
    bronze = next(r for r in kept if r.table == "bronze.calendar")
    assert bronze.files_before == on_disk >= 4 and bronze.files_after == 1  # a small table: one file
    assert all(r.error is None and r.files_deleted == 0 for r in kept)  # nothing is 30 days old
    assert {n: _rows(lake_settings, n) for n in names} == before
    assert _rows(lake_settings, "bronze.calendar", version=0)  # time travel still reaches the first load

    gone = maintenance.maintain(lake_settings.with_(vacuum_retention_days=0), tables=names)
    assert next(r for r in gone if r.table == "bronze.calendar").files_deleted == on_disk  # the pre-compaction files
    assert {n: _rows(lake_settings, n) for n in names} == before
    with pytest.raises(Exception, match="(?i)not found|no such file|does not exist"):
        _rows(lake_settings, "bronze.calendar", version=0)

    recorded = lake.read(spark, lake_settings, "ops.maintenance").collect()
    assert len(recorded) == 4 and {r.table for r in recorded} == set(names)
    assert {(r.table, r.files_before, r.files_after) for r in recorded} >= {(bronze.table, bronze.files_before, bronze.files_after)}


def test_a_small_table_of_many_drop_dates_compacts_into_one_file(spark, lake_settings, tmp_path):
    """Small tables are not partitioned by day (schemas.contract.BY_DAY), so a drop a day
    compacts into one file instead of staying one file a day."""
    _daily_drops(spark, lake_settings, tmp_path / "drops", 4, dated=True)
    names = ["bronze.calendar", "quarantine.calendar_day"]
    results = {r.table: r for r in maintenance.maintain(lake_settings, tables=names)}
    assert {r["dt"] for r in DeltaTable(lake.table_location(lake_settings, "bronze.calendar")).to_pyarrow_table().to_pylist()} == {
        date(2026, 9, 1) + timedelta(days=k) for k in range(4)
    }
    assert results["bronze.calendar"].files_before == 4 and results["bronze.calendar"].files_after == 1
    assert all(r.error is None and r.files_after <= 1 for r in results.values())


def test_one_broken_table_is_recorded_and_the_others_are_maintained(spark, lake_settings, tmp_path):
    _daily_drops(spark, lake_settings, tmp_path / "drops", 2)
    log = Path(lake.table_location(lake_settings, "silver.calendar_day")) / "_delta_log"
    newest = sorted(log.glob("*.json"))[-1]
    newest.write_text("this is not a Delta log\n")
    results = {r.table: r for r in maintenance.maintain(lake_settings)}
    assert results["silver.calendar_day"].error
    assert results["bronze.calendar"].error is None and results["bronze.calendar"].files_after < results["bronze.calendar"].files_before
    errors = {r.table: r.error for r in lake.read(spark, lake_settings, "ops.maintenance").collect()}
    assert errors["silver.calendar_day"] and errors["bronze.calendar"] is None


@pytest.mark.slow
def test_the_weekly_dag_maintains_the_lake_through_airflow(spark, lake_settings, tmp_path):
    import os
    import subprocess
    import sys

    _daily_drops(spark, lake_settings, tmp_path / "drops", 3)
    before = _rows(lake_settings, "bronze.calendar")
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": lake_settings.lake_root,
        "CITYBRAIN_STATE_DIR": str(tmp_path / "state"),
        "CITYBRAIN_VACUUM_RETENTION_DAYS": "0",
    }
    done = subprocess.run([sys.executable, "-m", "citybrain.cli", "run", "--dag", "maintain_lake"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "maintain_lake: success" in done.stdout
    recorded = {r.table: r for r in lake.read(spark, lake_settings, "ops.maintenance").collect()}
    assert recorded["bronze.calendar"].files_before == 3 and recorded["bronze.calendar"].files_after == 1
    assert recorded["bronze.calendar"].files_deleted == 3 and _rows(lake_settings, "bronze.calendar") == before
