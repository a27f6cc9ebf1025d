"""Locating records on the grid: by point, swapped point, community centroid; GCJ-02; the demo city."""

import json
import math

import h3
import numpy as np
import pytest

from citybrain import lake
from citybrain.jobs.silver import geo
from citybrain.jobs.silver.geo import gcj02_to_wgs84, grid_index, load_grid_index, locate, wgs84_to_gcj02

GRID_SCHEMA = (
    "grid_code string, community_code string, community_name string, street_code string, street_name string,"
    " district_code string, district_name string, population int, geometry_wkt string, centroid_lon double, centroid_lat double"
)
RECORDS = "id string, lon string, lat string, community string, street string, district string"


def _grid(code, community, street, lon, lat, population):
    wkt = f"POLYGON (({lon} {lat}, {lon + 0.01} {lat}, {lon + 0.01} {lat + 0.01}, {lon} {lat + 0.01}, {lon} {lat}))"
    c_code = {"甲社区": "D1S1C1", "乙社区": "D1S1C2", "丙社区": "D1S2C1"}[community]
    s_code = {"一街道": "D1S1", "二街道": "D1S2"}[street]
    return (code, c_code, community, s_code, street, "D1", "东湖区", population, wkt, lon + 0.005, lat + 0.005)


@pytest.fixture
def index(spark):
    """A 2 x 2 city: 甲社区 (two grids, 100 and 300 people), 乙社区 above, 丙社区 in another street."""
    rows = [
        _grid("G1", "甲社区", "一街道", 118.70, 32.00, 100),
        _grid("G2", "甲社区", "一街道", 118.71, 32.00, 300),
        _grid("G3", "乙社区", "一街道", 118.70, 32.01, 50),
        _grid("G4", "丙社区", "二街道", 118.71, 32.01, 0),
    ]
    return grid_index(spark.createDataFrame(rows, GRID_SCHEMA))


def _locate(spark, index, rows, **kwargs):
    df = spark.createDataFrame(rows, kwargs.pop("schema", RECORDS))
    names = {"community": "community", "street": "street", "district": "district"}
    return {r.id: r for r in locate(df, index, lon="lon", lat="lat", **{**names, **kwargs}).collect()}


def test_point_inside_a_grid_gets_its_grid_codes_and_h3_cells(spark, index):
    out = _locate(spark, index, [("a", "118.713", "32.004", None, None, None), ("b", " 118.705 ", "32.015", "", "", "")])
    a = out["a"]
    assert (a.grid_code, a.community_code, a.street_code, a.district_code) == ("G2", "D1S1C1", "D1S1", "D1")
    assert (a.location_method, a.location_issue) == ("point", None)
    assert (a.located_lon, a.located_lat) == (118.713, 32.004)
    for r in (7, 8, 9):
        assert getattr(a, f"h3_r{r}") == h3.latlng_to_cell(32.004, 118.713, r)
    assert out["b"].grid_code == "G3" and out["b"].location_method == "point"


def test_numeric_coordinate_columns_work_too(spark, index):
    schema = "id string, lon double, lat double, community string, street string, district string"
    out = _locate(spark, index, [("a", 118.713, 32.004, None, None, None), ("b", None, None, None, None, None)], schema=schema)
    assert out["a"].grid_code == "G2" and out["a"].location_method == "point"
    assert out["b"].location_method is None and out["b"].location_issue.startswith("coordinates missing")


def test_points_off_the_city_are_unlocated_with_the_reason(spark, index):
    out = _locate(spark, index, [("zero", "0", "0.0", None, None, None), ("far", "121.9", "32.1", None, None, None)])
    for r in out.values():
        assert r.location_method is None and r.grid_code is None and r.h3_r8 is None and r.located_lon is None
    assert out["zero"].location_issue.startswith("coordinates outside the city: lon=0.0 lat=0.0")
    assert out["far"].location_issue.startswith("coordinates outside the city: lon=121.9 lat=32.1")


