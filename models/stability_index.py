"""The social-stability risk index: indicators declared in stability_indicators.yaml, scored per
community and ISO week, rolled up to street and district.

Pure pandas/numpy on the weekly community table (communities x weeks, about 1,300 rows on the
demo city); Spark only counts the evidence (jobs/gold/stability_risk.py).

Score = sum over indicators of 100 x final weight x normalised value, so a row's indicator
contributions add up to its score; final weight = entropy_mix x entropy weight + (1 -
entropy_mix) x expert weight (both sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

CONFIG_PATH = Path(__file__).with_name("stability_indicators.yaml")
DIMENSIONS = ("five_safeties", "credibility", "integrity", "disputes", "petitions", "service_failure")
DIRECTIONS = ("higher_is_riskier", "higher_is_safer")
SCORED, INSUFFICIENT = "scored", "insufficient_data"
TOP_N = 3


@dataclass(frozen=True)
class Indicator:
    name: str
    name_zh: str
    name_en: str
    dimension: str
    direction: str
    expert_weight: float
    source: str | None = None
    where: str | None = None
    denominator: str | None = None
    surge_of: str | None = None


@dataclass(frozen=True)
class Level:
    level: str
    color: str
    min_score: float


@dataclass(frozen=True)
class IndexConfig:
    version: str
    entropy_mix: float
    upper_quantile: float
    surge_weeks: int
    min_population: int
    min_events: int
    levels: tuple[Level, ...]
    indicators: tuple[Indicator, ...]
    warning: dict

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.indicators]

    @property
    def counted(self) -> list[Indicator]:
        """Indicators counted from a silver table (not surges)."""
        return [i for i in self.indicators if i.surge_of is None]

    def expert_weights(self) -> np.ndarray:
        w = np.array([i.expert_weight for i in self.indicators], dtype=float)
        return w / w.sum()


def load_config(path: Path | str | None = None) -> IndexConfig:
    """Read and check the indicator system; a clear error names what is wrong."""
    path = Path(path or CONFIG_PATH)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    indicators = tuple(Indicator(**spec) for spec in raw["indicators"])
    names = [i.name for i in indicators]
    for ind in indicators:
        if ind.dimension not in DIMENSIONS:
            raise ValueError(f"{path.name}: indicator {ind.name} has dimension {ind.dimension!r}, not one of {DIMENSIONS}")
        if ind.direction not in DIRECTIONS:
            raise ValueError(f"{path.name}: indicator {ind.name} has direction {ind.direction!r}, not one of {DIRECTIONS}")
        if ind.expert_weight < 0:
            raise ValueError(f"{path.name}: indicator {ind.name} has a negative expert weight")
        if (ind.surge_of is None) == (ind.source is None):
            raise ValueError(f"{path.name}: indicator {ind.name} needs either source+where or surge_of")
        if ind.surge_of is not None and ind.surge_of not in names:
            raise ValueError(f"{path.name}: indicator {ind.name} is a surge of unknown indicator {ind.surge_of}")
    if len(set(names)) != len(names):
        raise ValueError(f"{path.name}: indicator names repeat")
    levels = tuple(sorted((Level(**lv) for lv in raw["levels"]), key=lambda lv: lv.min_score))
    if not 0 <= raw["entropy_mix"] <= 1:
        raise ValueError(f"{path.name}: entropy_mix must lie in [0, 1], got {raw['entropy_mix']}")
    return IndexConfig(
        version=str(raw["version"]),
        entropy_mix=float(raw["entropy_mix"]),
        upper_quantile=float(raw["upper_quantile"]),
        surge_weeks=int(raw["surge_weeks"]),
        min_population=int(raw["min_population"]),
        min_events=int(raw["min_events"]),
        levels=levels,
        indicators=indicators,
        warning=dict(raw.get("warning", {})),
    )


def raw_values(counts: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """Raw indicator values from weekly counts.

    ``counts``: one row per community_code and iso_week (every week of every community, zero
    filled), with ``population``, ``events`` and, per counted indicator, ``n_<name>`` (and
    ``d_<name>`` when it has a denominator). Returns the same rows plus one column per indicator.
    """
    out = counts.sort_values(["community_code", "iso_week"]).reset_index(drop=True)
    per_10k = 1e4 / out["population"].where(out["population"] > 0)
    for ind in cfg.counted:
        num = out[f"n_{ind.name}"].astype(float)
        if ind.denominator:
            den = out[f"d_{ind.name}"].astype(float)
            out[ind.name] = num / den.where(den > 0)
        else:
            out[ind.name] = num * per_10k
    for ind in cfg.indicators:
        if ind.surge_of is not None:
            base = out.groupby("community_code")[ind.surge_of]
            previous = base.transform(lambda s: s.shift(1).rolling(cfg.surge_weeks, min_periods=1).mean())
            out[ind.name] = (out[ind.surge_of] - previous).clip(lower=0)
    return out


def sufficient(frame: pd.DataFrame, cfg: IndexConfig) -> pd.Series:
    """Communities with enough residents and evidence over the run to be scored."""
    run_events = frame.groupby("community_code")["events"].transform("sum")
    return (frame["population"] >= cfg.min_population) & (run_events >= cfg.min_events)


def normalise(raw: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """Each indicator on [0, 1], 1 = riskiest; bounds from the rows given (the scored ones)."""
    norm = pd.DataFrame(index=raw.index)
    for ind in cfg.indicators:
        v = raw[ind.name].astype(float)
        lo = v.min()
        hi = v.quantile(cfg.upper_quantile)
        if not np.isfinite(hi) or hi <= lo:
            hi = v.max()
        x = ((v - lo) / (hi - lo)).clip(0, 1) if np.isfinite(hi) and hi > lo else v * 0.0
        norm[ind.name] = (1 - x if ind.direction == "higher_is_safer" else x).fillna(0.0)
    return norm


def entropy_weights(norm: np.ndarray) -> np.ndarray:
    """Entropy weight method: indicators whose values differ more across rows weigh more.

    p_ij = x_ij / sum_i x_ij, e_j = -sum_i p_ij ln p_ij / ln n, weight_j = (1 - e_j) / sum (1 - e).
    A column of zeros carries no information (e = 1, weight 0).
    """
    x = np.asarray(norm, dtype=float)
    n = x.shape[0]
    totals = x.sum(axis=0)
    p = np.divide(x, totals, out=np.zeros_like(x), where=totals > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(p > 0, p * np.log(p), 0.0)
    e = np.where(totals > 0, -plogp.sum(axis=0) / np.log(n) if n > 1 else 1.0, 1.0)
    d = 1.0 - e
    return d / d.sum() if d.sum() > 0 else np.full(x.shape[1], 1.0 / x.shape[1])


def final_weights(norm: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """Per indicator: expert, entropy and final weight (each column sums to 1)."""
    entropy = entropy_weights(norm[cfg.names].to_numpy())
    expert = cfg.expert_weights()
    return pd.DataFrame(
        {"expert": expert, "entropy": entropy, "final": cfg.entropy_mix * entropy + (1 - cfg.entropy_mix) * expert},
        index=cfg.names,
    )


def level_of(score: pd.Series, cfg: IndexConfig) -> tuple[pd.Series, pd.Series]:
    """(level, colour) of each score: the highest level whose cut-off the score reaches."""
    level = np.full(len(score), None, dtype=object)
    color = np.full(len(score), None, dtype=object)
    for lv in cfg.levels:
        hit = (score >= lv.min_score).to_numpy()
        level[hit], color[hit] = lv.level, lv.color
    return pd.Series(level, index=score.index), pd.Series(color, index=score.index)


def score_communities(counts: pd.DataFrame, cfg: IndexConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(community rows with raw, normalised, contribution, score, level, change, top 3; weights)."""
    raw = raw_values(counts, cfg)
    ok = sufficient(raw, cfg)
    norm = normalise(raw[ok], cfg)
    weights = final_weights(norm, cfg)
    out = raw.copy()
    out["status"] = np.where(ok, SCORED, INSUFFICIENT)
    contrib_cols = []
    for name in cfg.names:
        out[f"{name}_norm"] = norm[name]
        out[f"{name}_contribution"] = 100.0 * weights.at[name, "final"] * norm[name]
        contrib_cols.append(f"{name}_contribution")
    out["score"] = out[contrib_cols].sum(axis=1, min_count=1)
    return _finish(out, cfg), weights


