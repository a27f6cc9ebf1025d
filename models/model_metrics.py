"""Rows of gold.model_metrics: the one shape every evaluation writes, and the append."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pandas as pd


def metric_row(
    model: str, metric: str, scope: str, value, details: dict | None, *, source_system: str, run_id: str, run_at: datetime
) -> dict:
    """One metric row; a NaN value is stored as null (the details say why)."""
    value = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    return {
        "model": model,
        "metric": metric,
        "scope": scope,
        "value": value,
        "source_system": source_system,
        "run_id": run_id,
        "run_at": run_at,
        "details": json.dumps(details or {}, ensure_ascii=False, default=str),
    }


def append(spark, settings, rows: list[dict]) -> None:
    """Append the rows to gold.model_metrics through its contract."""
    from citybrain import lake
    from citybrain.schemas.gold.model_metrics import GOLD_MODEL_METRICS as contract

    df = spark.createDataFrame(pd.DataFrame(rows)[contract.column_names], contract.ddl().replace(" NOT NULL", ""))
    lake.write(spark, settings, contract.name, df, mode="append")