def test_missing_coordinates_are_placed_at_the_community_centroid(spark, index):
    out = _locate(
        spark,
        index,
        [
            ("a", "", "", "甲社区", "一街道", "东湖区"),
            ("b", None, None, "乙社区", None, None),  # the name alone is unique in the city
            ("c", "", "", "X社区", "一街道", None),
            ("d", "", "", None, None, None),
        ],
    )
    a = out["a"]
    assert (a.location_method, a.location_issue) == ("community", "coordinates missing")
    # population-weighted: (118.705 * 100 + 118.715 * 300) / 400
    assert a.located_lon == pytest.approx(118.7125) and a.located_lat == pytest.approx(32.005)
    assert (a.grid_code, a.community_code) == ("G2", "D1S1C1")
    assert a.h3_r9 == h3.latlng_to_cell(32.005, a.located_lon, 9)
    assert out["b"].location_method == "community" and out["b"].grid_code == "G3"
    assert out["c"].location_method is None
    assert out["c"].location_issue == "coordinates missing; unknown community 'X社区' in street '一街道'"
    assert out["d"].location_issue == "coordinates missing; community missing"


def test_swapped_coordinates_are_repaired(spark, index):
    out = _locate(spark, index, [("a", "32.015", "118.705", "甲社区", None, None)])
    a = out["a"]
    assert (a.location_method, a.grid_code) == ("point_swapped", "G3")  # the point wins over the community
    assert (a.located_lon, a.located_lat) == (118.705, 32.015)
    assert a.location_issue == "lon/lat swapped: lon=32.015 lat=118.705"


def test_garbage_text_is_not_a_number(spark, index):
    out = _locate(spark, index, [("a", "abc", "32.0", None, None, None), ("b", "118.705", "N/A", "乙社区", None, None)])
    assert out["a"].location_method is None
    assert out["a"].location_issue.startswith("coordinates not numbers: 'abc'")
    assert out["b"].location_method == "community"
    assert out["b"].location_issue == "coordinates not numbers: 'N/A'"


def test_locate_refuses_a_frame_that_already_has_the_columns(spark, index):
    df = spark.createDataFrame([("G1", "1", "2")], "grid_code string, lon string, lat string")
    with pytest.raises(ValueError, match="grid_code"):
        locate(df, index, lon="lon", lat="lat")


def _metres(lon1, lat1, lon2, lat2):
    dx = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371008.8 * math.hypot(dx, math.radians(lat2 - lat1))


@pytest.mark.parametrize("lon, lat", [(118.7969, 32.0603), (116.3912, 39.9073), (121.4737, 31.2304), (113.2644, 23.1291)])
def test_gcj02_round_trips_within_a_metre(lon, lat):
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert 100 < _metres(lon, lat, float(g_lon), float(g_lat)) < 1000  # the published shift is a few hundred metres
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert _metres(lon, lat, float(w_lon), float(w_lat)) < 1.0


def test_gcj02_matches_the_published_reference():
    # the example published with wandergis/coordtransform (test/app.js): wgs84togcj02(116.404, 39.915)
    g_lon, g_lat = wgs84_to_gcj02(116.404, 39.915)
    assert (float(g_lon), float(g_lat)) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)
    # outside China nothing changes
    assert tuple(map(float, wgs84_to_gcj02(2.35, 48.85))) == (2.35, 48.85)


def test_gcj02_input_is_converted_before_locating(spark, index):
    g_lon, g_lat = wgs84_to_gcj02(np.array([118.705]), np.array([32.005]))
    rows = [("a", repr(float(g_lon[0])), repr(float(g_lat[0])), None, None, None)]
    a = _locate(spark, index, rows, crs="gcj02")["a"]
    assert (a.location_method, a.grid_code) == ("point", "G1")
    assert _metres(a.located_lon, a.located_lat, 118.705, 32.005) < 1.0


def test_demo_city_hotline_is_located(spark, lake_settings, tmp_path):
    from citybrain.democity import generate
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.silver import grid

    generate(tmp_path, days=7, scale=0.05)
    ingest.run(spark, lake_settings, "registry", drops_dir=tmp_path / "drops")
    counts = grid.run(spark, lake_settings, "test-grid")
    assert counts["accepted"] == 12078 and counts["quarantined"] == 0
    ingest.run(spark, lake_settings, "hotline", drops_dir=tmp_path / "drops")
    index = load_grid_index(spark, lake_settings)
    hotline = lake.read(spark, lake_settings, "bronze.hotline")
    located = locate(hotline, index, lon="lon", lat="lat", community="community", street="street", district="district")
    rows = located.select("ticket_no", "_source_file", "lon", "lat", "community", "location_method", "location_issue").collect()

    by_point = sum(r.location_method == "point" for r in rows)
    assert by_point / len(rows) > 0.9
    no_coordinates = [r for r in rows if not (r.lon or "").strip() and (r.community or "").strip()]
    assert no_coordinates and all(r.location_method == "community" for r in no_coordinates)

    dirt = json.loads((tmp_path / "truth" / "dirt.json").read_text())
    planted = {
        (d["file"].removeprefix("drops/"), d["key"]) for d in dirt if d["kind"] == "coordinates_outside_city" and d["source"] == "hotline"
    }
    off = [r for r in rows if (r._source_file, r.ticket_no) in planted]
    assert planted and len(off) >= len(planted)
    assert all(r.location_method in ("point_swapped", "community", None) for r in off)


