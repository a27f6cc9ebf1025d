"""The unit-grid registry tiles the city, is hierarchically coded and holds ~1.0M people."""

from __future__ import annotations

import json

import numpy as np
from shapely import STRtree, box, polygons
from shapely.ops import unary_union

from citybrain.democity import CITY_BBOX


def test_registry_tiles_the_city(small_drops):
    (rel,) = small_drops.files("registry")
    fc = json.loads((small_drops.root / rel).read_text(encoding="utf-8"))
    feats = fc["features"]
    assert 11_000 <= len(feats) <= 13_000
    rings = [f["geometry"]["coordinates"][0] for f in feats]
    assert all(r[0] == r[-1] and len(r) == 5 for r in rings)
    polys = polygons(np.array(rings))
    lon0, lat0, lon1, lat1 = CITY_BBOX
    assert box(lon0, lat0, lon1, lat1).contains(unary_union(polys))
    tree = STRtree(polys)
    rng = np.random.default_rng(0)
    for i in rng.choice(len(polys), 400, replace=False):
        for j in tree.query(polys[i], predicate="intersects"):
            if j != i:
                assert polys[i].intersection(polys[j]).area < 1e-12  # neighbours only touch
    union = unary_union(polys)
    assert abs(union.area - sum(p.area for p in polys)) / union.area < 1e-6
    # each grid is about 100 m x 100 m
    a = feats[0]["geometry"]["coordinates"][0]
    assert abs((a[1][0] - a[0][0]) * 94_400 - 100) < 2 and abs((a[2][1] - a[1][1]) * 110_900 - 100) < 2


def test_registry_codes_and_population(small_drops):
    (rel,) = small_drops.files("registry")
    props = [f["properties"] for f in json.loads((small_drops.root / rel).read_text(encoding="utf-8"))["features"]]
    assert list(props[0]) == [
        "grid_code",
        "grid_name",
        "community_code",
        "community_name",
        "street_code",
        "street_name",
        "district_code",
        "district_name",
        "population",
        "households",
        "area_m2",
    ]
    for p in props:
        assert len(p["district_code"]) == 6 and p["street_code"][:6] == p["district_code"]
        assert len(p["street_code"]) == 9 and p["community_code"][:9] == p["street_code"]
        assert len(p["community_code"]) == 12 and p["grid_code"][:12] == p["community_code"]
        assert len(p["grid_code"]) == 15 and p["area_m2"] == 10_000
    assert len({p["grid_code"] for p in props}) == len(props)
    assert {p["district_name"] for p in props} == {"东湖区", "西岭区", "南塘区", "北山区"}
    assert len({p["street_code"] for p in props}) == 16
    assert 100 <= len({p["community_code"] for p in props}) <= 130
    pop = np.array([p["population"] for p in props])
    assert 990_000 <= pop.sum() <= 1_010_000
    assert (pop == 0).sum() > 100  # lake and parks
    assert pop.max() > 5 * np.median(pop)  # a denser core


def test_calendar_holidays(small_drops, tmp_path):
    from citybrain.democity import generate

    generate(tmp_path, days=42, scale=0.01, start=__import__("datetime").date(2026, 9, 14))
    import pandas as pd

    cal = pd.concat(pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted((tmp_path / "drops/calendar").glob("*.csv")))
    cal = cal.set_index("date")
    assert cal.loc["2026-10-01", "holiday_name"] == "国庆节" and cal.loc["2026-10-01", "is_workday"] == "0"
    assert cal.loc["2026-09-25", "holiday_name"] == "中秋节"
    assert cal.loc["2026-09-20", "is_workday"] == "1" and cal.loc["2026-10-10", "is_workday"] == "1"  # 调休
    assert cal["weather"].isin(["晴", "多云", "阴", "小雨", "中雨", "大雨"]).all()
    assert (cal["event_name"] != "").sum() >= 2
