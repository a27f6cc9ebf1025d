"""`citybrain evaluate risk`: the stability index and its early warning against the demo city's truth.

* Detection: each planted escalating community (truth/stability_risk.csv) should be in the top
  decile of the composite score at its planted peak week, at orange or red.
* Early warning, rolling-origin backtest (the out-of-sample ``warning_probability`` of
  gold.stability_risk): ROC AUC, precision@k (k = 5 % of the scored communities) and lead time
  against the label from the data (stability_indicators.yaml ``warning``), beside the same
  figures for the oracle (this week's true planted risk multiplier, truth/stability_weekly.csv)
  and for the composite score itself, on the same community-weeks.

Every figure goes to gold.model_metrics (models stability_warning, oracle, stability_score).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from citybrain.models import model_metrics
from citybrain.models import stability_warning as warning
from citybrain.models.model_metrics import metric_row
from citybrain.models.stability_index import load_config

MODEL = "stability_warning"
SCORES = {MODEL: "warning_probability", "oracle": "risk_multiplier", "stability_score": "score"}
TOP_SHARE = 0.10  # detection: top decile of the composite score
ALERT_COLORS = ("orange", "red")


@dataclass
class RiskEvaluation:
    planted: pd.DataFrame  # one row per planted escalating community: rank and level at its peak week
    backtest: pd.DataFrame  # one row per model: roc_auc, precision_at_k, median_lead_weeks, ...
    summary: dict[str, float] = field(default_factory=dict)

    def metric_rows(self, run_id: str, run_at: datetime, source_system: str = "democity") -> list[dict]:
        rows = []

        def add(model, metric, scope, value, details=None):
            rows.append(metric_row(model, metric, scope, value, details, source_system=source_system, run_id=run_id, run_at=run_at))

        for b in self.backtest.to_dict("records"):
            counts = {k: b[k] for k in ("positives", "rows", "weeks", "k")}
            for metric in ("roc_auc", "precision_at_k", "median_lead_weeks", "detected_share"):
                add(b["model"], metric, "backtest", b[metric], counts)
        for p in self.planted.to_dict("records"):
            add("stability_score", "rank_at_peak", f"community={p['community_code']}", p["rank"], p)
        add("stability_score", "top_decile_hit_rate", "overall", self.summary.get("top_decile_hit_rate"))
        return rows


def evaluate(gold: pd.DataFrame, outcomes: pd.DataFrame, truth_dir: Path) -> RiskEvaluation:
    """``gold``: community rows of gold.stability_risk; ``outcomes``: community_code, iso_week of each outcome."""
    cfg = load_config()
    planted = pd.read_csv(truth_dir / "stability_risk.csv", dtype=str)
    weekly = pd.read_csv(truth_dir / "stability_weekly.csv", dtype={"community_code": str})
    scored = gold[gold["status"] == "scored"].copy()
    n_communities = scored["community_code"].nunique()
    cutoff = math.ceil(TOP_SHARE * n_communities)
    rows = []
    for p in planted.to_dict("records"):
        at = scored[(scored["community_code"] == p["community_code"]) & (scored["iso_week"] == p["peak_week"])]
        rank = int(at["rank_in_week"].iloc[0]) if len(at) else None
        color = at["level_color"].iloc[0] if len(at) else None
        rows.append(
            {
                "community_code": p["community_code"],
                "community_name": p["community_name"],
                "peak_week": p["peak_week"],
                "peak_multiplier": float(p["peak_multiplier"]),
                "rank": rank,
                "of": n_communities,
                "score": float(at["score"].iloc[0]) if len(at) else None,
                "level_color": color,
                "hit": rank is not None and rank <= cutoff and color in ALERT_COLORS,
            }
        )
    planted_table = pd.DataFrame(rows)
    weeks = sorted(scored["iso_week"].unique())
    labelled = warning.with_labels(scored, outcomes, weeks, int(cfg.warning.get("horizon_weeks", 1)))
    labelled = labelled.merge(weekly[["community_code", "iso_week", "risk_multiplier"]], on=["community_code", "iso_week"], how="left")
    labelled["risk_multiplier"] = labelled["risk_multiplier"].fillna(1.0)
    same = labelled[labelled["warning_probability"].notna() & labelled["label"].notna()]
    k = warning.top_k(n_communities, float(cfg.warning.get("top_k_share", 0.05)))
    backtest = pd.DataFrame([{"model": m, **warning.backtest_metrics(same, col, k)} for m, col in SCORES.items()])
    hit_rate = float(planted_table["hit"].mean()) if len(planted_table) else float("nan")
    return RiskEvaluation(planted_table, backtest, {"top_decile_hit_rate": hit_rate, "communities": n_communities})


def truth_folder(settings, truth_dir: Path | None = None) -> Path:
    """The demo city's truth folder; a clear error when it holds no stability truth."""
    truth_dir = truth_dir or settings.demo_dir / "truth"
    if not (truth_dir / "stability_weekly.csv").exists():
        raise FileNotFoundError(f"no planted truth in {truth_dir}: evaluate risk needs a demo city (citybrain generate)")
    return truth_dir


