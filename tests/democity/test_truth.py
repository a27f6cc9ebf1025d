"""The planted truth is what the drops were drawn from."""

from __future__ import annotations

import datetime as dt

import h3
import numpy as np
import pandas as pd
import pytest

from citybrain.democity import CITY_BBOX


def _iso_week(day: str) -> str:
    y, w, _ = dt.date(int(day[:4]), int(day[4:6]), int(day[6:8])).isocalendar()
    return f"{y}-W{w:02d}"


@pytest.fixture(scope="module")
def tickets(mid_drops) -> pd.DataFrame:
    rows = mid_drops.frame("hotline")
    lon = pd.to_numeric(rows["经度"], errors="coerce")
    lat = pd.to_numeric(rows["纬度"], errors="coerce")
    lon0, lat0, lon1, lat1 = CITY_BBOX
    ok = lon.between(lon0, lon1) & lat.between(lat0, lat1)
    located = rows[ok].assign(lon=lon[ok], lat=lat[ok]).drop_duplicates("工单编号")
    located["h3_8"] = [h3.latlng_to_cell(a, b, 8) for a, b in zip(located["lat"], located["lon"], strict=False)]
    located["week"] = [_iso_week(t.split("-")[1]) for t in located["工单编号"]]
    return located


def test_ride_orders_per_day_match_true_rates(mid_drops):
    orders = mid_drops.frame("ridehailing").drop_duplicates("order_id")
    observed = orders["order_id"].str[3:11].value_counts().sort_index()
    rates = mid_drops.truth_csv("ride_rates.csv")
    expected = rates.groupby(rates["hour"].str[:10].str.replace("-", ""))["expected_pickups"].sum()
    assert list(observed.index) == list(expected.index)
    z = (observed - expected) / np.sqrt(expected)
    assert (z.abs() < 4.5).all(), z.abs().max()
    assert abs(observed.sum() / expected.sum() - 1) < 0.01


def test_ride_demand_follows_the_hour_profile_and_events(mid_drops):
    rates = mid_drops.truth_csv("ride_rates.csv")
    hourly = rates.groupby("hour")["expected_pickups"].sum()
    hod = hourly.groupby(hourly.index.str[11:13]).mean()
    assert hod["08"] > 3 * hod["03"] and hod["18"] > 3 * hod["03"]
    import json

    params = json.loads((mid_drops.root / "truth" / "demand_params.json").read_text(encoding="utf-8"))
    assert params["events"] and {"hour_profile_share", "rain_uplift_by_weather", "day_type_factor"} <= params.keys()


def test_hotline_tickets_per_week_match_true_rates(mid_drops, tickets):
    rows = mid_drops.frame("hotline").drop_duplicates("工单编号")
    observed = pd.Series([_iso_week(t.split("-")[1]) for t in rows["工单编号"]]).value_counts().sort_index()
    truth = mid_drops.truth_csv("complaint_rates.csv")
    expected = truth.groupby("iso_week")["expected_tickets"].sum()
    z = (observed - expected.reindex(observed.index)) / np.sqrt(expected.reindex(observed.index))
    assert (z.abs() < 4.5).all(), z
    # located tickets fall in cells the truth lists
    assert set(tickets["h3_8"]) <= set(truth["h3_8"])


def test_hotspot_cells_surge_after_emerging(mid_drops, tickets):
    hs = mid_drops.truth_csv("hotspots.csv")
    assert 5 <= len(hs) <= 8
    assert hs["multiplier"].between(3, 6).all()
    weeks = sorted(tickets["week"].unique())
    before = after = n_before = n_after = 0.0
    for h in hs.itertuples():
        sel = tickets[(tickets["h3_8"] == h.h3_8) & (tickets["二级分类"] == h.category_l2)]
        per_week = sel["week"].value_counts().reindex(weeks, fill_value=0)
        k = weeks.index(h.emerge_week)
        before += per_week.iloc[:k].sum()
        n_before += k
        after += per_week.iloc[k:].sum()
        n_after += len(weeks) - k
    assert after / n_after > 2.5 * (before / n_before), (before, n_before, after, n_after)


def test_stability_signals_rise_towards_the_peak(mid_drops, tickets):
    risk = mid_drops.truth_csv("stability_risk.csv")
    assert len(risk) == 4
    pet = mid_drops.frame("petitions").drop_duplicates("信访件编号")
    pet["week"] = [_iso_week(k[8:16]) for k in pet["信访件编号"]]  # XF + district code + registration date
    weekly = mid_drops.truth_csv("stability_weekly.csv")
    weeks = sorted(tickets["week"].unique())
    rising = quiet = n_rising = n_quiet = 0
    collective = []
    for r in risk.itertuples():
        parts = dict(p.split(":", 1) for p in r.drivers.split(";"))
        mine_p = pet[(pet["社区"] == r.community_name) & (pet["问题类别"] == parts["petitions"].split("(")[0])]
        mine_h = tickets[(tickets["社区"] == r.community_name) & (tickets["二级分类"] == parts["hotline"])]
        for df in (mine_p, mine_h):
            rising += df["week"].between(r.start_week, r.peak_week).sum()
            quiet += (df["week"] < r.start_week).sum()
        n_rising += weeks.index(r.peak_week) - weeks.index(r.start_week) + 1
        n_quiet += weeks.index(r.start_week)
        collective += list(mine_p.loc[mine_p["week"].between(r.start_week, r.peak_week), "访别"] == "集体访")
        lv = weekly[weekly["community_code"] == r.community_code].set_index("iso_week")["risk_level"]
        assert lv[r.peak_week] in ("orange", "red") and lv[r.start_week] in ("blue", "yellow")
    assert rising / n_rising > 3 * quiet / max(n_quiet, 1), (rising, n_rising, quiet, n_quiet)
    assert np.mean(collective) > 0.2