def test_a_point_in_a_gap_between_grids_is_on_no_grid(spark):
    rows = [_grid("G1", "甲社区", "一街道", 118.70, 32.00, 100), _grid("G4", "丙社区", "二街道", 118.71, 32.01, 0)]
    index = grid_index(spark.createDataFrame(rows, GRID_SCHEMA))
    assert index.bbox == pytest.approx((118.70, 32.00, 118.72, 32.02))
    a = _locate(spark, index, [("a", "118.715", "32.005", None, None, None)])["a"]
    assert a.location_method is None
    assert a.location_issue == "coordinates on no grid of the city: lon=118.715 lat=32.005; community missing"


def test_without_a_registry_only_points_inside_the_city_box_are_placed(spark):
    """Boston has no grid registry here: its bounding box is the only check, on both sides of both axes."""
    box = (-71.20, 42.22, -70.98, 42.40)
    points = [("in", "-71.06", "42.36"), ("west", "-71.21", "42.36"), ("east", "-70.97", "42.36"),
              ("south", "-71.06", "42.21"), ("north", "-71.06", "42.41"), ("china", "118.78", "32.05")]  # fmt: skip
    df = spark.createDataFrame(points, "name string, lon string, lat string")
    rows = {r.name: r for r in geo.locate_without_registry(df, bbox=box, lon="lon", lat="lat").collect()}
    assert rows["in"].location_method == "h3_only" and rows["in"].h3_r8 is not None
    for name in ("west", "east", "south", "north", "china"):
        assert rows[name].location_method is None and rows[name].location_issue.startswith("coordinates outside the city"), name


def _write_grid(spark, settings, rows, mode):
    from pyspark.sql import functions as F

    from citybrain.schemas import get_contract

    df = spark.createDataFrame(rows, GRID_SCHEMA).select(
        "*",
        *(F.lit(v).alias(c) for c, v in (("h3_r7", "c7"), ("h3_r8", "c8"), ("h3_r9", "c9"), ("_batch_id", "b"), ("_source_file", "f"))),
        F.current_timestamp().alias("updated_at"),
    )
    contract = get_contract("silver.grid")
    lake.write(
        spark,
        settings,
        "silver.grid",
        df.select(*(F.col(c) if c in df.columns else F.lit(None).cast(contract.column(c).type) for c in contract.column_names)).toDF(
            *contract.column_names
        ),
        mode=mode,
    )


def test_the_grid_index_is_built_again_when_the_registry_changes(spark, lake_settings):
    """The index is kept between refines of one process only while silver.grid stays the same."""
    _write_grid(spark, lake_settings, [_grid("G1", "甲社区", "一街道", 118.70, 32.00, 100)], "overwrite")
    first = load_grid_index(spark, lake_settings)
    assert load_grid_index(spark, lake_settings) is first
    _write_grid(spark, lake_settings, [_grid("G2", "乙社区", "一街道", 118.70, 32.00, 100)], "overwrite")
    assert list(load_grid_index(spark, lake_settings).grid_code) == ["G2"]


def test_an_empty_grid_registry_is_refused_by_name(spark):
    with pytest.raises(ValueError, match="the grid registry is empty"):
        grid_index(spark.createDataFrame([], GRID_SCHEMA))


def test_each_row_gets_its_own_points_cells_once_per_distinct_point_and_none_without_a_point():
    lon = np.array([118.78, np.nan, 118.70, 118.78, 118.70])
    lat = np.array([32.05, 32.05, 32.01, 32.05, np.nan])
    cells = geo._h3_cells(lon, lat)
    for r in geo.H3_RESOLUTIONS:
        here, there = h3.latlng_to_cell(32.05, 118.78, r), h3.latlng_to_cell(32.01, 118.70, r)
        assert cells[r].to_pylist() == [here, None, there, here, None]
    assert [c.to_pylist() for c in geo._h3_cells(np.array([np.nan]), np.array([np.nan])).values()] == [[None]] * 3
