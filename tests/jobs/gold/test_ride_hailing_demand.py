"""gold.ride_hailing_demand on five hand-computed orders, and the forecaster's features know only the past."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from citybrain.jobs.gold import ride_hailing_demand as job
from citybrain.models import demand_features as fe
from citybrain.schemas.gold.ride_hailing_demand import GOLD_RIDE_HAILING_DEMAND, DemandParams

SHANGHAI = "Asia/Shanghai"
A, B = "883091190bfffff", "8830915657fffff"  # two resolution-8 cells of the demo city
A_POINT, B_POINT = (118.7806, 32.0487), (118.7486, 32.0183)
DDL = (
    "order_id string, h3_r8 string, ordered_at timestamp, picked_up_at timestamp, dropped_off_at timestamp,"
    " dropoff_lon double, dropoff_lat double, order_status string, is_compliant boolean, distance_km double, fare_yuan double"
)


def _local(hour, minute=0):
    """1 Sep 2026 at hour:minute in Shanghai (UTC+8), as a UTC instant."""
    return datetime(2026, 9, 1, hour, minute, tzinfo=UTC) - timedelta(hours=8)


TRIPS = [
    ("T1", A, _local(8, 10), _local(8, 20), _local(8, 50), *B_POINT, "completed", True, 5.0, 20.0),
    ("T2", A, _local(8, 40), _local(9, 5), _local(9, 30), *A_POINT, "completed", False, 3.0, 12.0),
    ("T3", A, _local(8, 55), None, None, None, None, "cancelled_by_passenger", None, 0.0, 0.0),
    ("T4", B, _local(10, 15), None, None, None, None, "cancelled_by_driver", True, 0.0, 0.0),
    ("T5", None, _local(9, 0), None, None, None, None, "completed", True, 1.0, 1.0),  # not located: no cell to count in
]


@pytest.fixture(scope="module")
def table(spark):
    trips = spark.createDataFrame(TRIPS, DDL)
    rows = job.ride_hailing_demand(trips, SHANGHAI, DemandParams()).toPandas()
    return rows.set_index(["h3_cell", "local_hour"]).sort_index()


def test_zero_filled_over_the_cells_and_hours_of_the_orders(table):
    hours = ["2026-09-01 08:00", "2026-09-01 09:00", "2026-09-01 10:00"]
    assert list(table.index) == [(c, h) for c in (A, B) for h in hours]
    assert set(table.columns) | {"h3_cell", "local_hour", "built_at"} == set(GOLD_RIDE_HAILING_DEMAND.column_names)


def test_hand_computed_counts(table):
    a8 = table.loc[(A, "2026-09-01 08:00")]
    assert (a8.orders, a8.completed, a8.cancelled, a8.compliant_orders, a8.pickups, a8.dropoffs) == (3, 2, 1, 1, 1, 0)
    assert a8.compliance_share == pytest.approx(0.5)  # T3's compliance is unknown: 1 of 2
    assert (a8.avg_distance_km, a8.avg_fare_yuan) == (pytest.approx(4.0), pytest.approx(16.0))  # completed orders only
    assert (a8.hour_of_day, str(a8["dt"])) == (8, "2026-09-01")
    assert pd.Timestamp(a8.hour_start).replace(tzinfo=None) == pd.Timestamp("2026-09-01 00:00")  # 8:00 local is 0:00 UTC
    a9 = table.loc[(A, "2026-09-01 09:00")]
    assert (a9.orders, a9.pickups, a9.dropoffs) == (0, 1, 1)  # T2 picked up after 9:00 and dropped off in A
    assert pd.isna(a9.compliance_share) and pd.isna(a9.avg_fare_yuan)
    b8 = table.loc[(B, "2026-09-01 08:00")]
    assert (b8.orders, b8.dropoffs) == (0, 1)  # T1 ends in B
    b10 = table.loc[(B, "2026-09-01 10:00")]
    assert (b10.orders, b10.cancelled, b10.completed, b10.compliance_share) == (1, 1, 0, 1.0)
    assert table["orders"].sum() == 4  # T5 has no cell


# --- features: nothing after the origin -------------------------------------------------------


def _demand(spark, seed=1, days=35):
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2026-09-01", periods=days * 24, freq="h", tz=SHANGHAI).tz_convert("UTC")
    frame = pd.DataFrame(
        [(c, h, int(rng.poisson(3 if c == A else 1))) for c in (A, B) for h in hours], columns=["h3_cell", "hour_start", "orders"]
    )
    return frame


def _features(spark, demand: pd.DataFrame, origin: datetime, leads=(0, 48)):
    calendar = spark.createDataFrame(
        pd.DataFrame(
            {
                "date": pd.date_range("2026-09-01", periods=40).date,
                "is_workday": True,
                "holiday_name": None,
                "precipitation_mm": 0.0,
                "temp_max_c": 25.0,
                "event_attendance": 0,
                "event_lat": None,
                "event_lon": None,
            }
        ),
        "date date, is_workday boolean, holiday_name string, precipitation_mm double, temp_max_c double,"
        " event_attendance int, event_lat double, event_lon double",
    )
    cells, ring = fe.cell_frame(spark, None, [A, B], 8)
    demand_df = spark.createDataFrame(demand, "h3_cell string, hour_start timestamp, orders bigint")
    frame = fe.feature_frame(demand_df, calendar, cells, ring, fe.origins_frame(spark, [origin]), leads, SHANGHAI)
    return frame.toPandas().sort_values(["h3_cell", "lead_hours"]).reset_index(drop=True)


def test_features_ignore_everything_from_the_origin_on(spark):
    origin = pd.Timestamp("2026-10-01 00:00", tz=SHANGHAI).tz_convert("UTC").to_pydatetime()
    demand = _demand(spark)
    future = demand["hour_start"] >= origin
    assert future.any()
    changed = demand.assign(orders=np.where(future, demand["orders"] * 10 + 7, demand["orders"]))
    before = _features(spark, demand, origin)
    after = _features(spark, changed, origin)
    pd.testing.assert_frame_equal(before, after)
    # and the past does matter (the check can fail): change the hour just before the origin
    past = changed.assign(orders=np.where(changed["hour_start"] == origin - timedelta(hours=1), 99, changed["orders"]))
    moved = _features(spark, past, origin)
    assert (moved["last_hour"] == 99).all() and not moved[list(fe.FEATURES)].equals(before[list(fe.FEATURES)])


def test_feature_values_by_hand(spark):
    origin = pd.Timestamp("2026-10-01 00:00", tz=SHANGHAI).tz_convert("UTC").to_pydatetime()
    demand = _demand(spark)
    f = _features(spark, demand, origin, leads=(0, 30)).set_index(["h3_cell", "lead_hours"])
    a = demand[demand["h3_cell"] == A].set_index("hour_start")["orders"]
    week = a[(a.index >= origin - timedelta(days=7)) & (a.index < origin)]
    month = a[(a.index >= origin - timedelta(days=28)) & (a.index < origin)]
    assert f.loc[(A, 0), "mean_7d"] == pytest.approx(week.mean())
    assert f.loc[(A, 0), "mean_28d"] == pytest.approx(month.mean())
    assert f.loc[(A, 3), "same_hour_last_week"] == a[origin + timedelta(hours=3) - timedelta(days=7)]
    assert f.loc[(A, 3), "same_hour_last_day"] == a[origin + timedelta(hours=3) - timedelta(days=1)]
    assert f.loc[(A, 27), "same_hour_last_day"] == a[origin + timedelta(hours=3) - timedelta(days=1)]  # latest known day
    assert f.loc[(A, 0), "share_all"] == pytest.approx(a[a.index < origin].sum() / demand[demand["hour_start"] < origin]["orders"].sum())
    assert f.loc[(A, 0), "neighbour_mean_28d"] == 0.0  # A and B are not neighbours
    assert f.loc[(A, 5), "hour_of_day"] == 5 and f.loc[(A, 0), "day_of_week"] == 3  # 1 Oct 2026 is a Thursday


def test_demand_params_refuse_nonsense():
    with pytest.raises(ValueError, match="resolution"):
        DemandParams(resolution=6)
    with pytest.raises(ValueError, match="quantiles"):
        DemandParams(quantiles=(0.9, 0.1))