def run(spark, settings, truth_dir: Path | None = None) -> RiskEvaluation:
    """Evaluate gold.stability_risk in the lake against the demo city's truth; append to gold.model_metrics."""
    from pyspark.sql import functions as F

    from citybrain import lake
    from citybrain.jobs.gold.common import iso_week_label

    cfg = load_config()
    truth_dir = truth_folder(settings, truth_dir)
    if not lake.exists(settings, "gold.stability_risk"):
        raise FileNotFoundError("gold.stability_risk does not exist: run build_gold_stability_risk first")
    gold = lake.read(spark, settings, "gold.stability_risk").where("unit_type = 'community'").toPandas()
    gold["community_code"] = gold["unit_code"]
    outcomes = (
        lake.read(spark, settings, cfg.warning["label_source"])
        .where(F.expr(cfg.warning["label_where"]) & F.col("community_code").isNotNull())
        .select("community_code", iso_week_label(F.col("dt")).alias("iso_week"))
        .distinct()
        .toPandas()
    )
    result = evaluate(gold, outcomes, truth_dir)
    model_metrics.append(spark, settings, result.metric_rows(uuid.uuid4().hex[:12], datetime.now(UTC)))
    return result


def report_text(result: RiskEvaluation) -> str:
    """The evaluation as the tables a reviewer reads."""
    fmt = lambda v, f="{:.3f}": "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f.format(v)  # noqa: E731
    lines = [
        f"Planted escalating communities at their peak week (top decile = rank <= {math.ceil(TOP_SHARE * result.summary['communities'])}"
        f" of {result.summary['communities']}, orange/red): hit rate {fmt(result.summary['top_decile_hit_rate'], '{:.2f}')}",
        "  community       name          peak week  peak mult  rank  score  level   hit",
    ]
    for p in result.planted.itertuples():
        lines.append(
            f"  {p.community_code}  {p.community_name:<10} {p.peak_week}  {p.peak_multiplier:>9.2f}  {fmt(p.rank, '{}'):>4}"
            f"  {fmt(p.score, '{:.1f}'):>5}  {p.level_color or '-':<6}  {'yes' if p.hit else 'NO'}"
        )
    lines += ["", "Rolling-origin backtest of the early warning (same community-weeks for every row)"]
    lines.append("  model               ROC AUC  precision@k  median lead (wk)  detected  positives  weeks  k")
    for b in result.backtest.itertuples():
        lines.append(
            f"  {b.model:<18} {fmt(b.roc_auc):>8} {fmt(b.precision_at_k):>12} {fmt(b.median_lead_weeks, '{:.1f}'):>17}"
            f" {fmt(b.detected_share, '{:.2f}'):>9} {b.positives:>10} {b.weeks:>6} {b.k:>2}"
        )
    return "\n".join(lines)


SCENARIO_SOURCES = ("hotline", "police", "petitions")


def evaluate_scenario(spark, settings, *, seed: int, stability=None, days: int = 84, scale: float = 1.0, start=None) -> RiskEvaluation:
    """Generate a demo city (hotline, police, petitions) with the given escalation scenario into
    ``settings``' demo folder and lake, run bronze -> silver -> gold.stability_risk and evaluate it.
    ``start`` (a date; default the generator's) must leave the run's end before today: silver
    refuses records from the future."""
    from citybrain.democity import generate
    from citybrain.democity.plan import StabilityScenario
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.gold import stability_risk
    from citybrain.jobs.silver import refine

    when = {"start": start} if start else {}
    generate(
        settings.demo_dir, seed=seed, days=days, scale=scale, stability=stability or StabilityScenario(), sources=SCENARIO_SOURCES, **when
    )
    for source in ("registry", *SCENARIO_SOURCES):
        ingest.run(spark, settings, source)
        refine.refine(spark, settings, source)
    stability_risk.run(spark, settings)
    return run(spark, settings)
