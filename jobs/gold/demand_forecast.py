"""gold.demand_forecast: ride-hailing demand forecasts per cell-hour, with intervals and anomaly flags.

``train`` fits and stores a new model version (citybrain.models.demand_pipeline); ``run``
scores with the newest version into the table. Both are Airflow tasks of
build_gold_demand_forecast.
"""

from __future__ import annotations

from citybrain.jobs.gold.common import GoldReport
from citybrain.models import demand_pipeline
from citybrain.schemas.gold.ride_hailing_demand import GOLD_DEMAND_FORECAST, DemandParams
from citybrain.settings import Settings


def train(spark, settings: Settings, params: DemandParams | None = None) -> dict:
    return demand_pipeline.train(spark, settings, params)


def run(spark, settings: Settings, params: DemandParams | None = None) -> GoldReport:
    report = GoldReport(GOLD_DEMAND_FORECAST.name)
    summary = demand_pipeline.score(spark, settings, params)
    report.details = summary
    if summary.get("not_computed"):
        report.not_computed.append(f"forecasts: {summary['not_computed']} (the demand history is too short to train one)")
    return report.finish(summary["rows"])
