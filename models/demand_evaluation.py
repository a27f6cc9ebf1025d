"""Rolling-origin backtest of the demand forecaster, with baselines, into gold.model_metrics.

The last ``backtest_days`` days of the run are forecast fold by fold (``refit_every_days``
each): the model is refitted on the hours before the fold's first origin, then forecasts
every hour of the fold from origins at local midnight. The 24h horizon is judged on the
next 24 hours of each origin; the 7d horizon on the 7th day ahead (leads 144-167 h).
Every target hour is forecast once per horizon.

Baselines on the same hours: the historical average by cell and hour of the week fitted on
the days before the backtest (HA), the same hour a week earlier (seasonal naive) and, on
the demo city, the planted expected demand (oracle, truth/ride_rates.csv): the floor no
model can beat on Poisson counts. RMSE and MAE are over every cell-hour of the zero-filled
table; MAPE over the cell-hours with at least one order; coverage is the share of actuals
inside the 80 % interval. skill = (RMSE_HA - RMSE) / (RMSE_HA - RMSE_oracle).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from citybrain.models import demand_pipeline as pipe
from citybrain.schemas.gold.ride_hailing_demand import EVALUATED_LEADS, HORIZONS, DemandParams

MODEL = "demand_forecast"
BASELINES = ("historical_average", "seasonal_naive", "oracle")
SOURCE = "ridehailing"


@dataclass
class Backtest:
    table: pd.DataFrame  # horizon, model, rmse, mae, mape, coverage, skill, n
    predictions: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)

    def metric_rows(self, run_id: str, run_at: datetime) -> list[dict]:
        rows = []
        for _, r in self.table.iterrows():
            for metric in ("rmse", "mae", "mape", "coverage", "skill"):
                value = r[metric]
                rows.append(
                    {
                        "model": r["model"],
                        "metric": metric,
                        "scope": f"horizon={r['horizon']}",
                        "value": None if pd.isna(value) else float(value),
                        "source_system": SOURCE,
                        "run_id": run_id,
                        "run_at": run_at,
                        "details": json.dumps({"cell_hours": int(r["n"]), "first_hour": r["first_hour"], "last_hour": r["last_hour"]}),
                    }
                )
        return rows


def load_ride_rates(truth_dir: Path, timezone: str) -> pd.DataFrame:
    """truth/ride_rates.csv as h3_cell, hour_start (UTC), expected."""
    rates = pd.read_csv(truth_dir / "ride_rates.csv", dtype={"h3_8": str})
    hour = pd.to_datetime(rates["hour"]).dt.tz_localize(timezone).dt.tz_convert("UTC")
    return pd.DataFrame({"h3_cell": rates["h3_8"], "hour_start": hour, "expected": rates["expected_pickups"].astype(float)})


def scores(actual: np.ndarray, predicted: np.ndarray, lower=None, upper=None) -> dict:
    err = actual - predicted
    has = actual > 0
    out = {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mape": float(np.mean(np.abs(err[has]) / actual[has])) if has.any() else np.nan,
        "coverage": np.nan,
    }
    if lower is not None:
        out["coverage"] = float(np.mean((actual >= lower) & (actual <= upper)))
    return out


def backtest_window(inputs: pipe.DemandInputs, params: DemandParams) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The last ``backtest_days`` whole local days of the data: [begin, end) as UTC instants."""
    end = inputs.end.tz_convert(inputs.timezone).floor("D").tz_convert("UTC")
    return end - pd.Timedelta(days=params.backtest_days), end


def backtest_horizon(spark, inputs: pipe.DemandInputs, horizon: str, params: DemandParams, seed: int = 0) -> pd.DataFrame:
    """Model forecasts of every hour of the backtest window for one horizon (with features and actuals)."""
    lo, hi = EVALUATED_LEADS[horizon]
    begin, end = backtest_window(inputs, params)
    parts = []
    for fold_start in pd.date_range(begin, end, freq=f"{params.refit_every_days}D", inclusive="left"):
        fold_end = min(fold_start + pd.Timedelta(days=params.refit_every_days), end)
        origins = inputs.midnights(fold_start - pd.Timedelta(hours=lo), fold_end - pd.Timedelta(hours=lo + 1))
        model = pipe.fit(spark, inputs, horizon, params, min(origins), seed)
        frame = pipe.features(spark, inputs, origins, horizon, params)
        frame = frame[(frame["lead_hours"] >= lo) & (frame["lead_hours"] < hi)]
        frame = frame[(frame["hour_start"] >= fold_start) & (frame["hour_start"] < fold_end)]
        parts.append(pd.concat([frame, model.predict(frame)], axis=1).assign(train_seconds=model.train_seconds))
    return pd.concat(parts, ignore_index=True)


