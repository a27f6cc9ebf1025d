"""Train, version, score and backtest the demand forecaster against the lake.

train     fits one model per horizon on every origin with a known outcome, and stores
          the models, their feature list, training window and metrics as a versioned
          artefact: <lake>/models/demand_forecast/<version>/ (model.joblib, meta.json).
score     forecasts with the newest version: the next 24 hours from every local midnight
          of the run (so each past hour has a forecast made the day before, its actual and
          its anomaly flag) and the next 7 days from the end of the data, into
          gold.demand_forecast.
backtest  rolling-origin evaluation of the last ``backtest_days`` days (see demand_evaluation).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import functions as F
from scipy import stats

from citybrain import lake
from citybrain.models import demand_features as fe
from citybrain.models import demand_forecast as dfm
from citybrain.schemas.gold.ride_hailing_demand import GOLD_DEMAND_FORECAST, HORIZONS, DemandParams
from citybrain.settings import Settings

log = logging.getLogger(__name__)
ARTEFACTS = "models/demand_forecast"


@dataclass
class DemandInputs:
    """What every forecast reads: demand, calendar, cells, neighbours, time zone and the data's span."""

    demand: object
    calendar: object
    cells: object
    neighbours: object
    timezone: str
    start: pd.Timestamp  # first local midnight of the data (UTC instant)
    end: pd.Timestamp  # the hour after the last hour of the data (UTC instant)

    def midnights(self, first: pd.Timestamp, last: pd.Timestamp) -> list[datetime]:
        """Local midnights in [first, last], as UTC instants."""
        first, last = pd.Timestamp(first), pd.Timestamp(last)
        local = pd.date_range(first.tz_convert(self.timezone).normalize(), last.tz_convert(self.timezone), freq="D")
        return [t.tz_convert("UTC").to_pydatetime() for t in local if first <= t <= last]


def load_inputs(spark, settings: Settings, params: DemandParams) -> DemandInputs:
    demand = lake.read(spark, settings, "gold.ride_hailing_demand").select("h3_cell", "hour_start", "orders")
    calendar = lake.read(spark, settings, "silver.calendar_day")
    grid = lake.read(spark, settings, "silver.grid") if lake.exists(settings, "silver.grid") else None
    span = demand.agg(F.min("hour_start").alias("a"), F.max("hour_start").alias("b")).collect()[0]
    if span["a"] is None:
        raise ValueError("gold.ride_hailing_demand is empty: build it first (build_gold_ride_hailing_demand)")
    cells = sorted(r["h3_cell"] for r in demand.select("h3_cell").distinct().collect())
    cell_df, ring = fe.cell_frame(spark, grid, cells, params.resolution)
    timezone = params.timezone
    first = pd.Timestamp(span["a"]).tz_localize("UTC") if pd.Timestamp(span["a"]).tzinfo is None else pd.Timestamp(span["a"])
    last = pd.Timestamp(span["b"]).tz_localize("UTC") if pd.Timestamp(span["b"]).tzinfo is None else pd.Timestamp(span["b"])
    start = first.tz_convert(timezone).ceil("D").tz_convert("UTC") if first.tz_convert(timezone).hour else first
    return DemandInputs(demand, calendar, cell_df, ring, timezone, start, last + pd.Timedelta(hours=1))


def features(spark, inputs: DemandInputs, origins: list[datetime], horizon: str, params: DemandParams) -> pd.DataFrame:
    """The feature frame (with the actual, where known) of ``origins`` for a horizon, in pandas."""
    if not origins:
        return pd.DataFrame()
    frame = fe.feature_frame(
        inputs.demand,
        inputs.calendar,
        inputs.cells,
        inputs.neighbours,
        fe.origins_frame(spark, origins),
        HORIZONS[horizon],
        inputs.timezone,
        params.history_days,
    )
    out = fe.with_label(frame, inputs.demand).toPandas()
    for c in ("origin", "hour_start"):
        out[c] = pd.to_datetime(out[c], utc=True)
    # the engine returns rows in any order, and the boosters' validation split and binning
    # sample depend on it: sorted, the same data always trains the same model
    return out.sort_values(["origin", "h3_cell", "hour_start"], kind="stable").reset_index(drop=True)


