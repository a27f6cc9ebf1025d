"""The demand forecaster: its pieces on small frames, and its backtest on the default demo city against the planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from citybrain.models import demand_evaluation, demand_pipeline
from citybrain.models import demand_forecast as dfm
from citybrain.schemas.gold.ride_hailing_demand import DemandParams


def test_scores_by_hand():
    actual = np.array([0.0, 2.0, 4.0])
    s = demand_evaluation.scores(actual, np.array([1.0, 2.0, 2.0]), np.array([0.0, 3.0, 1.0]), np.array([1.0, 4.0, 5.0]))
    assert s["rmse"] == pytest.approx(np.sqrt(5 / 3)) and s["mae"] == pytest.approx(1.0)
    assert s["mape"] == pytest.approx((0 + 0.5) / 2)  # only the hours with orders
    assert s["coverage"] == pytest.approx(2 / 3)  # 2 is below its lower bound 3


def test_anomaly_p_is_the_smaller_poisson_tail():
    p = demand_pipeline.anomaly_p(np.array([0.0, 3.0, 30.0]), np.array([3.0, 3.0, 3.0]))
    assert p[0] == pytest.approx(np.exp(-3))  # P(Y <= 0)
    assert 0.4 < p[1] < 0.7
    assert p[2] < 1e-15


def test_thin_origins_keeps_the_newest_and_spreads_the_rest():
    frame = pd.DataFrame({"origin": np.repeat(np.arange(10), 5), "x": 1})
    kept = dfm.thin_origins(frame, 20)
    assert sorted(kept["origin"].unique()) == [0, 3, 6, 9]
    assert len(dfm.thin_origins(frame, 1_000)) == 50


def test_the_mean_model_learns_a_multiplicative_hour_effect():
    """Orders = the cell's level x an hour factor: the exposure carries the level, the trees the factor."""
    from citybrain.models.demand_features import FEATURES

    rng = np.random.default_rng(0)
    n = 30_000
    frame = pd.DataFrame({f: 0.0 for f in FEATURES}, index=range(n))
    frame["hour_of_day"] = rng.integers(0, 24, n)
    frame["share_all"] = rng.choice([0.01, 0.05], n)
    frame["city_profile_mean"] = 100.0
    factor = np.where(frame["hour_of_day"] < 12, 0.5, 2.0)
    frame["actual"] = rng.poisson(frame["share_all"] * 100 * factor)
    frame["origin"], frame["hour_start"] = 0, pd.Timestamp("2026-09-01", tz="UTC")
    model = dfm.train(frame, "24h", DemandParams(max_iter=60))
    probe = frame.iloc[:4].copy()
    probe["hour_of_day"], probe["share_all"] = [3, 3, 15, 15], [0.01, 0.05, 0.01, 0.05]
    got = model.predict(probe)
    assert got["forecast"].to_numpy() == pytest.approx([0.5, 2.5, 2.0, 10.0], rel=0.08)
    assert (got["lower"] <= got["forecast"]).all() and (got["forecast"] <= got["upper"]).all()
    band = model.predict(frame)
    inside = ((frame["actual"] >= band["lower"]) & (frame["actual"] <= band["upper"])).mean()
    assert 0.70 <= inside <= 0.90  # an 80 % interval of whole-number counts, not every count up to the next quantile


# --- the default demo city: skill between the historical average and the planted truth ----------------


@pytest.fixture(scope="module")
def default_city(spark, settings, tmp_path_factory):
    """The default demo city's ride-hailing (seed 20260831, 84 days, scale 1), through silver and gold, backtested."""
    root = tmp_path_factory.mktemp("demand_default")
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city")
    return own, demand_evaluation.evaluate_scenario(spark, own, seed=20260831)


@pytest.mark.slow
def test_baselines_match_the_planted_world(default_city):
    _, result = default_city
    t = result.table.set_index(["horizon", "model"])
    for horizon in ("24h", "7d"):
        assert 1.17 < t.loc[(horizon, "oracle"), "rmse"] < 1.23  # the Poisson floor, about 1.20
        assert 1.33 < t.loc[(horizon, "historical_average"), "rmse"] < 1.41  # about 1.37
        assert 1.78 < t.loc[(horizon, "seasonal_naive"), "rmse"] < 1.88  # about 1.83
        assert t.loc[(horizon, "demand_forecast"), "n"] == 243 * 21 * 24  # every cell-hour of the last 21 days, once


@pytest.mark.slow
def test_model_closes_the_gap_to_the_truth_with_honest_intervals(default_city):
    _, result = default_city
    t = result.table.set_index(["horizon", "model"])
    # skill = the share of the gap between the historical average and the planted truth the model closes;
    # over the boosters' seeds 0-3, 10-13, 20-23, 30-33 it was 0.57-0.62 (24h) and 0.51-0.56 (7d), so the bounds
    # leave room for the seed and the machine, and a model that learns nothing (skill about 0) fails
    assert t.loc[("24h", "demand_forecast"), "skill"] >= 0.5, result.table
    assert t.loc[("7d", "demand_forecast"), "skill"] >= 0.4, result.table
    for horizon in ("24h", "7d"):
        assert t.loc[(horizon, "demand_forecast"), "rmse"] < t.loc[(horizon, "seasonal_naive"), "rmse"]
        assert t.loc[(horizon, "demand_forecast"), "rmse"] > t.loc[(horizon, "oracle"), "rmse"]  # nothing beats the floor
        assert 0.70 <= t.loc[(horizon, "demand_forecast"), "coverage"] <= 0.90


@pytest.mark.slow
def test_planted_events_are_flagged_in_their_cells_and_hours(spark, default_city):
    """Train and score as the DAG does; every planted event day the forecasts cover shows flags where and when
    its surge was planted (truth/demand_params.json), and the days without an event almost none."""
    import json

    from citybrain import lake

    settings, _ = default_city
    params = DemandParams()
    demand_pipeline.train(spark, settings, params)
    demand_pipeline.score(spark, settings, params)
    forecast = lake.read(spark, settings, "gold.demand_forecast").toPandas()
    planted = json.loads((settings.demo_dir / "truth" / "demand_params.json").read_text())
    table = demand_evaluation.event_flags(forecast, planted, params.timezone)
    events = table[table["scored"] & (table["event"] != "(all other days)")]
    assert len(events) >= 5, table  # the first events fall in the 28 days of history the first forecast needs
    assert (events["flags_in_surge"] >= 1).all(), table
    assert (events["flags_elsewhere_that_day"] <= 2).all(), table
    assert table.iloc[-1]["flags_elsewhere_that_day"] <= 20, table  # over about 320,000 cell-hours without an event
    assert forecast["model_version"].nunique() == 1 and set(forecast["horizon"]) == {"24h", "7d"}