def baselines(history: pd.DataFrame, frame: pd.DataFrame, timezone: str, begin: pd.Timestamp) -> pd.DataFrame:
    """HA (by cell and local hour of the week, fitted before ``begin``) and seasonal naive for each row of ``frame``."""
    hist = history[history["hour_start"] < begin]
    local = hist["hour_start"].dt.tz_convert(timezone)
    ha = hist.assign(how=local.dt.dayofweek * 24 + local.dt.hour).groupby(["h3_cell", "how"])["orders"].mean()
    tl = frame["hour_start"].dt.tz_convert(timezone)
    keys = pd.MultiIndex.from_arrays([frame["h3_cell"], tl.dt.dayofweek * 24 + tl.dt.hour])
    orders = history.set_index(["h3_cell", "hour_start"])["orders"]
    week_before = pd.MultiIndex.from_arrays([frame["h3_cell"], frame["hour_start"] - pd.Timedelta(days=7)])
    return pd.DataFrame(
        {
            "historical_average": ha.reindex(keys).fillna(0).to_numpy(),
            "seasonal_naive": orders.reindex(week_before).fillna(0).to_numpy(),
        },
        index=frame.index,
    )


def run_backtest(spark, settings, truth_dir: Path | None = None, params: DemandParams | None = None, seed: int = 0) -> Backtest:
    """The whole backtest (every horizon, model and baselines); nothing written."""
    params = params or DemandParams()
    inputs = pipe.load_inputs(spark, settings, params)
    history = inputs.demand.toPandas()
    history["hour_start"] = pd.to_datetime(history["hour_start"], utc=True)
    begin, _ = backtest_window(inputs, params)
    rates = load_ride_rates(truth_dir, inputs.timezone) if truth_dir and (truth_dir / "ride_rates.csv").exists() else None
    rows, preds, seconds = [], [], {}
    for horizon in HORIZONS:
        started = time.monotonic()
        frame = backtest_horizon(spark, inputs, horizon, params, seed)
        seconds[horizon] = time.monotonic() - started
        frame = frame.join(baselines(history, frame, inputs.timezone, begin))
        if rates is not None:
            frame = frame.merge(rates, on=["h3_cell", "hour_start"], how="left").fillna({"expected": 0.0})
        actual = frame["actual"].to_numpy(float)
        span = {"first_hour": str(frame["hour_start"].min()), "last_hour": str(frame["hour_start"].max()), "n": len(frame)}
        result = {MODEL: scores(actual, frame["forecast"].to_numpy(), frame["lower"].to_numpy(), frame["upper"].to_numpy())}
        for name in BASELINES:
            column = "expected" if name == "oracle" else name
            if column in frame:
                result[name] = scores(actual, frame[column].to_numpy(float))
        gap = result["historical_average"]["rmse"] - result["oracle"]["rmse"] if "oracle" in result else np.nan
        for name, s in result.items():
            skill = (result["historical_average"]["rmse"] - s["rmse"]) / gap if gap and gap > 0 else np.nan
            rows.append({"horizon": horizon, "model": name, **s, "skill": skill, **span})
        preds.append(frame.assign(horizon=horizon))
    return Backtest(pd.DataFrame(rows), pd.concat(preds, ignore_index=True), seconds)


def run(spark, settings, truth_dir: Path | None = None, params: DemandParams | None = None) -> Backtest:
    """Backtest and append the metrics to gold.model_metrics (``citybrain evaluate demand``)."""
    from citybrain import lake
    from citybrain.schemas.gold.model_metrics import GOLD_MODEL_METRICS

    truth_dir = truth_dir or settings.demo_dir / "truth"
    result = run_backtest(spark, settings, truth_dir, params)
    rows = result.metric_rows(uuid.uuid4().hex[:12], datetime.now(UTC))
    contract = GOLD_MODEL_METRICS
    df = spark.createDataFrame(pd.DataFrame(rows)[contract.column_names], contract.ddl().replace(" NOT NULL", ""))
    lake.write(spark, settings, contract.name, df, mode="append")
    return result