def fit(spark, inputs: DemandInputs, horizon: str, params: DemandParams, before: pd.Timestamp, seed: int = 0) -> dfm.DemandModel:
    """A model of ``horizon`` trained only on hours before ``before`` (origins every ``train_origin_every`` hours)."""
    before = pd.Timestamp(before)
    first = inputs.start + pd.Timedelta(days=params.history_days)
    lead0 = pd.Timedelta(hours=HORIZONS[horizon][0])
    origins = [o for o in inputs.midnights(first, before - lead0 - pd.Timedelta(hours=1))]
    step = max(1, params.train_origin_every // 24)
    origins = origins[::-1][::step][::-1]
    frame = features(spark, inputs, origins, horizon, params)
    if frame.empty:
        raise ValueError(f"no training origins before {before}: the demand history needs more than {params.history_days} days")
    frame = frame[frame["hour_start"] < before]
    return dfm.train(frame, horizon, params, seed)


# --- versioned artefacts -------------------------------------------------------------------


def _artefact_root(settings: Settings) -> Path:
    if not settings.is_local_lake:
        raise NotImplementedError(f"model artefacts are written to a local lake only; {settings.lake_root} is not local")
    return Path(settings.lake_root.removeprefix("file://")) / ARTEFACTS


def save(settings: Settings, models: dict[str, dfm.DemandModel], extra: dict) -> str:
    """Store the models as a new version; returns the version."""
    import joblib

    version = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    folder = _artefact_root(settings) / version
    folder.mkdir(parents=True)
    joblib.dump(models, folder / "model.joblib")
    meta = {
        "version": version,
        "features": list(next(iter(models.values())).features),
        "horizons": {
            h: {
                "leads": list(HORIZONS[h]),
                "train_window": list(m.train_window),
                "train_rows": m.train_rows,
                "train_seconds": round(m.train_seconds, 1),
                "metrics": m.info,
            }
            for h, m in models.items()
        },
        **extra,
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str))
    return version


def versions(settings: Settings) -> list[str]:
    root = _artefact_root(settings)
    return sorted(p.name for p in root.iterdir() if (p / "meta.json").exists()) if root.exists() else []


def load(settings: Settings, version: str | None = None) -> tuple[str, dict[str, dfm.DemandModel], dict]:
    import joblib

    known = versions(settings)
    if not known:
        raise FileNotFoundError(f"no trained demand model under {_artefact_root(settings)}: run the train task first")
    version = version or known[-1]
    folder = _artefact_root(settings) / version
    return version, joblib.load(folder / "model.joblib"), json.loads((folder / "meta.json").read_text())


def _in_sample(model: dfm.DemandModel, frame: pd.DataFrame) -> dict:
    known = frame[frame["actual"].notna()]
    pred = model.predict(known)
    err = known["actual"].to_numpy(float) - pred["forecast"].to_numpy()
    inside = (known["actual"] >= pred["lower"]) & (known["actual"] <= pred["upper"])
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err))), "coverage": float(inside.mean())}


def train(spark, settings: Settings, params: DemandParams | None = None) -> dict:
    """Train every horizon on all the data and store a new version (the Airflow train task)."""
    params = params or DemandParams()
    inputs = load_inputs(spark, settings, params)
    days = (inputs.end - inputs.start) / pd.Timedelta(days=1)
    if days < params.history_days + 2:
        reason = f"{days:.0f} days of demand: training needs more than {params.history_days + 1} (history_days + a day to learn from)"
        log.warning("demand model not trained: %s", reason)
        return {"version": None, "not_trained": reason}
    models = {}
    for horizon in HORIZONS:
        models[horizon] = fit(spark, inputs, horizon, params, inputs.end)
    version = save(settings, models, {"params": params.__dict__, "data_end": str(inputs.end)})
    log.info("demand model %s trained: %s", version, {h: (m.train_rows, round(m.train_seconds, 1)) for h, m in models.items()})
    return {"version": version, **{f"{h}_train_seconds": round(m.train_seconds, 1) for h, m in models.items()}}


# --- scoring ---------------------------------------------------------------------------------


