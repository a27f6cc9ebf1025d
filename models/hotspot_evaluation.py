"""Compare gold.complaint_hotspots with the demo city's planted truth.

Truth (truth/ of the demo city, never read by the pipeline itself):
* hotspots.csv: each planted hotspot's cell, sub-category, onset week, multiplier, base rate;
* stability_risk.csv / stability_weekly.csv: communities whose risk drivers add hotline
  tickets of one sub-category (a real, planted excess too: flagging it is right);
* complaint_rates.csv: the true expected tickets per cell and week (the oracle's ranking).

A flag is an l2 row with is_alert. It is true when it names a planted hotspot's
sub-category in the hotspot's cell (exact) or one ring around it (ring1) from its onset
on, or a stability community's driver sub-category in one of the community's cells while
its risk is raised. Each hotspot's information-limited delay is
ln(tests per week / alpha) / KL, KL = b (m ln m - m + 1) nats per week.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from citybrain.models import model_metrics
from citybrain.models.model_metrics import metric_row

MODEL = "complaint_hotspots"
DETECTION_WEEKS = 3  # "within 3 weeks of its onset": flagged in the onset week or the two after it
PAI_AREAS = (0.01, 0.05, 0.10)


@dataclass
class Evaluation:
    source_system: str
    hotspots: pd.DataFrame  # one row per planted hotspot: bound, delays
    weekly: pd.DataFrame  # one row per week: flags, true flags, recall
    pai: pd.DataFrame  # model x area -> mean PAI
    summary: dict[str, float] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)

    def metric_rows(self, run_id: str, run_at: datetime) -> list[dict]:
        rows = []

        def add(model, metric, scope, value, details=None):
            rows.append(metric_row(model, metric, scope, value, details, source_system=self.source_system, run_id=run_id, run_at=run_at))

        for metric, value in self.summary.items():
            add(MODEL, metric, "overall", value, self.details.get(metric))
        for _, w in self.weekly.iterrows():
            for metric in ("precision_exact", "precision_ring1", "recall_exact", "recall_ring1"):
                add(MODEL, metric, f"week={w.iso_week}", w[metric], {"flags": int(w["flags"]), "active_hotspots": int(w["active"])})
        for _, h in self.hotspots.iterrows():
            scope = f"hotspot={h.h3_8}/{h.category_l2}"
            add(MODEL, "detection_delay_weeks", scope, h.delay_ring1, {"exact": h.delay_exact, "bound_weeks": h.bound_weeks})
            add(MODEL, "information_bound_weeks", scope, h.bound_weeks, {"kl_nats_per_week": h.kl})
        for _, p in self.pai.iterrows():
            add(p.model, f"pai_{round(p.area * 100)}pct", "overall", p.pai, {"weeks": int(p.weeks)})
        return rows


def information_bound(base: float, multiplier: float, tests_per_week: float, alpha: float = 0.05) -> tuple[float, float]:
    """(weeks, KL nats per week) a detector needs at least to see a rate go from ``base`` to ``multiplier`` x base."""
    kl = base * (multiplier * math.log(multiplier) - multiplier + 1)
    return (math.log(tests_per_week / alpha) / kl if kl > 0 else math.inf), kl


def load_truth(truth_dir: Path) -> dict[str, pd.DataFrame]:
    read = {"dtype": {"community_code": str, "h3_8": str}}
    return {
        "hotspots": pd.read_csv(truth_dir / "hotspots.csv", **read),
        "rates": pd.read_csv(truth_dir / "complaint_rates.csv", **read),
        "stability": pd.read_csv(truth_dir / "stability_risk.csv", **read),
        "stability_weekly": pd.read_csv(truth_dir / "stability_weekly.csv", **read),
    }


def _planted_stability(truth: dict[str, pd.DataFrame], community_cells: dict[str, set[str]]) -> set[tuple[str, str, str]]:
    """(cell, sub-category, iso_week) where a stability community's driver adds hotline tickets."""
    out = set()
    weekly = truth["stability_weekly"]
    raised = weekly[weekly["risk_multiplier"].astype(float) > 1.0]
    for _, s in truth["stability"].iterrows():
        category = re.search(r"hotline:([^;]+)", s["drivers"]).group(1)
        for week in raised.loc[raised["community_code"] == s["community_code"], "iso_week"]:
            out |= {(cell, category, week) for cell in community_cells.get(s["community_code"], ())}
    return out


