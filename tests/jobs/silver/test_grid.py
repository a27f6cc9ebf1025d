"""silver.grid from bronze.registry: typed, GeoJSON -> WKT, centroids, H3; bad rows quarantined."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import h3
import pytest
import shapely

from citybrain import lake
from citybrain.jobs.silver.grid import build_grid, refused_registry_rows, run
from citybrain.schemas import get_contract

BRONZE = get_contract("bronze.registry")


def _square(lon: float, lat: float, size: float = 0.01) -> str:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


def _row(code, geometry, *, dt=date(2026, 9, 1), row=1, population="100", file="registry/grid_registry_20260901.geojson", **extra):
    values = {
        "grid_code": code,
        "grid_name": f"网格{code}",
        "community_code": "329901001001",
        "community_name": "甲社区",
        "street_code": "329901001",
        "street_name": "一街道",
        "district_code": "329901",
        "district_name": "东湖区",
        "population": population,
        "households": "40",
        "area_m2": "10000",
        "geometry": geometry,
        "dt": dt,
        "_batch_id": "registry-test",
        "_source_file": file,
        "_file_sha256": file,
        "_source_row": row,
        "_ingested_at": datetime(2026, 9, 1, tzinfo=UTC),
        "_extra": None,
        "_parse_error": None,
    }
    values.update(extra)
    return tuple(values[c] for c in BRONZE.column_names)


@pytest.fixture
def bronze(spark):
    rows = [
        _row("G1", _square(118.70, 32.00), row=1),
        _row("G2", _square(118.71, 32.00), row=2, population="n/a"),
        _row("G3", _square(118.70, 32.01), row=3),
        _row("G4", _square(118.71, 32.01), row=4),
        # bad rows: not GeoJSON, a point, no grid_code
        _row("G5", "{not json", row=5),
        _row("G6", json.dumps({"type": "Point", "coordinates": [118.7, 32.0]}), row=6),
        _row(None, _square(118.72, 32.00), row=7),
        # a later drop re-states G1 with a new population: it wins
        _row("G1", _square(118.70, 32.00), row=1, dt=date(2026, 9, 8), population="120", file="registry/grid_registry_20260908.geojson"),
    ]
    return spark.createDataFrame(rows, BRONZE.ddl())


def test_build_grid_types_locates_and_keeps_the_latest_drop(bronze):
    grid = build_grid(bronze, batch_id="b1")
    get_contract("silver.grid").check(grid)
    rows = {r.grid_code: r for r in grid.collect()}
    assert sorted(rows) == ["G1", "G2", "G3", "G4"]
    g1 = rows["G1"]
    assert g1.population == 120 and g1._source_file == "registry/grid_registry_20260908.geojson"
    assert rows["G2"].population is None and rows["G2"].households == 40 and rows["G2"].area_m2 == 10000.0
    assert g1.centroid_lon == pytest.approx(118.705) and g1.centroid_lat == pytest.approx(32.005)
    assert shapely.from_wkt(g1.geometry_wkt).symmetric_difference(shapely.box(118.70, 32.00, 118.71, 32.01)).area < 1e-12
    for r in (7, 8, 9):
        assert getattr(g1, f"h3_r{r}") == h3.latlng_to_cell(g1.centroid_lat, g1.centroid_lon, r)
    assert g1._batch_id == "b1" and g1.updated_at is not None


def test_rows_that_cannot_be_grids_are_quarantined_not_dropped(bronze):
    refused = refused_registry_rows(bronze, batch_id="b1")
    get_contract("quarantine.grid").check(refused)
    rows = {r.source_row: r for r in refused.collect()}
    assert sorted(rows) == [5, 6, 7]
    assert (rows[5].rule, rows[5].reason, rows[5].measured_value) == ("geometry_valid", "geometry is not GeoJSON", "{not json")
    assert rows[6].reason == "geometry is a Point, not a polygon"
    assert rows[7].rule == "grid_code_present"
    assert json.loads(rows[5].record)["grid_code"] == "G5"
    assert rows[5].batch_id == "b1" and str(rows[5].dt) == "2026-09-01"


def test_run_overwrites_silver_grid_and_counts(spark, lake_settings, bronze):
    lake.write(spark, lake_settings, "bronze.registry", bronze)
    counts = run(spark, lake_settings, "b1")
    assert counts == {"records_in": 8, "accepted": 4, "quarantined": 3, "duplicates_collapsed": 1}
    again = run(spark, lake_settings, "b2")  # a full snapshot: rebuilt, not appended
    assert again == counts
    assert lake.read(spark, lake_settings, "silver.grid").count() == 4
    assert lake.read(spark, lake_settings, "quarantine.grid").count() == 3  # merged on (file, row, rule)
    staging = Path(lake_settings.lake_root) / "_staging"  # the geometry parsed once, staged, then removed
    assert not staging.exists() or not any(staging.iterdir())
