"""gold.ride_hailing_demand and gold.demand_forecast: how much ride-hailing demand there is and will be.

Demand is an order placed (ordered_at, located at its pickup point), counted per H3 cell
and local hour. The forecaster's parameters sit beside the contracts (DemandParams): one
place for the resolution, horizons, quantiles, training and backtest windows and the
anomaly rule that the jobs, the models, the evaluation, the docs and the dashboards read.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.schemas.contract import Column, Contract

#: forecast horizon name -> the lead times (hours after the origin) it covers
HORIZONS: dict[str, tuple[int, int]] = {"24h": (0, 24), "7d": (24, 168)}
#: the lead times a horizon is judged on in the backtest: the next 24 hours, and the 7th day ahead
EVALUATED_LEADS: dict[str, tuple[int, int]] = {"24h": (0, 24), "7d": (144, 168)}


@dataclass(frozen=True)
class DemandParams:
    """How demand is counted, forecast, evaluated and flagged (see jobs/gold/README.md).

    resolution          H3 resolution of the cells (silver carries 7, 8 and 9)
    source              the ride-hailing feed whose time zone makes the local hours (silver.ride_trip
                        may hold other feeds too, e.g. a Chicago TNP export)
    history_days        days of history a forecast origin needs (rolling means, 4 weeks of lags)
    train_origin_every  hours between two training origins (each origin gives cells x leads rows)
    max_train_rows      training rows per horizon at most (origins are thinned evenly beyond it)
    quantiles           the prediction interval's lower and upper quantiles
    max_iter            boosting iterations of each gradient-boosted model
    mean_models         Poisson models (seeds) whose mean is the forecast
    backtest_days       the last days of the run the rolling-origin backtest forecasts
    refit_every_days    the backtest refits the model every this many days (on data before the fold)
    anomaly_p           a cell-hour is an anomaly when its count is this improbable under the usual
                        forecast (the forecast without the day's scheduled event), in either direction,
                        beyond that forecast's 80 % interval
    anomaly_min_excess  and differs from the usual forecast by at least this many orders
    """

    resolution: int = 8
    source: str = "ridehailing"
    history_days: int = 28
    train_origin_every: int = 24
    max_train_rows: int = 250_000
    quantiles: tuple[float, float] = (0.1, 0.9)
    max_iter: int = 100
    mean_models: int = 4
    backtest_days: int = 21
    refit_every_days: int = 21
    anomaly_p: float = 1e-4
    anomaly_min_excess: float = 5.0

    @property
    def timezone(self) -> str:
        from citybrain.schemas.sources import get_source

        mapping = get_source(self.source).silver
        if mapping is None:
            raise ValueError(f"source {self.source} has no [silver] section: it does not feed silver.ride_trip")
        return mapping.timezone

    def __post_init__(self) -> None:
        if self.resolution not in (7, 8, 9):
            raise ValueError(f"demand resolution {self.resolution}: silver carries H3 cells at resolutions 7, 8 and 9")
        lo, hi = self.quantiles
        if not 0 < lo < hi < 1:
            raise ValueError(f"quantiles {self.quantiles}: need 0 < lower < upper < 1")
        if self.mean_models < 1:
            raise ValueError(f"mean_models {self.mean_models}: need at least one model")


GOLD_RIDE_HAILING_DEMAND = Contract(
    name="gold.ride_hailing_demand",
    columns=(
        Column("h3_cell", "string", False, "H3 cell of the pickup point (resolution in h3_resolution)"),
        Column("h3_resolution", "int", False),
        Column("hour_start", "timestamp", False, "start of the local hour (stored as the instant)"),
        Column("local_hour", "string", False, "the local hour as 'YYYY-MM-DD HH:00' in the source's time zone"),
        Column("hour_of_day", "int", False, "0-23, local"),
        Column("orders", "bigint", False, "orders placed in the cell and hour, whatever became of them: the demand"),
        Column("completed", "bigint", False, "of orders, completed"),
        Column("cancelled", "bigint", False, "of orders, cancelled by the passenger or the driver"),
        Column("compliant_orders", "bigint", False, "of orders, with driver licence and vehicle certificate both valid"),
        Column("compliance_share", "double", True, "compliant_orders / orders whose compliance is known; null when none"),
        Column("pickups", "bigint", False, "passengers picked up in the cell in the hour (picked_up_at)"),
        Column("dropoffs", "bigint", False, "passengers dropped off in the cell in the hour (dropped_off_at, drop-off point)"),
        Column("avg_distance_km", "double", True, "mean trip length of the completed orders placed in the cell and hour"),
        Column("avg_fare_yuan", "double", True, "mean fare of those completed orders"),
        Column("dt", "date", False, "local date"),
        Column("built_at", "timestamp", False),
    ),
    grain="one row per H3 cell per local hour, zero-filled over the cells that ever have an order and the hours of the data",
    description="Ride-hailing demand per cell-hour: orders, completions, cancellations, compliance, pickups, drop-offs, trip length, fare.",
    owner="analytics",
    keys=("h3_cell", "hour_start"),
)

GOLD_DEMAND_FORECAST = Contract(
    name="gold.demand_forecast",
    columns=(
        Column("model_version", "string", False, "the trained model (artefacts under <lake>/models/demand_forecast/<version>)"),
        Column("horizon", "string", False, "24h (the next 24 hours) or 7d (hours 24-167 after the origin)"),
        Column("origin", "timestamp", False, "forecast origin: the model saw data before this instant only"),
        Column("h3_cell", "string", False),
        Column("hour_start", "timestamp", False, "the hour forecast"),
        Column("local_hour", "string", False, "'YYYY-MM-DD HH:00' local"),
        Column("lead_hours", "int", False, "hours from the origin to hour_start"),
        Column("forecast", "double", False, "expected orders (Poisson mean)"),
        Column("lower", "double", False, "lower bound of the 80 % prediction interval (quantile 0.1)"),
        Column("upper", "double", False, "upper bound of the 80 % prediction interval (quantile 0.9)"),
        Column(
            "usual_forecast",
            "double",
            False,
            "expected orders without the day's scheduled event (event features neutral): the anomaly baseline",
        ),
        Column("actual", "bigint", True, "orders counted since (gold.ride_hailing_demand); null while the hour is ahead"),
        Column("outside_interval", "boolean", True, "actual below lower or above upper; null while the hour is ahead"),
        Column("anomaly_p", "double", True, "Poisson tail probability of the actual under usual_forecast (the smaller side)"),
        Column(
            "is_anomaly",
            "boolean",
            True,
            "abnormal demand: outside the usual interval, anomaly_p below DemandParams.anomaly_p and far from usual_forecast",
        ),
        Column("dt", "date", False, "local date of hour_start"),
        Column("built_at", "timestamp", False),
    ),
    grain="one row per model version per horizon per forecast origin per H3 cell per hour",
    description="Demand forecasts per cell-hour with 80 % intervals, the actual count once known and the anomaly flag.",
    owner="analytics",
    keys=("model_version", "horizon", "origin", "h3_cell", "hour_start"),
)