def evaluate(
    gold: pd.DataFrame,
    truth: dict[str, pd.DataFrame],
    community_cells: dict[str, set[str]],
    *,
    source_system: str = "demo_12345",
    alpha: float = 0.05,
) -> Evaluation:
    """Precision, recall, detection delays against the information bound, and PAI of the forecast."""
    import h3

    gold = gold[gold["source_system"] == source_system]
    l2 = gold[gold["category_level"] == "l2"]
    weeks = sorted(gold["iso_week"].unique())
    week_index = {w: i for i, w in enumerate(weeks)}
    tests_per_week = l2["h3_cell"].nunique() * l2["category"].nunique()
    hs = truth["hotspots"].copy()
    hs["onset"] = hs["emerge_week"].map(week_index)
    ring = {(r.h3_8, r.category_l2): set(h3.grid_disk(r.h3_8, 1)) for r in hs.itertuples()}
    stability = _planted_stability(truth, community_cells)

    flags = l2[l2["is_alert"]][["h3_cell", "category", "iso_week"]]
    exact_true = np.zeros(len(flags), dtype=bool)
    ring_true = np.zeros(len(flags), dtype=bool)
    for i, f in enumerate(flags.itertuples()):
        for h in hs.itertuples():
            if f.category == h.category_l2 and week_index[f.iso_week] >= h.onset:
                exact_true[i] |= f.h3_cell == h.h3_8
                ring_true[i] |= f.h3_cell in ring[(h.h3_8, h.category_l2)]
    planted_true = ring_true | np.array([(f.h3_cell, f.category, f.iso_week) in stability for f in flags.itertuples()], dtype=bool)

    # per hotspot: first week flagged in its cell / within one ring, and its information bound
    flagged = {(f.h3_cell, f.category, week_index[f.iso_week]) for f in flags.itertuples()}
    rows = []
    for h in hs.itertuples():
        bound, kl = information_bound(float(h.base_weekly_rate), float(h.multiplier), tests_per_week, alpha)
        weeks_left = len(weeks) - h.onset
        exact = [w for w in range(h.onset, len(weeks)) if (h.h3_8, h.category_l2, w) in flagged]
        near = [w for w in range(h.onset, len(weeks)) if any((c, h.category_l2, w) in flagged for c in ring[(h.h3_8, h.category_l2)])]
        rows.append(
            {
                "h3_8": h.h3_8,
                "category_l2": h.category_l2,
                "emerge_week": h.emerge_week,
                "base_weekly_rate": float(h.base_weekly_rate),
                "multiplier": float(h.multiplier),
                "kl": kl,
                "bound_weeks": bound,
                "weeks_left": weeks_left,
                "delay_exact": (exact[0] - h.onset) if exact else None,
                "delay_ring1": (near[0] - h.onset) if near else None,
                "weeks_flagged": len(exact),
            }
        )
    columns = ["h3_8", "category_l2", "emerge_week", "base_weekly_rate", "multiplier", "kl", "bound_weeks", "weeks_left"]
    per_hotspot = pd.DataFrame(rows, columns=[*columns, "delay_exact", "delay_ring1", "weeks_flagged"])

    weekly = []
    for w in weeks:
        in_week = (flags["iso_week"] == w).to_numpy()
        active = hs[hs["onset"] <= week_index[w]]
        hit_exact = sum((h.h3_8, h.category_l2, week_index[w]) in flagged for h in active.itertuples())
        hit_ring = sum(
            any((c, h.category_l2, week_index[w]) in flagged for c in ring[(h.h3_8, h.category_l2)]) for h in active.itertuples()
        )
        n = int(in_week.sum())
        weekly.append(
            {
                "iso_week": w,
                "flags": n,
                "active": len(active),
                "precision_exact": exact_true[in_week].mean() if n else np.nan,
                "precision_ring1": ring_true[in_week].mean() if n else np.nan,
                "recall_exact": hit_exact / len(active) if len(active) else np.nan,
                "recall_ring1": hit_ring / len(active) if len(active) else np.nan,
            }
        )
    weekly = pd.DataFrame(weekly)

    within = per_hotspot[per_hotspot["bound_weeks"] < DETECTION_WEEKS]
    detected_within = within["delay_ring1"].notna() & (within["delay_ring1"] < DETECTION_WEEKS)
    reachable = per_hotspot[per_hotspot["bound_weeks"] < per_hotspot["weeks_left"]]
    n_flags = len(flags)
    false_flags = int((~planted_true).sum())
    cell_category_weeks = tests_per_week * len(weeks)
    summary = {
        "flags": float(n_flags),
        "precision_exact": exact_true.mean() if n_flags else math.nan,
        "precision_ring1": ring_true.mean() if n_flags else math.nan,
        "precision_planted": planted_true.mean() if n_flags else math.nan,
        "recall_within_3_weeks": detected_within.mean() if len(within) else math.nan,
        "detected_before_end": reachable["delay_ring1"].notna().mean() if len(reachable) else math.nan,
        "false_flags_per_1000": 1000 * false_flags / cell_category_weeks if cell_category_weeks else math.nan,
        "tests_per_week": float(tests_per_week),
    }
    details = {
        "recall_within_3_weeks": {"hotspots_with_bound_under_3_weeks": len(within), "detected": int(detected_within.sum())},
        "false_flags_per_1000": {"false_flags": false_flags, "cell_category_weeks": int(cell_category_weeks)},
        "precision_planted": {"flags": n_flags, "hotspot_ring1": int(ring_true.sum()), "stability": int((planted_true & ~ring_true).sum())},
    }
    return Evaluation(source_system, per_hotspot, weekly, pai_table(gold, truth["rates"], weeks), summary, details)