def anomaly_p(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """The smaller Poisson tail of each actual count under its forecast mean."""
    mu = np.maximum(forecast, 1e-6)
    upper = stats.poisson.sf(actual - 1, mu)
    lower = stats.poisson.cdf(actual, mu)
    return np.minimum(upper, lower)


def without_events(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows as if no event were scheduled: what demand usually is (the anomaly baseline)."""
    return frame.assign(event_attendance=0.0, event_distance_km=fe.NO_EVENT_KM, event_memory=0.0)


def forecast_rows(model: dfm.DemandModel, frame: pd.DataFrame, version: str, timezone: str, params: DemandParams) -> pd.DataFrame:
    """gold.demand_forecast rows of one model on a feature frame."""
    pred = model.predict(frame)
    usual = model.predict(without_events(frame))
    actual = frame["actual"]
    known = actual.notna().to_numpy()
    a = actual.fillna(0).to_numpy(float)
    outside = (a < pred["lower"].to_numpy()) | (a > pred["upper"].to_numpy())
    unusual = (a < usual["lower"].to_numpy()) | (a > usual["upper"].to_numpy())
    p = anomaly_p(a, usual["forecast"].to_numpy())
    far = np.abs(a - usual["forecast"].to_numpy()) >= params.anomaly_min_excess
    local = frame["hour_start"].dt.tz_convert(timezone)
    return pd.DataFrame(
        {
            "model_version": version,
            "horizon": model.horizon,
            "origin": frame["origin"].to_numpy(),
            "h3_cell": frame["h3_cell"].to_numpy(),
            "hour_start": frame["hour_start"].to_numpy(),
            "local_hour": local.dt.strftime("%Y-%m-%d %H:00").to_numpy(),
            "lead_hours": frame["lead_hours"].astype("int32").to_numpy(),
            "forecast": pred["forecast"].to_numpy(),
            "lower": pred["lower"].to_numpy(),
            "upper": pred["upper"].to_numpy(),
            "usual_forecast": usual["forecast"].to_numpy(),
            "actual": actual.astype("Int64").to_numpy(),
            "outside_interval": pd.array(np.where(known, outside, None), dtype="boolean"),
            "anomaly_p": np.where(known, p, np.nan),
            "is_anomaly": pd.array(np.where(known, unusual & (p < params.anomaly_p) & far, None), dtype="boolean"),
            "dt": local.dt.date.to_numpy(),
        }
    )


def score(spark, settings: Settings, params: DemandParams | None = None, version: str | None = None) -> dict:
    """Forecast with the newest model version into gold.demand_forecast (the Airflow score task)."""
    params = params or DemandParams()
    started = time.monotonic()
    contract = GOLD_DEMAND_FORECAST
    if not versions(settings):
        lake.write_client_table(settings, contract.name, contract.arrow_schema().empty_table(), mode="overwrite")
        return {
            "version": None,
            "rows": 0,
            "anomalies": 0,
            "seconds": round(time.monotonic() - started, 1),
            "not_computed": "no trained model",
        }
    version, models, _meta = load(settings, version)
    inputs = load_inputs(spark, settings, params)
    first = inputs.start + pd.Timedelta(days=params.history_days)
    parts = []
    daily = features(spark, inputs, inputs.midnights(first, inputs.end), "24h", params)
    parts.append(forecast_rows(models["24h"], daily, version, inputs.timezone, params))
    for horizon in [h for h in HORIZONS if h != "24h"]:
        ahead = features(spark, inputs, [inputs.end.to_pydatetime()], horizon, params)
        parts.append(forecast_rows(models[horizon], ahead, version, inputs.timezone, params))
    table = pd.concat(parts, ignore_index=True).assign(built_at=datetime.now(UTC))
    arrow = pa.Table.from_pandas(table[contract.column_names], schema=contract.arrow_schema(), preserve_index=False)
    lake.write_client_table(settings, contract.name, arrow, mode="overwrite")  # 367k rows at M, written from here
    anomalies = int(table["is_anomaly"].fillna(False).sum())
    return {"version": version, "rows": len(table), "anomalies": anomalies, "seconds": round(time.monotonic() - started, 1)}
