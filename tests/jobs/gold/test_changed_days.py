"""incremental.changed_days: the silver days named by the commits since a gold table's last build.

Written by ``deltalake`` (no engine): a table without deletion vectors, as a lake created before
them holds, where a day emptied by a change has no file left and only a ``remove`` names it.
The tables with deletion vectors are covered by test_incremental_demand.py through refine's MERGE.
"""

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from citybrain import lake
from citybrain.jobs.gold import incremental

NAME = "silver.ride_trip"
DAYS = (date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3))


def _rows(days) -> pa.Table:
    return pa.table({"order_id": [f"o{i}" for i in range(len(days))], "dt": pa.array(days, pa.date32())})


@pytest.fixture
def table(lake_settings):
    location = lake.table_location(lake_settings, NAME)
    write_deltalake(location, _rows(DAYS), partition_by=["dt"])
    return location


def _version(location: str) -> dict:
    current = DeltaTable(location)
    return {"id": current.metadata().id, "version": current.version()}


def test_a_day_emptied_by_a_change_is_named_by_its_removed_file_alone(lake_settings, table):
    before = _version(table)
    DeltaTable(table).delete("dt = '2026-09-02'")  # no file of that day is left
    write_deltalake(table, _rows([DAYS[2]]), mode="append", partition_by=["dt"])
    assert incremental.changed_days(lake_settings, NAME, before, _version(table)) == {DAYS[1], DAYS[2]}


def test_no_commit_since_names_no_day(lake_settings, table):
    now = _version(table)
    assert incremental.changed_days(lake_settings, NAME, now, now) == frozenset()


def test_a_commit_cleaned_from_the_log_asks_for_a_full_build(lake_settings, table):
    before = _version(table)
    write_deltalake(table, _rows([DAYS[0]]), mode="append", partition_by=["dt"])
    write_deltalake(table, _rows([DAYS[1]]), mode="append", partition_by=["dt"])
    DeltaTable(table).create_checkpoint()  # what a log cleanup keeps: the checkpoint, not the commits before it
    for version in range(before["version"] + 2):
        (Path(table) / "_delta_log" / f"{version:020d}.json").unlink()
    reason = incremental.changed_days(lake_settings, NAME, before, {"id": before["id"], "version": before["version"] + 2})
    assert reason == f"{NAME} version {before['version'] + 1}'s commit cannot be read (FileNotFoundError)"


def test_a_replaced_table_asks_for_a_full_build(lake_settings, table):
    before = _version(table)
    write_deltalake(table, _rows(DAYS), mode="overwrite", schema_mode="overwrite", partition_by=["dt"])
    assert incremental.changed_days(lake_settings, NAME, {**before, "id": "another"}, _version(table)) == (
        f"{NAME} was replaced since the last build"
    )
