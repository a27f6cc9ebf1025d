"""Scenario knobs: planted hotspots (count, multiplier, base rate, shape) and a sources subset."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, Drops

from citybrain.democity import HotspotScenario, StabilityScenario, generate
from citybrain.democity.hotline import DAY_FACTOR
from citybrain.democity.plan import HOTSPOT_L2

SIZE = {"days": 28, "scale": 0.2, "sources": ("hotline",)}
SCENARIOS = {
    "default": HotspotScenario(),
    "none": HotspotScenario(count=0),
    "fixed": HotspotScenario(multiplier=(2.5, 2.5)),
    "base_rate": HotspotScenario(base_rate=(0.15, 0.25)),
    "ring": HotspotScenario(shape="ring", multiplier=(4.0, 4.0)),
    "eight": HotspotScenario(count=8),
}


@pytest.fixture(scope="module")
def cities(tmp_path_factory) -> dict[str, Drops]:
    out = {}
    for name, scenario in SCENARIOS.items():
        root = tmp_path_factory.mktemp(f"scenario_{name}")
        generate(root, hotspots=scenario, **SIZE)
        out[name] = Drops(root)
    return out


def _rates(city: Drops) -> pd.Series:
    r = city.truth_csv("complaint_rates.csv")
    return r.set_index(["h3_8", "iso_week"])["expected_tickets"]


def _iso_week(day: dt.date) -> str:
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def _expected_extras(city: Drops) -> pd.Series:
    """Hotspot extra per (h3_8, iso_week) from hotspots.csv and the calendar drops alone.

    The base rate of a day is proportional to its day-type factor, and base_weekly_rate is
    7 x its mean over the run; the extra is (multiplier - 1) x base from the emerge week on.
    """
    cal = pd.concat([city.csv(f) for f in city.files("calendar")], ignore_index=True)
    kind = np.where(cal["holiday_name"] != "", "holiday", np.where(cal["is_workday"] == "1", "workday", "weekend"))
    factor = np.array([DAY_FACTOR[k] for k in kind])
    weeks = np.array([_iso_week(dt.date.fromisoformat(d)) for d in cal["date"]])
    parts = []
    for h in city.truth_csv("hotspots.csv").itertuples():
        base_day = h.base_weekly_rate / 7 * factor / factor.mean()
        extra = np.where(weeks >= h.emerge_week, (h.multiplier - 1) * base_day, 0.0)
        parts.append(pd.DataFrame({"h3_8": h.h3_8, "iso_week": weeks, "extra": extra}))
    if not parts:
        return pd.Series(dtype=float)
    return pd.concat(parts).groupby(["h3_8", "iso_week"])["extra"].sum()


def _check_extras_against_null(city: Drops, null: Drops) -> pd.Series:
    """complaint_rates(city) - complaint_rates(null) is exactly the planted extras."""
    diff = _rates(city) - _rates(null)
    expected = _expected_extras(city).reindex(diff.index, fill_value=0.0)
    assert expected.sum() > 1.0
    np.testing.assert_allclose(diff.to_numpy(), expected.to_numpy(), atol=1e-3)
    assert (diff[expected == 0] == 0).all()  # no other cell-week moved at all
    return diff


def _sha(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_null_city_has_no_hotspot_and_no_extras(cities):
    default, null = cities["default"], cities["none"]
    hs = null.truth_csv("hotspots.csv")
    assert hs.empty and list(hs.columns) == list(default.truth_csv("hotspots.csv").columns)
    assert len(default.truth_csv("hotspots.csv")) == 6
    assert _rates(null).index.equals(_rates(default).index)
    _check_extras_against_null(default, null)
    # the knobs move only the hotspots: the stability plan is the default's
    for name in ("stability_risk.csv", "stability_weekly.csv"):
        assert (null.root / "truth" / name).read_bytes() == (default.root / "truth" / name).read_bytes()
    assert null.manifest["scenario"]["hotspots"]["count"] == 0


def test_fixed_multiplier_keeps_the_default_cells(cities):
    default, fixed = cities["default"].truth_csv("hotspots.csv"), cities["fixed"].truth_csv("hotspots.csv")
    assert (fixed["multiplier"] == 2.5).all()
    assert (default["multiplier"] != 2.5).all()
    same = ["h3_8", "category_l2", "community_code", "emerge_week", "base_weekly_rate"]
    pd.testing.assert_frame_equal(fixed[same], default[same])
    _check_extras_against_null(cities["fixed"], cities["none"])


def test_base_rate_range_is_respected(cities):
    hs = cities["base_rate"].truth_csv("hotspots.csv")
    assert len(hs) == 6 and hs["h3_8"].is_unique
    assert hs["base_weekly_rate"].between(0.15, 0.25).all(), hs["base_weekly_rate"].tolist()
    assert not cities["default"].truth_csv("hotspots.csv")["base_weekly_rate"].between(0.15, 0.25).any()
    # the written base rate is the one the complaint rates were drawn from
    _check_extras_against_null(cities["base_rate"], cities["none"])


def test_ring_covers_the_centre_and_its_neighbours(cities):
    ring, null = cities["ring"], cities["none"]
    hs = ring.truth_csv("hotspots.csv")
    with_points = set(_rates(null).index.get_level_values("h3_8"))
    assert list(hs["category_l2"].unique()) == HOTSPOT_L2
    sizes = []
    for _l2, rows in hs.groupby("category_l2", sort=False):
        centre = rows["h3_8"].iloc[0]
        assert set(rows["h3_8"]) == {c for c in h3.grid_disk(centre, 1) if c in with_points}
        assert rows["h3_8"].is_unique and rows["emerge_week"].nunique() == 1
        sizes.append(len(rows))
    assert max(sizes) == 7
    assert (hs["multiplier"] == 4.0).all()
    diff = _check_extras_against_null(ring, null)
    # every member cell shows (4 - 1) x its own base from the emerge week on
    for h in hs.itertuples():
        after = diff.loc[h.h3_8][diff.loc[h.h3_8].index >= h.emerge_week]
        assert len(after) >= 1 and (after > 0).all()
    # each member's complaints go to its own main community, not the centre's
    assert hs.groupby("category_l2")["community_code"].nunique().max() > 1
    grids = pd.read_json(ring.root / ring.files("registry")[0])
    props = pd.json_normalize(grids["features"])
    lon = props["geometry.coordinates"].map(lambda c: (c[0][0][0] + c[0][2][0]) / 2)
    lat = props["geometry.coordinates"].map(lambda c: (c[0][0][1] + c[0][2][1]) / 2)
    cell = [h3.latlng_to_cell(b, a, 8) for a, b in zip(lon, lat, strict=False)]
    pop = props.assign(h3_8=cell).groupby(["h3_8", "properties.community_code"])["properties.population"].sum()
    main = pop.groupby(level="h3_8").idxmax().map(lambda k: k[1])
    populated = hs[hs["h3_8"].map(pop.groupby(level="h3_8").sum()) > 0]
    assert (populated["community_code"] == populated["h3_8"].map(main)).mean() > 0.9


def test_counts_above_six_cycle_the_categories_in_distinct_cells(cities):
    hs = cities["eight"].truth_csv("hotspots.csv")
    default = cities["default"].truth_csv("hotspots.csv")
    assert hs["category_l2"].tolist() == HOTSPOT_L2 + HOTSPOT_L2[:2]
    assert hs["h3_8"].is_unique
    assert hs["h3_8"].iloc[:6].tolist() == default["h3_8"].tolist()
    _check_extras_against_null(cities["eight"], cities["none"])


@pytest.mark.parametrize(
    ("sources", "truth_files"),
    [
        (("hotline",), {"complaint_rates.csv", "hotspots.csv", "stability_risk.csv", "stability_weekly.csv", "dirt.json"}),
        (("police", "petitions"), {"stability_risk.csv", "stability_weekly.csv", "escalations.csv", "dirt.json"}),
    ],
)
def test_sources_writes_only_what_was_asked(small, tmp_path, sources, truth_files):
    manifest = generate(tmp_path, **SMALL, sources=sources)
    written = {"registry", "calendar", *sources}
    assert set(manifest["sources"]) == written
    assert set(manifest["scenario"]["sources"]) == written
    assert "scenario" not in Drops(small).manifest  # a standard city records no knobs
    assert set(manifest["truth"]) == truth_files
    got, full = _sha(tmp_path), _sha(small)
    assert {p.split("/")[1] for p in got if p.startswith("drops/")} == written
    assert {p.split("/")[1] for p in got if p.startswith("truth/")} == truth_files
    for path, digest in got.items():  # every drop and truth table is the full city's, byte for byte
        if path not in ("manifest.json", "truth/dirt.json"):
            assert digest == full[path], path
    assert Drops(tmp_path).dirt() == [e for e in Drops(small).dirt() if e["source"] in written]
    assert manifest["totals"]["files"] == sum(len(Drops(tmp_path).files(s)) for s in written)


def test_unknown_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown sources.*'hotlines'"):
        generate(tmp_path, **SMALL, sources=("hotlines",))


def test_impossible_base_rate_gives_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"噪声扰民 in \[1000.0, 2000.0\]"):
        generate(tmp_path, **SMALL, hotspots=HotspotScenario(base_rate=(1000, 2000)))
    assert not any(tmp_path.iterdir())  # refused before writing anything


@pytest.mark.parametrize(
    "knobs",
    [{"count": -1}, {"multiplier": (5.0, 2.0)}, {"multiplier": (0.0, 2.0)}, {"base_rate": (2.0, 1.0)}, {"shape": "blob"}],
)
def test_bad_knobs_are_refused(knobs):
    with pytest.raises(ValueError, match="hotspot"):
        HotspotScenario(**knobs)


def test_equal_knobs_compare_equal():
    assert HotspotScenario(multiplier=(3, 6)) == HotspotScenario()
    assert HotspotScenario(base_rate=[1, 2]) == HotspotScenario(base_rate=(1.0, 2.0))


def test_stability_knobs_set_the_escalating_communities_and_their_strength(tmp_path):
    manifest = generate(
        tmp_path, days=84, scale=0.05, sources=("police",), stability=StabilityScenario(count=8, peak_multiplier=(6.0, 9.0))
    )
    assert manifest["scenario"]["stability"] == {"count": 8, "peak_multiplier": [6.0, 9.0]}
    risk = pd.read_csv(tmp_path / "truth" / "stability_risk.csv", dtype=str)
    assert len(risk) == 8 and risk["community_code"].is_unique
    assert risk["peak_multiplier"].astype(float).between(6.0, 9.0).all()
    assert list(risk["theme"]) == [t for _ in range(2) for t in ("征地拆迁", "物业矛盾", "欠薪讨薪", "环境邻避")]


def test_escalation_outcomes_are_mass_incidents_mostly_in_escalating_communities(mid):
    escalations = pd.read_csv(mid / "truth" / "escalations.csv", dtype=str)
    planted = set(pd.read_csv(mid / "truth" / "stability_risk.csv", dtype=str)["community_code"])
    inside = escalations["community_code"].isin(planted)
    assert inside.sum() >= 8 and (~inside).sum() <= 3, escalations  # about 15 planted, 0.0005 a community-week elsewhere
    assert not escalations.duplicated(["community_code", "iso_week"]).any()  # at most one a community-week
    police = Drops(mid).frame("police")
    mass = police[police["type_name"] == "群体性事件"]
    assert set(mass["incident_no"]) == set(escalations["incident_no"])
    assert (mass["severity"].astype(int) >= 3).all()


def test_stability_knobs_are_checked():
    with pytest.raises(ValueError, match="count must be >= 0"):
        StabilityScenario(count=-1)
    with pytest.raises(ValueError, match="1 < lo <= hi"):
        StabilityScenario(peak_multiplier=(1.0, 2.0))


RIDE_SIZE = {"days": 14, "scale": 0.05, "sources": ("ridehailing",)}


def _ride_truth(root: Path) -> tuple[pd.DataFrame, dict]:
    import json

    rates = pd.read_csv(root / "truth" / "ride_rates.csv", dtype={"h3_8": str})
    return rates, json.loads((root / "truth" / "demand_params.json").read_text())


def test_ride_knobs_scale_the_event_surge_and_the_rain_uplift_and_leave_the_default_alone(tmp_path):
    from citybrain.democity.ridehailing import RideScenario

    runs = {}
    knobs = {
        "default": None,
        "same": RideScenario(),
        "dry": RideScenario(rain_uplift=0.0),
        "surge": RideScenario(event_surge=3.0, rain_uplift=0.0),
    }
    for name, rides in knobs.items():
        root = tmp_path / name
        generate(root, **RIDE_SIZE, **({} if rides is None else {"rides": rides}))
        runs[name] = _ride_truth(root)
    base, base_params = runs["default"]
    assert (tmp_path / "default" / "truth" / "ride_rates.csv").read_bytes() == (tmp_path / "same" / "truth" / "ride_rates.csv").read_bytes()
    assert "scenario" not in base_params
    surge, params = runs["surge"]
    assert params["scenario"] == {"event_surge": 3.0, "rain_uplift": 0.0}
    assert set(params["rain_uplift_by_weather"].values()) == {1.0}
    assert params["event_post_pickups_per_attendee"] == pytest.approx(3 * base_params["event_post_pickups_per_attendee"])
    hourly = lambda r: r.assign(day=r["hour"].str[:10]).groupby("day")["expected_pickups"].sum()  # noqa: E731
    b, s = hourly(base), hourly(surge)
    day_types = base_params["day_types"]
    event_days = {e["date"] for e in base_params["events"]}
    # without rain uplift and events, a day's total depends on its day type alone
    plain = pd.Series({d: v for d, v in s.items() if d not in event_days})
    kinds = pd.Series({d: day_types[d] for d in plain.index})
    assert plain.groupby(kinds).agg(lambda v: v.max() / v.min()).max() == pytest.approx(1.0, abs=1e-3)
    typical = plain.groupby(kinds).first()
    dry = hourly(runs["dry"][0])
    assert (b >= dry - 1e-6).all() and (b > dry * 1.1).any()  # rain lifts the default city's rainy days, never lowers one
    scored = sorted(event_days & set(s.index))
    assert scored, "the small city holds an event"
    for day in scored:  # the event's extra pickups are three times the default's
        usual = typical[day_types[day]]
        assert dry[day] - usual > 1.0
        assert s[day] - usual == pytest.approx(3 * (dry[day] - usual), rel=1e-3)
