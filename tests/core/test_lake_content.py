"""Content checksums: a changed value changes them, the columns a run rewrites by design do not,
a build log is compared as a set."""

import pyarrow as pa
from deltalake import write_deltalake

from citybrain import lake
from citybrain.lake_content import REBUILD_COLUMNS, batch_columns, content_checksum, lake_checksums


def _table(settings, name, rows, mode="overwrite"):
    write_deltalake(lake.table_location(settings, name), pa.Table.from_pylist(rows), mode=mode)


def test_a_checksum_sees_every_value_but_the_ones_left_out(lake_settings):
    rows = [{"cell": "a", "n": 1, "share": 0.5, "built_at": "t1"}, {"cell": "b", "n": 2, "share": 0.25, "built_at": "t1"}]
    _table(lake_settings, "gold.complaint_hotspots", rows)
    first = content_checksum(lake_settings, "gold.complaint_hotspots", REBUILD_COLUMNS)
    assert first[0] == 2
    _table(lake_settings, "gold.complaint_hotspots", [{**r, "built_at": "t2"} for r in reversed(rows)])
    assert content_checksum(lake_settings, "gold.complaint_hotspots", REBUILD_COLUMNS) == first  # order and build time
    assert content_checksum(lake_settings, "gold.complaint_hotspots") != first
    _table(lake_settings, "gold.complaint_hotspots", [rows[0], {**rows[1], "n": 3}])
    assert content_checksum(lake_settings, "gold.complaint_hotspots", REBUILD_COLUMNS) != first
    _table(lake_settings, "gold.complaint_hotspots", [rows[0], rows[1], rows[1]])  # a row twice is not the same table
    assert content_checksum(lake_settings, "gold.complaint_hotspots", REBUILD_COLUMNS)[0] == 3


def test_the_report_index_is_a_set_and_run_logs_are_not_compared(lake_settings):
    build = {"build_id": "b1", "iso_week": "2026-W37", "numbers_sha256": "abc", "built_at": "t1"}
    _table(lake_settings, "gold.report_index", [build])
    _table(lake_settings, "ops.quality_results", [{"rule": "r", "checked_at": "t1"}])
    before = lake_checksums(lake_settings, ("gold", "ops"))
    assert set(before) == {"gold.report_index"}
    _table(lake_settings, "gold.report_index", [{**build, "build_id": "b2", "built_at": "t2"}], mode="append")
    assert lake_checksums(lake_settings, ("gold", "ops")) == before  # a rebuild of the same numbers
    _table(lake_settings, "gold.report_index", [{**build, "build_id": "b3", "numbers_sha256": "def"}], mode="append")
    assert lake_checksums(lake_settings, ("gold", "ops")) != before


def test_batch_columns_name_the_batch_bookkeeping_of_each_layer():
    assert {"_batch_id", "_refined_at"} <= batch_columns("silver.complaint")
    assert "updated_at" not in batch_columns("silver.complaint")  # a ticket's own time, not bookkeeping
    assert "updated_at" in batch_columns("silver.grid") and "record" in batch_columns("quarantine.complaint")