def _finish(out: pd.DataFrame, cfg: IndexConfig, key: str = "community_code") -> pd.DataFrame:
    """Level, change from last week and top contributions of scored rows."""
    out = out.sort_values([key, "iso_week"]).reset_index(drop=True)
    out["level"], out["level_color"] = level_of(out["score"], cfg)
    out["score_change"] = out["score"] - out.groupby(key)["score"].shift(1)
    contrib = out[[f"{n}_contribution" for n in cfg.names]].to_numpy(dtype=float)
    order = np.argsort(-np.nan_to_num(contrib, nan=-1.0), axis=1, kind="stable")
    names = np.array(cfg.names, dtype=object)
    top_total = np.zeros(len(out))
    for k in range(min(TOP_N, len(cfg.names))):
        idx = order[:, k]
        value = contrib[np.arange(len(out)), idx]
        keep = np.isfinite(value) & (value > 0)
        out[f"top{k + 1}_indicator"] = np.where(keep, names[idx], None)
        out[f"top{k + 1}_contribution"] = np.where(keep, value, np.where(np.isfinite(value), 0.0, np.nan))
        top_total += np.where(np.isfinite(value), np.where(keep, value, 0.0), 0.0)
    for k in range(len(cfg.names), TOP_N):
        out[f"top{k + 1}_indicator"], out[f"top{k + 1}_contribution"] = None, np.nan
    out["other_contribution"] = np.where(out["score"].notna(), out["score"] - top_total, np.nan)
    return out


def roll_up(scored: pd.DataFrame, cfg: IndexConfig, level: str) -> pd.DataFrame:
    """Street or district rows: population-weighted means of the scored communities' values.

    A weighted mean is linear, so a unit's contributions still add up to its score.
    """
    code = f"{level}_code"
    ok = scored[scored["status"] == SCORED]
    value_cols = [c for n in cfg.names for c in (n, f"{n}_norm", f"{n}_contribution")] + ["score"]
    w = ok["population"].astype(float)
    weighted = ok[value_cols].mul(w, axis=0).assign(**{code: ok[code], "iso_week": ok["iso_week"], "_w": w})
    sums = weighted.groupby([code, "iso_week"], as_index=False).sum(numeric_only=True)
    for col in value_cols:
        sums[col] = sums[col] / sums["_w"]
    units = scored.groupby([code, "iso_week"], as_index=False).agg(population=("population", "sum"), events=("events", "sum"))
    out = units.merge(sums.drop(columns="_w"), on=[code, "iso_week"], how="left")
    out["status"] = np.where(out["score"].notna(), SCORED, INSUFFICIENT)
    return _finish(out, cfg, key=code)