def pai(risk: pd.Series, actual: pd.Series, area: float) -> float:
    """Predictive Accuracy Index: share of actual complaints in the top ``area`` share of cells by risk ÷ that area share."""
    n = len(risk)
    top = max(1, math.ceil(area * n))
    chosen = risk.sort_values(ascending=False, kind="stable").index[:top]
    total = actual.sum()
    return float(actual.reindex(chosen).fillna(0).sum() / total / (top / n)) if total > 0 else math.nan


def pai_table(gold: pd.DataFrame, rates: pd.DataFrame, weeks: list[str]) -> pd.DataFrame:
    """Mean PAI over the weeks that have a next week: the model, the oracle and last week's counts."""
    cells = gold[gold["category_level"] == "all"].pivot_table(
        index="h3_cell", columns="iso_week", values=["complaints", "forecast_next_week"]
    )
    oracle = rates.pivot_table(index="h3_8", columns="iso_week", values="expected_tickets").reindex(cells.index).fillna(0)
    rows = []
    for area in PAI_AREAS:
        scores = {"complaint_hotspots": [], "oracle": [], "last_week_counts": []}
        for this, nxt in zip(weeks[:-1], weeks[1:], strict=True):
            actual = cells[("complaints", nxt)]
            scores["complaint_hotspots"].append(pai(cells[("forecast_next_week", this)], actual, area))
            scores["last_week_counts"].append(pai(cells[("complaints", this)], actual, area))
            if nxt in oracle.columns:
                scores["oracle"].append(pai(oracle[nxt], actual, area))
        for model, values in scores.items():
            rows.append({"model": model, "area": area, "pai": float(np.nanmean(values)) if values else math.nan, "weeks": len(values)})
    return pd.DataFrame(rows)


