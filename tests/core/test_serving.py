"""The serving DuckDB file: views over the lake, each row placed in its district, rebuilt atomically."""

from __future__ import annotations

import json
from pathlib import Path

import h3
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from citybrain import lake, serving
from citybrain.schemas import get_contract

P_SHARED = (30.000, 120.000)  # two grids of different districts share this cell
P_EAST = (30.000, 120.050)  # one grid of district 01
P_NEAR_EAST = (30.000, 120.062)  # no grid centroid: placed by the nearest one (P_EAST)


def _cell(point) -> str:
    return h3.latlng_to_cell(*point, 8)


def _write(settings, name: str, rows: list[dict], mode: str = "overwrite") -> None:
    contract = get_contract(name)
    schema = pa.schema([field.with_nullable(True) for field in contract.arrow_schema()])
    table = pa.Table.from_pylist([{c: row.get(c) for c in schema.names} for row in rows], schema=schema)
    write_deltalake(lake.table_location(settings, name), table, mode=mode)


def _grid(code, street, district, population, point):
    return {
        "grid_code": code,
        "street_code": street,
        "street_name": f"street {street}",
        "district_code": district,
        "district_name": f"district {district}",
        "population": population,
        "centroid_lat": point[0],
        "centroid_lon": point[1],
    }


@pytest.fixture
def small_lake(lake_settings):
    _write(
        lake_settings,
        "silver.grid",
        [
            _grid("g1", "0101", "01", 100, P_SHARED),
            _grid("g2", "0201", "02", 300, P_SHARED),
            _grid("g3", "0101", "01", 50, P_EAST),
        ],
    )
    hotspot = {"source_system": "hotline", "h3_resolution": 8, "category_level": "all", "category": "all", "complaints": 1}
    _write(lake_settings, "gold.complaint_hotspots", [{**hotspot, "h3_cell": _cell(p)} for p in (P_SHARED, P_EAST, P_NEAR_EAST)])
    perf = {"source_system": "hotline", "period_type": "week", "period": "2026-W01"}
    _write(
        lake_settings,
        "gold.hotline_performance",
        [
            {**perf, "unit_type": "street", "unit_code": "0101", "received": 5},
            {**perf, "unit_type": "street", "unit_code": "0201", "received": 7},
            {**perf, "unit_type": "city", "unit_code": "city", "received": 12},
        ],
    )
    _write(
        lake_settings,
        "quarantine.complaint",
        [{"record": "{'phone': '13800000000'}", "rule": "located", "reason": "outside the city", "batch_id": "b1"}],
    )
    return lake_settings


def test_rows_are_placed_in_their_district(small_lake):
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        placed = dict(db.execute("SELECT h3_cell, district_code FROM gold.complaint_hotspots").fetchall())
        streets = dict(db.execute("SELECT unit_code, district_code FROM gold.hotline_performance").fetchall())
        districts = db.execute("SELECT district_code FROM ref.districts").fetchall()
    # the shared cell goes to the street with most population (300 in district 02 against 100)
    assert placed == {_cell(P_SHARED): "02", _cell(P_EAST): "01", _cell(P_NEAR_EAST): "01"}
    # street rows carry their district; the city row has none (a district analyst never sees it)
    assert streets == {"0101": "01", "0201": "02", "city": None}
    assert districts == [("01",), ("02",)]


def test_cell_centre_and_outline(small_lake):
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        lat, lon, outline = db.execute(
            "SELECT center_lat, center_lon, boundary_geojson FROM gold.complaint_hotspots WHERE h3_cell = ?", [_cell(P_EAST)]
        ).fetchone()
    assert (lat, lon) == pytest.approx(h3.cell_to_latlng(_cell(P_EAST)))
    polygon = json.loads(outline)
    (ring,) = polygon["coordinates"]
    assert polygon["type"] == "Polygon" and len(ring) == 7 and ring[0] == ring[-1]  # 6 corners, closed
    # GeoJSON order is lon, lat: the corners surround the centre
    assert sum(p[0] for p in ring[:6]) / 6 == pytest.approx(lon, abs=1e-4)
    assert sum(p[1] for p in ring[:6]) / 6 == pytest.approx(lat, abs=1e-4)


