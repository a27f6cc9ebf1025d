"""The early warning: labels, the rolling origin (no look-ahead), calibration, explanations and backtest figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from citybrain.models import stability_warning as warning
from citybrain.models.stability_index import SCORED, load_config

WEEKS = [f"2026-W{w}" for w in range(36, 48)]


def _rows(seed: int = 0, communities: int = 60) -> tuple[pd.DataFrame, dataclasses.dataclass]:
    """Community-weeks whose score carries the risk; outcomes follow a high score a week later."""
    cfg = load_config()
    rng = np.random.default_rng(seed)
    frames = []
    for c in range(communities):
        risky = c < 6
        base = rng.uniform(0, 0.3, (len(WEEKS), len(cfg.names)))
        if risky:
            base[4:9] += 0.6
        frame = pd.DataFrame(base, columns=[f"{n}_norm" for n in cfg.names])
        frame["community_code"] = f"C{c:03d}"
        frame["iso_week"] = WEEKS
        frame["status"] = SCORED
        frame["score"] = 100 * frame[[f"{n}_norm" for n in cfg.names]].mean(axis=1)
        frames.append(frame)
    scored = pd.concat(frames, ignore_index=True)
    hot = scored.sort_values(["community_code", "iso_week"]).groupby("community_code")["score"].shift(1) > 50
    outcomes = scored.loc[hot & (rng.random(len(scored)) < 0.8), ["community_code", "iso_week"]]
    return warning.with_labels(warning.features(scored, cfg), outcomes, WEEKS, 1), cfg


def test_label_is_next_weeks_outcome_and_unknown_at_the_end():
    rows = pd.DataFrame({"community_code": ["A"] * 3 + ["B"] * 3, "iso_week": WEEKS[:3] * 2})
    outcomes = pd.DataFrame({"community_code": ["A", "B"], "iso_week": [WEEKS[1], WEEKS[0]]})
    labelled = warning.with_labels(rows, outcomes, WEEKS[:3], 1)
    assert labelled["label"].tolist()[:2] == [1.0, 0.0] and np.isnan(labelled["label"].iloc[2])
    assert labelled["label"].tolist()[3:5] == [0.0, 0.0]  # B's outcome in the first week has no week before it


def test_rolling_origin_never_sees_the_future():
    rows, cfg = _rows()
    pred, _ = warning.rolling_origin(rows, cfg)
    t = int(pred["week_index"].median())
    scrambled = rows.copy()
    future = scrambled["week_index"] >= t
    scrambled.loc[future, "label"] = 1.0 - scrambled.loc[future, "label"]
    again, _ = warning.rolling_origin(scrambled, cfg)
    before = pred[pred["week_index"] <= t].sort_values(["community_code", "week_index"])["probability"].to_numpy()
    after = again[again["week_index"] <= t].sort_values(["community_code", "week_index"])["probability"].to_numpy()
    assert np.allclose(before, after)  # a label of week >= t is known only after week t + 1


def test_probabilities_are_calibrated_and_explained():
    rows, cfg = _rows(seed=1, communities=120)
    pred, importance = warning.rolling_origin(rows, cfg)
    labelled = pred[pred["label"].notna()]
    assert labelled["probability"].between(0, 1).all()
    expected, observed = labelled["probability"].sum(), labelled["label"].sum()
    assert 0.6 * observed <= expected <= 1.4 * observed, (expected, observed)
    assert importance.sum() == pytest.approx(1.0) and importance.idxmax() in warning.feature_names(cfg)
    top = labelled.sort_values("probability").iloc[-1]
    assert top["reason1"] in warning.feature_names(cfg)


def test_backtest_metrics_by_hand():
    # two weeks, four communities, k = 1; A positive in week 1 (ranked first), D positive in week 2 (ranked second)
    pred = pd.DataFrame(
        {
            "community_code": list("ABCD") * 2,
            "iso_week": ["w1"] * 4 + ["w2"] * 4,
            "week_index": [0] * 4 + [1] * 4,
            "score": [0.9, 0.2, 0.1, 0.3, 0.95, 0.1, 0.1, 0.3],
            "label": [1, 0, 0, 0, 0, 0, 0, 1],
        }
    )
    got = warning.backtest_metrics(pred, "score", k=1)
    # AUC: positives 0.9 and 0.3 against negatives 0.2, 0.1, 0.3, 0.95, 0.1, 0.1 -> (5 + 4.5) / 12
    assert got["roc_auc"] == pytest.approx(9.5 / 12)
    assert got["precision_at_k"] == pytest.approx(0.5)  # week 1: 1 of 1; week 2: 0 of 1
    assert got["detected_share"] == pytest.approx(0.5) and got["median_lead_weeks"] == 1
    assert warning.top_k(106, 0.05) == 6