def run(spark, settings, truth_dir: Path | None = None, *, source_system: str = "demo_12345") -> Evaluation:
    """Evaluate the gold table in the lake against the demo city's truth; append the metrics to gold.model_metrics."""
    from citybrain import lake
    from citybrain.schemas.gold.complaint_hotspots import HotspotParams

    truth_dir = truth_dir or settings.demo_dir / "truth"
    if not (truth_dir / "hotspots.csv").exists():
        raise FileNotFoundError(f"no planted truth in {truth_dir}: evaluate needs a demo city (citybrain generate)")
    gold = (
        lake.read(spark, settings, "gold.complaint_hotspots")
        .where(f"source_system = '{source_system}' AND category_level IN ('l2', 'all')")
        .select("source_system", "h3_cell", "iso_week", "category_level", "category", "complaints", "is_alert", "forecast_next_week")
        .toPandas()
    )
    if gold.empty:
        raise FileNotFoundError(f"gold.complaint_hotspots holds no rows of {source_system}: run build_gold_complaint_hotspots first")
    resolution = HotspotParams().resolution
    grid = lake.read(spark, settings, "silver.grid").select("community_code", f"h3_r{resolution}").distinct().toPandas()
    community_cells = grid.groupby("community_code")[f"h3_r{resolution}"].apply(set).to_dict()
    result = evaluate(gold, load_truth(truth_dir), community_cells, source_system=source_system)
    model_metrics.append(spark, settings, result.metric_rows(uuid.uuid4().hex[:12], datetime.now(UTC)))
    return result


def report_text(result: Evaluation) -> str:
    """The evaluation as the tables the issue note and a reviewer read."""
    s = result.summary
    lines = [
        f"Hotspot alerts against the planted truth ({result.source_system}, {int(s['tests_per_week']):,} cell-category tests a week)",
        f"  flags {int(s['flags'])}; precision exact {s['precision_exact']:.2f}, one ring {s['precision_ring1']:.2f}, "
        f"against every planted excess (hotspots and stability drivers) {s['precision_planted']:.2f}",
        f"  recall within {DETECTION_WEEKS} weeks of hotspots whose information bound is under {DETECTION_WEEKS} weeks: "
        f"{s['recall_within_3_weeks']:.2f}; detected before the run ends, of those whose bound is shorter than the weeks left: "
        f"{s['detected_before_end']:.2f}",
        f"  false flags per 1,000 cell-category-weeks: {s['false_flags_per_1000']:.3f}",
        "",
        "  hotspot                     sub-category  base/wk  mult  bound(wk)  weeks left  delay exact  delay ring1",
    ]
    for h in result.hotspots.itertuples():
        fmt = lambda v: "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(v)}"  # noqa: E731
        lines.append(
            f"  {h.h3_8} {h.emerge_week}  {h.category_l2:<10} {h.base_weekly_rate:>7.2f} {h.multiplier:>5.2f} {h.bound_weeks:>10.2f}"
            f" {h.weeks_left:>11} {fmt(h.delay_exact):>12} {fmt(h.delay_ring1):>12}"
        )
    lines += ["", "  week      flags  active  precision exact/ring1  recall exact/ring1"]
    for w in result.weekly.itertuples():
        pe = "-" if math.isnan(w.precision_exact) else f"{w.precision_exact:.2f}/{w.precision_ring1:.2f}"
        re_ = "-" if math.isnan(w.recall_exact) else f"{w.recall_exact:.2f}/{w.recall_ring1:.2f}"
        lines.append(f"  {w.iso_week}  {w.flags:>5} {w.active:>7}  {pe:>21}  {re_:>18}")
    lines += [
        "",
        "  PAI (share of next week's complaints in the top cells ÷ their share of the area)",
        "  model                 1%     5%    10%",
    ]
    for model, g in result.pai.groupby("model", sort=False):
        lines.append(f"  {model:<20}" + "".join(f"{v:>7.2f}" for v in g.sort_values("area")["pai"]))
    return "\n".join(lines)


def evaluate_scenario(spark, settings, *, seed: int, hotspots=None, days: int = 84, scale: float = 1.0) -> Evaluation:
    """Generate a hotline-only demo city with the given hotspot scenario into ``settings``' demo folder
    and lake, run bronze -> silver -> gold on it and evaluate (the detection curve and the null city)."""
    from citybrain.democity import generate
    from citybrain.democity.plan import HotspotScenario
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.gold import complaint_hotspots
    from citybrain.jobs.silver import refine

    generate(settings.demo_dir, seed=seed, days=days, scale=scale, hotspots=hotspots or HotspotScenario(), sources=("hotline",))
    for source in ("registry", "hotline"):
        ingest.run(spark, settings, source)
        refine.refine(spark, settings, source)
    complaint_hotspots.run(spark, settings)
    return run(spark, settings)
