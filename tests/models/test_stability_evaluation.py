"""The stability index and its early warning on the default demo city (seed 20260831), against its planted truth.

The oracle scores each community-week by its true planted risk multiplier (truth/stability_weekly.csv);
the label is the escalation outcome in the data (a mass incident 群体性事件 next week).
"""

from __future__ import annotations

import pytest

from citybrain import lake
from citybrain.models import stability_evaluation


@pytest.fixture(scope="module")
def default_city(spark, settings, tmp_path_factory):
    """The default demo city's hotline, police and petitions, through silver and gold.stability_risk, evaluated."""
    root = tmp_path_factory.mktemp("stability_default")
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city")
    return own, stability_evaluation.evaluate_scenario(spark, own, seed=20260831)


@pytest.mark.slow
def test_every_planted_community_is_in_the_top_decile_at_orange_or_red_by_its_peak_week(default_city):
    _, result = default_city
    planted = result.planted
    assert len(planted) == 4
    assert planted["hit"].all(), planted
    assert (planted["rank"] <= 11).all() and set(planted["level_color"]) <= {"orange", "red"}


@pytest.mark.slow
def test_the_label_is_learnable_and_the_warning_comes_close_to_the_oracle(default_city):
    _, result = default_city
    b = result.backtest.set_index("model")
    oracle, model = b.loc["oracle"], b.loc["stability_warning"]
    assert oracle["roc_auc"] >= 0.85  # the label is learnable
    assert model["roc_auc"] >= 0.9 * oracle["roc_auc"] and model["roc_auc"] >= 0.8
    assert model["precision_at_k"] >= 0.8 * oracle["precision_at_k"]
    assert model["median_lead_weeks"] >= 1
    assert oracle["positives"] >= 10 and oracle["k"] == 6  # 5 % of 106 scored communities, rounded up


@pytest.mark.slow
def test_metrics_land_in_model_metrics_beside_the_oracle(spark, default_city):
    settings, _ = default_city
    metrics = lake.read(spark, settings, "gold.model_metrics").toPandas()
    backtest = metrics[metrics["scope"] == "backtest"]
    assert set(backtest["model"]) == {"stability_warning", "oracle", "stability_score"}
    assert {"roc_auc", "precision_at_k", "median_lead_weeks", "detected_share"} <= set(backtest["metric"])
    gold = lake.read(spark, settings, "gold.stability_risk").toPandas()
    assert gold.groupby("unit_type")["unit_code"].nunique().to_dict() == {"community": 107, "street": 16, "district": 4}
    probability = gold["warning_probability"].dropna()
    assert len(probability) > 100 and probability.between(0, 1).all()
    assert gold.loc[gold["warning_probability"].notna(), "unit_type"].eq("community").all()