def test_views_read_new_commits_without_a_rebuild(small_lake):
    report = serving.build_serving_db(small_lake)
    _write(small_lake, "gold.hotline_performance", [{"unit_type": "street", "unit_code": "0101", "period": "2026-W02"}], mode="append")
    with serving.connect(report.path) as db:
        assert db.execute("SELECT count(*) FROM gold.hotline_performance").fetchone()[0] == 4


def test_tables_not_built_yet_are_empty_views_with_the_contract_columns(small_lake):
    report = serving.build_serving_db(small_lake)
    assert "gold.governance_scorecard" in report.empty_views
    assert "gold.hotline_performance" not in report.empty_views
    with serving.connect(report.path) as db:
        columns = [row[0] for row in db.execute("DESCRIBE gold.governance_scorecard").fetchall()]
        assert db.execute("SELECT count(*) FROM gold.governance_scorecard").fetchone()[0] == 0
    assert columns[: len(get_contract("gold.governance_scorecard").columns)] == get_contract("gold.governance_scorecard").column_names


def test_quarantine_is_served_without_the_raw_record(small_lake):
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        rows = db.execute("SELECT entity, rule, reason FROM ops.quarantined").fetchall()
        columns = [row[0] for row in db.execute("DESCRIBE ops.quarantined").fetchall()]
    assert rows == [("complaint", "located", "outside the city")]
    assert "record" not in columns


def test_the_file_is_read_only_for_readers(small_lake):
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db, pytest.raises(Exception, match="read-only"):
        db.execute("CREATE TABLE gold.x AS SELECT 1")


def test_a_failed_build_leaves_the_previous_file(small_lake):
    first = serving.build_serving_db(small_lake)
    before = first.path.read_bytes()
    # a Delta table whose data file is gone: its view cannot be read, so the build must fail
    for data_file in Path(lake.table_location(small_lake, "gold.hotline_performance")).glob("*.parquet"):
        data_file.unlink()
    with pytest.raises(serving.ServingError, match="gold.hotline_performance"):
        serving.build_serving_db(small_lake)
    assert first.path.read_bytes() == before
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]


def test_bronze_and_raw_records_are_never_served(small_lake):
    """Bronze keeps clear personal data for replay: no view reads it, and no view has the raw record."""
    _write(small_lake, "bronze.hotline", [{"caller_phone": "13800000000", "_batch_id": "b1"}])
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        sql = " ".join(row[0] for row in db.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall())
        columns = {row[0] for row in db.execute("SELECT column_name FROM duckdb_columns() WHERE NOT internal").fetchall()}
    assert "/bronze/" not in sql and "/quarantine/complaint" in sql
    assert "record" not in columns and not any(view.startswith("bronze.") for view in report.views)


def test_text_a_spreadsheet_would_evaluate_is_served_inert(small_lake):
    values = ["=cmd|' /C calc'!A0", "+SUM(1)", "@x", "-2+3+cmd", "\t=1", '=HYPERLINK("http://x")', "-12.5", "42", "<script>", "路灯不亮"]
    rows = [{"source_system": "hotline", "h3_cell": _cell(P_EAST), "category": v} for v in values]
    _write(small_lake, "gold.complaint_hotspots", rows)
    _write(small_lake, "quarantine.complaint", [{"rule": "r", "reason": "=1+1", "batch_id": "b1", "measured_value": "-3"}])
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        served = [row[0] for row in db.execute("SELECT category FROM gold.complaint_hotspots").fetchall()]
        quarantined = db.execute("SELECT reason, measured_value FROM ops.quarantined").fetchone()
    expected = [f"'{v}" for v in values[:6]] + values[6:]  # plain numbers and ordinary text stay as they are
    assert sorted(served) == sorted(expected)
    assert quarantined == ("'=1+1", "-3")


def test_a_table_written_before_its_contract_gained_a_column_is_served_with_it_null(small_lake):
    older = [c for c in get_contract("ops.ingest_ledger").columns if c.name != "rejected_reason"]
    schema = pa.schema([pa.field(c.name, get_contract("ops.ingest_ledger").arrow_schema().field(c.name).type) for c in older])
    write_deltalake(lake.table_location(small_lake, "ops.ingest_ledger"), pa.Table.from_pylist([{"source": "hotline"}], schema=schema))
    report = serving.build_serving_db(small_lake)
    with serving.connect(report.path) as db:
        assert db.execute("SELECT source, rejected_reason FROM ops.ingest_ledger").fetchall() == [("hotline", None)]
