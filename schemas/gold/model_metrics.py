"""gold.model_metrics: how well each model or detector does, one row per metric per run."""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract

GOLD_MODEL_METRICS = Contract(
    name="gold.model_metrics",
    columns=(
        Column("model", "string", False, "e.g. complaint_hotspots, oracle, last_week_counts"),
        Column("metric", "string", False, "e.g. precision, recall_ring1, pai_5pct, detection_delay_weeks"),
        Column("scope", "string", False, "what the value covers: 'overall', 'week=2026-W40', 'hotspot=<cell>/<category>'"),
        Column("value", "double", True, "null when it cannot be computed (stated in details)"),
        Column("source_system", "string", False),
        Column("run_id", "string", False, "one evaluation run"),
        Column("run_at", "timestamp", False),
        Column("details", "string", True, "JSON: counts behind the value, the truth it was compared with, parameters"),
    ),
    grain="one row per model per metric per scope per run",
    description="Evaluation results of every model and detector against truth or held-out data.",
    owner="analytics",
    keys=("model", "metric", "scope", "run_id"),
)