def report_text(result: Backtest) -> str:
    t = result.table
    lines = [f"{'horizon':<8}{'model':<20}{'RMSE':>8}{'MAE':>8}{'MAPE':>8}{'cover':>8}{'skill':>8}"]
    for _, r in t.iterrows():
        cells = [f"{r[m]:8.3f}" if pd.notna(r[m]) else f"{'-':>8}" for m in ("rmse", "mae", "mape", "coverage", "skill")]
        lines.append(f"{r['horizon']:<8}{r['model']:<20}{''.join(cells)}")
    lines.append("backtest seconds (refits included): " + ", ".join(f"{h} {s:.0f} s" for h, s in result.seconds.items()))
    return "\n".join(lines)


def evaluate_scenario(spark, settings, *, seed: int, days: int = 84, scale: float = 1.0, rides=None, params=None) -> Backtest:
    """Generate a ride-hailing-only demo city (registry and calendar included) into ``settings``'
    demo folder and lake, run bronze -> silver -> gold.ride_hailing_demand on it and backtest."""
    from citybrain.democity import generate
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.gold import ride_hailing_demand
    from citybrain.jobs.silver import refine

    extra = {"rides": rides} if rides is not None else {}
    generate(settings.demo_dir, seed=seed, days=days, scale=scale, sources=("ridehailing",), **extra)
    for source in ("registry", "calendar", "ridehailing"):
        ingest.run(spark, settings, source)
        refine.refine(spark, settings, source)
    ride_hailing_demand.run(spark, settings)
    return run_backtest(spark, settings, settings.demo_dir / "truth", params)


def event_flags(forecast: pd.DataFrame, demand_params: dict, timezone: str, radius_km: float = 1.5) -> pd.DataFrame:
    """Each planted event day (truth/demand_params.json) against the anomaly flags of the 24h forecasts.

    ``forecast``: gold.demand_forecast rows (h3_cell, hour_start, is_anomaly, actual, forecast, horizon).
    The planted surge is in the two hours from the event's end hour, within 1.2 km of the venue;
    a flag counts as right when its cell's centre is within ``radius_km`` of the venue and its
    hour is one of those two.
    """
    import math

    import h3

    rows = forecast[forecast["horizon"] == "24h"].copy()
    local = pd.to_datetime(rows["hour_start"], utc=True).dt.tz_convert(timezone)
    rows["date"], rows["hour"] = local.dt.strftime("%Y-%m-%d"), local.dt.hour
    centres = {c: h3.cell_to_latlng(c) for c in rows["h3_cell"].unique()}
    flagged = rows[rows["is_anomaly"].astype("boolean").fillna(False).to_numpy(bool)]
    out = []
    for event in demand_params["events"]:
        end_hour = min(math.ceil(event["start_hour"] + event["duration_h"]), 23)
        surge_hours = [h for h in (end_hour, end_hour + 1) if h < 24]
        for k in range(event["days"]):
            day = (pd.Timestamp(event["date"]) + pd.Timedelta(days=k)).strftime("%Y-%m-%d")
            scored = rows[rows["date"] == day]
            near = {c for c, (lat, lon) in centres.items() if _km(lat, lon, event["lat"], event["lon"]) <= radius_km}
            on_day = flagged[flagged["date"] == day]
            right = on_day[on_day["h3_cell"].isin(near) & on_day["hour"].isin(surge_hours)]
            window = scored[scored["h3_cell"].isin(near) & scored["hour"].isin(surge_hours)]
            out.append(
                {
                    "event": event["name"],
                    "date": day,
                    "surge_hours": ",".join(f"{h:02d}:00" for h in surge_hours),
                    "scored": not scored.empty,
                    "cells_near_venue": len(near),
                    "flags_in_surge": len(right),
                    "flags_elsewhere_that_day": len(on_day) - len(right),
                    "actual_in_surge": int(window["actual"].sum()) if not window.empty else None,
                    "forecast_in_surge": round(float(window["forecast"].sum()), 1) if not window.empty else None,
                }
            )
    event_days = {
        (pd.Timestamp(e["date"]) + pd.Timedelta(days=k)).strftime("%Y-%m-%d") for e in demand_params["events"] for k in range(e["days"])
    }
    out.append(
        {
            "event": "(all other days)",
            "date": "",
            "surge_hours": "",
            "scored": True,
            "cells_near_venue": 0,
            "flags_in_surge": 0,
            "flags_elsewhere_that_day": int((~flagged["date"].isin(event_days)).sum()),
            "actual_in_surge": None,
            "forecast_in_surge": None,
        }
    )
    return pd.DataFrame(out)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
