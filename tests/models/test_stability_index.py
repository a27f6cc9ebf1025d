"""The stability risk index on small hand-computed tables: weights, scores, contributions, levels, guards."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from citybrain.models import stability_index as index

TINY = """
version: test-1
entropy_mix: {mix}
upper_quantile: 1.0
surge_weeks: 2
min_population: 1000
min_events: 5
levels:
  - {{level: 低, color: blue, min_score: 0}}
  - {{level: 中, color: yellow, min_score: 25}}
  - {{level: 高, color: orange, min_score: 40}}
  - {{level: 极高, color: red, min_score: 60}}
indicators:
  - {{name: petitions, name_zh: 信访量, name_en: Petitions, dimension: petitions, source: silver.petition,
     where: "true", direction: higher_is_riskier, expert_weight: {w_pet}}}
  - {{name: satisfied, name_zh: 满意率, name_en: Satisfaction, dimension: credibility, source: silver.complaint,
     where: "satisfied", denominator: "visited", direction: higher_is_safer, expert_weight: {w_sat}}}
"""


def tiny_config(tmp_path, mix=0.0, w_pet=3.0, w_sat=1.0) -> index.IndexConfig:
    path = tmp_path / f"tiny_{mix}_{w_pet}_{w_sat}.yaml"
    path.write_text(TINY.format(mix=mix, w_pet=w_pet, w_sat=w_sat), encoding="utf-8")
    return index.load_config(path)


def counts_frame() -> pd.DataFrame:
    """Three communities, one week: A 10,000 residents 4 petitions, satisfaction 8/10; B 20,000, 2, 10/10;
    C 10,000, 0, 5/10; D has 500 residents (below min_population)."""
    return pd.DataFrame(
        {
            "community_code": ["A", "B", "C", "D"],
            "iso_week": ["2026-W40"] * 4,
            "street_code": ["S1", "S1", "S2", "S2"],
            "district_code": ["D1"] * 4,
            "population": [10_000, 20_000, 10_000, 500],
            "events": [20, 20, 20, 20],
            "n_petitions": [4, 2, 0, 9],
            "n_satisfied": [8, 10, 5, 1],
            "d_satisfied": [10, 10, 10, 1],
        }
    )


def test_entropy_weights_match_the_hand_computed_values():
    # column 1: p = (0.5, 0, 0.5), e = ln 2 / ln 3; column 2: p = (0, 0, 1), e = 0
    w = index.entropy_weights(np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]]))
    d1 = 1 - math.log(2) / math.log(3)
    assert w == pytest.approx([d1 / (d1 + 1), 1 / (d1 + 1)], abs=1e-12)
    assert index.entropy_weights(np.array([[0.5, 1.0], [0.5, 0.0]])) == pytest.approx([0.0, 1.0])  # a constant column: no information


def test_expert_only_scores_match_the_hand_computed_values(tmp_path):
    cfg = tiny_config(tmp_path, mix=0.0)
    scored, weights = index.score_communities(counts_frame(), cfg)
    rows = scored.set_index("community_code")
    # petitions per 10k: A 4, B 1, C 0 -> normalised 1, 0.25, 0; satisfaction A 0.8, B 1.0, C 0.5 -> risk 0.4, 0, 1
    # expert weights 0.75 / 0.25: A = 75 + 10 = 85, B = 18.75, C = 25
    assert rows.loc[["A", "B", "C"], "score"].tolist() == pytest.approx([85.0, 18.75, 25.0])
    assert rows.loc[["A", "B", "C"], "level"].tolist() == ["极高", "低", "中"]
    assert rows.loc["A", "top1_indicator"] == "petitions" and rows.loc["A", "top2_indicator"] == "satisfied"
    assert rows.loc["C", "top1_indicator"] == "satisfied" and rows.loc["C", "top2_indicator"] is None
    assert weights["final"].tolist() == pytest.approx([0.75, 0.25])


def test_contributions_add_up_to_the_score_for_communities_and_roll_ups(tmp_path):
    cfg = tiny_config(tmp_path, mix=0.5)
    scored, _ = index.score_communities(counts_frame(), cfg)
    streets = index.roll_up(scored, cfg, "street")
    for frame in (scored[scored["status"] == index.SCORED], streets):
        parts = frame[[f"{n}_contribution" for n in cfg.names]].sum(axis=1)
        assert (frame["score"] - parts).abs().max() < 1e-9
        top = frame[["top1_contribution", "top2_contribution", "top3_contribution"]].fillna(0).sum(axis=1)
        assert (frame["score"] - top - frame["other_contribution"]).abs().max() < 1e-9
    # street S1 = population-weighted mean of A (10k) and B (20k)
    s1 = streets.set_index("street_code").loc["S1", "score"]
    a, b = scored.set_index("community_code").loc[["A", "B"], "score"]
    assert s1 == pytest.approx((a * 10_000 + b * 20_000) / 30_000)


def test_changing_an_expert_weight_in_the_config_changes_the_scores(tmp_path):
    base, _ = index.score_communities(counts_frame(), tiny_config(tmp_path, w_pet=3.0))
    moved, _ = index.score_communities(counts_frame(), tiny_config(tmp_path, w_pet=1.0))
    assert base.set_index("community_code").loc["A", "score"] == pytest.approx(85.0)
    assert moved.set_index("community_code").loc["A", "score"] == pytest.approx(70.0)  # 0.5 x 100 x 1 + 0.5 x 100 x 0.4


def test_the_shipped_config_drives_the_scores_without_code(tmp_path):
    text = index.CONFIG_PATH.read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("expert_weight: 0.14\n", "expert_weight: 0.60\n", 1), encoding="utf-8")
    assert index.load_config(changed).indicators[1].expert_weight == 0.60
    assert index.load_config(changed).expert_weights()[1] > index.load_config().expert_weights()[1]


def test_small_communities_are_marked_insufficient_not_scored(tmp_path):
    cfg = tiny_config(tmp_path)
    scored, _ = index.score_communities(counts_frame(), cfg)
    d = scored.set_index("community_code").loc["D"]
    assert d["status"] == index.INSUFFICIENT and pd.isna(d["score"]) and d["level"] is None
    few = counts_frame().assign(events=[20, 20, 4, 20])  # C: 4 events over the run < min_events 5
    assert scored.set_index("community_code").loc["C", "status"] == index.SCORED
    assert index.score_communities(few, cfg)[0].set_index("community_code").loc["C", "status"] == index.INSUFFICIENT


def test_level_cut_offs_are_inclusive(tmp_path):
    level, color = index.level_of(pd.Series([0.0, 24.99, 25.0, 59.99, 60.0, np.nan]), tiny_config(tmp_path))
    assert level.tolist() == ["低", "低", "中", "高", "极高", None]
    assert color.tolist() == ["blue", "blue", "yellow", "orange", "red", None]


def test_a_config_error_names_the_indicator(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(TINY.format(mix=0, w_pet=1, w_sat=1).replace("dimension: credibility", "dimension: mood"), encoding="utf-8")
    with pytest.raises(ValueError, match="satisfied has dimension 'mood'"):
        index.load_config(path)
