"""Features of the demand forecaster, built in Spark, from what is known at the forecast origin.

One row per forecast origin x H3 cell x lead hour. Every feature that comes from demand
is computed from the hours strictly before the origin (``history_window`` is the only
place that reads demand, and it keeps ``hour_start < origin``); the calendar of the
target day (working day, holiday, weather, scheduled events) is taken as known in
advance: a published calendar, a weather forecast and an event permit. The label
(``orders`` at the target hour) is joined only for training and scoring the past.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

HOUR_S = 3600
#: event_distance_km on a day without an event
NO_EVENT_KM = 100.0
WEEK_S = 7 * 24 * HOUR_S

#: the model's inputs, in order (the feature list stored with every trained model)
FEATURES = (
    "lead_hours",
    "hour_of_day",
    "day_of_week",
    "hour_of_week",
    "is_workday",
    "is_holiday",
    "precipitation_mm",
    "temp_max_c",
    "event_attendance",
    "event_distance_km",
    "event_memory",
    "last_hour",
    "same_hour_last_day",
    "same_hour_last_week",
    "hour_of_week_mean_4w",
    "mean_7d",
    "mean_28d",
    "share_28d",
    "share_all",
    "city_mean_28d",
    "city_profile_mean",
    "city_hour_of_week_mean_4w",
    "profile_estimate",
    "city_last_24h_ratio",
    "neighbour_mean_28d",
    "population",
)


def _seconds(ts: Column) -> Column:
    return F.unix_timestamp(ts)


def _local_calendar(ts: Column, timezone: str) -> dict[str, Column]:
    local = F.from_utc_timestamp(ts, timezone)
    dow = (F.dayofweek(local) + 5) % 7  # Monday 0
    return {"local_date": F.to_date(local), "hour_of_day": F.hour(local), "day_of_week": dow, "hour_of_week": dow * 24 + F.hour(local)}


def origins_frame(spark, origins: list[datetime]) -> DataFrame:
    return spark.createDataFrame(pd.DataFrame({"origin": pd.to_datetime(origins, utc=True)}), "origin timestamp")


def history_window(demand: DataFrame, origins: DataFrame, days: int, timezone: str) -> DataFrame:
    """The demand of the ``days`` days before each origin: the only demand a feature may read."""
    hist = demand.select(
        "h3_cell", "hour_start", "orders", *[c.alias(n) for n, c in _local_calendar(F.col("hour_start"), timezone).items()]
    )
    before = (_seconds(F.col("origin")) - _seconds(F.col("hour_start"))).alias("age_s")
    joined = origins.crossJoin(hist).where(
        (F.col("hour_start") < F.col("origin")) & (F.col("hour_start") >= F.col("origin") - F.expr(f"INTERVAL {days} DAYS"))
    )
    return joined.select("*", before)


def targets_frame(origins: DataFrame, cells: DataFrame, leads: tuple[int, int], timezone: str) -> DataFrame:
    """origin x cell x lead hour, with the target hour and its local calendar."""
    spark = origins.sparkSession
    lead = spark.range(leads[0], leads[1]).select(F.col("id").cast("int").alias("lead_hours"))
    frame = origins.crossJoin(lead).crossJoin(cells.select("h3_cell"))
    frame = frame.withColumn("hour_start", F.timestamp_seconds(_seconds(F.col("origin")) + F.col("lead_hours") * HOUR_S))
    return frame.select("*", *[c.alias(n) for n, c in _local_calendar(F.col("hour_start"), timezone).items()])


def _haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    dlat = F.radians(lat2 - lat1)
    dlon = F.radians(lon2 - lon1)
    a = F.sin(dlat / 2) ** 2 + F.cos(F.radians(lat1)) * F.cos(F.radians(lat2)) * F.sin(dlon / 2) ** 2
    return 2 * 6371.0 * F.asin(F.sqrt(a))


def feature_frame(
    demand: DataFrame,
    calendar: DataFrame,
    cells: DataFrame,
    neighbours: DataFrame,
    origins: DataFrame,
    leads: tuple[int, int],
    timezone: str,
    history_days: int = 28,
) -> DataFrame:
    """Features for every origin x cell x lead in ``leads`` (hours after the origin, end exclusive).

    demand      h3_cell, hour_start, orders (gold.ride_hailing_demand)
    calendar    silver.calendar_day
    cells       h3_cell, population, lat, lon (the cells forecast)
    neighbours  h3_cell, neighbour (the ring around each cell, not the cell itself)
    """
    hist = history_window(demand, origins, history_days, timezone)
    week = F.col("age_s") <= WEEK_S
    per_cell = hist.groupBy("origin", "h3_cell").agg(
        F.avg("orders").alias("mean_28d"),
        F.avg(F.when(week, F.col("orders"))).alias("mean_7d"),
        F.sum("orders").alias("_total_28d"),
        F.sum(F.when(F.col("age_s") <= HOUR_S, F.col("orders"))).alias("last_hour"),
    )
    city = hist.groupBy("origin").agg(
        F.sum("orders").alias("_city_28d"),
        (F.sum("orders") / (history_days * 24)).alias("city_mean_28d"),
        (F.sum(F.when(F.col("age_s") <= 24 * HOUR_S, F.col("orders"))) * history_days / F.sum("orders")).alias("city_last_24h_ratio"),
    )
    per_cell = per_cell.join(city, "origin").withColumn("share_28d", F.col("_total_28d") / F.col("_city_28d"))
    day_kind = calendar.select(F.col("date").alias("local_date"), F.coalesce(F.col("is_workday").cast("int"), F.lit(1)).alias("day_kind"))
    everything = (
        origins.crossJoin(demand.select("h3_cell", "hour_start", "orders"))
        .where(F.col("hour_start") < F.col("origin"))
        .select("*", *[c.alias(n) for n, c in _local_calendar(F.col("hour_start"), timezone).items()])
    )
    cell_all = everything.groupBy("origin", "h3_cell").agg(F.sum("orders").alias("_total_all"))
    cell_all = cell_all.join(cell_all.groupBy("origin").agg(F.sum("_total_all").alias("_city_all")), "origin").select(
        "origin", "h3_cell", (F.col("_total_all") / F.col("_city_all")).alias("share_all")
    )
    city_profile = (
        everything.join(day_kind, "local_date", "left")
        .groupBy("origin", "hour_start", "hour_of_day", F.coalesce("day_kind", F.lit(1)).alias("day_kind"))
        .agg(F.sum("orders").alias("n"))
        .groupBy("origin", "hour_of_day", "day_kind")
        .agg(F.avg("n").alias("city_profile_mean"))
    )
    memory = _event_memory(everything, calendar)
    everything = cell_all
    per_cell = per_cell.join(everything, ["origin", "h3_cell"], "left")
    by_how = hist.groupBy("origin", "h3_cell", "hour_of_week").agg(
        F.avg("orders").alias("hour_of_week_mean_4w"),
        F.sum(F.when(week, F.col("orders"))).alias("same_hour_last_week"),
    )
    city_how = (
        hist.groupBy("origin", "hour_of_week", "hour_start")
        .agg(F.sum("orders").alias("n"))
        .groupBy("origin", "hour_of_week")
        .agg(F.avg("n").alias("city_hour_of_week_mean_4w"))
    )
    by_hod = (
        hist.where(F.col("age_s") <= 24 * HOUR_S)
        .groupBy("origin", "h3_cell", "hour_of_day")
        .agg(F.sum("orders").alias("same_hour_last_day"))
    )
    ring = (
        neighbours.join(per_cell.select("origin", F.col("h3_cell").alias("neighbour"), "mean_28d"), "neighbour")
        .groupBy("origin", "h3_cell")
        .agg(F.avg("mean_28d").alias("neighbour_mean_28d"))
    )
    cal = calendar.select(
        F.col("date").alias("local_date"),
        F.coalesce(F.col("is_workday").cast("int"), F.lit(1)).alias("is_workday"),
        (F.coalesce(F.length(F.trim(F.col("holiday_name"))), F.lit(0)) > 0).cast("int").alias("is_holiday"),
        F.coalesce(F.col("precipitation_mm"), F.lit(0.0)).alias("precipitation_mm"),
        F.col("temp_max_c").alias("temp_max_c"),
        F.coalesce(F.col("event_attendance"), F.lit(0)).cast("double").alias("event_attendance"),
        F.col("event_lat"),
        F.col("event_lon"),
    )
    frame = (
        targets_frame(origins, cells, leads, timezone)
        .join(per_cell, ["origin", "h3_cell"], "left")
        .join(by_how, ["origin", "h3_cell", "hour_of_week"], "left")
        .join(city_how, ["origin", "hour_of_week"], "left")
        .join(by_hod, ["origin", "h3_cell", "hour_of_day"], "left")
        .join(day_kind, "local_date", "left")
        .withColumn("day_kind", F.coalesce("day_kind", F.lit(1)))
        .join(city_profile, ["origin", "hour_of_day", "day_kind"], "left")
        .join(_venues(calendar).withColumnRenamed("event_date", "local_date").drop("past_attendance"), "local_date", "left")
        .join(memory, ["origin", "h3_cell", "hour_of_day", "venue"], "left")
        .join(ring, ["origin", "h3_cell"], "left")
        .join(cells.select("h3_cell", "population", "lat", "lon"), "h3_cell", "left")
        .join(cal, "local_date", "left")
    )
    distance = F.when(F.col("event_lat").isNotNull(), _haversine_km(F.col("lat"), F.col("lon"), F.col("event_lat"), F.col("event_lon")))
    return frame.select(
        "origin",
        "h3_cell",
        "hour_start",
        "local_date",
        *FEATURES[: FEATURES.index("event_distance_km")],  # the calendar and lead features, as computed above
        F.coalesce(distance, F.lit(NO_EVENT_KM)).alias("event_distance_km"),
        F.coalesce(F.col("excess_per_attendee") * F.col("event_attendance"), F.lit(0.0)).alias("event_memory"),
        F.coalesce(F.col("last_hour"), F.lit(0)).cast("double").alias("last_hour"),
        F.coalesce(F.col("same_hour_last_day"), F.lit(0)).cast("double").alias("same_hour_last_day"),
        F.coalesce(F.col("same_hour_last_week"), F.lit(0)).cast("double").alias("same_hour_last_week"),
        F.coalesce(F.col("hour_of_week_mean_4w"), F.lit(0.0)).alias("hour_of_week_mean_4w"),
        F.coalesce(F.col("mean_7d"), F.lit(0.0)).alias("mean_7d"),
        F.coalesce(F.col("mean_28d"), F.lit(0.0)).alias("mean_28d"),
        F.coalesce(F.col("share_28d"), F.lit(0.0)).alias("share_28d"),
        F.coalesce(F.col("share_all"), F.lit(0.0)).alias("share_all"),
        F.coalesce(F.col("city_mean_28d"), F.lit(0.0)).alias("city_mean_28d"),
        F.coalesce(F.col("city_profile_mean"), F.col("city_hour_of_week_mean_4w"), F.lit(0.0)).alias("city_profile_mean"),
        F.coalesce(F.col("city_hour_of_week_mean_4w"), F.lit(0.0)).alias("city_hour_of_week_mean_4w"),
        (F.coalesce(F.col("share_28d"), F.lit(0.0)) * F.coalesce(F.col("city_hour_of_week_mean_4w"), F.lit(0.0))).alias("profile_estimate"),
        F.coalesce(F.col("city_last_24h_ratio"), F.lit(1.0)).alias("city_last_24h_ratio"),
        F.coalesce(F.col("neighbour_mean_28d"), F.lit(0.0)).alias("neighbour_mean_28d"),
        F.coalesce(F.col("population"), F.lit(0)).cast("double").alias("population"),
    )


def _venues(calendar: DataFrame) -> DataFrame:
    """Days with a scheduled event: its date, venue (rounded location) and attendance."""
    return calendar.where(F.coalesce(F.col("event_attendance"), F.lit(0)) > 0).select(
        F.col("date").alias("event_date"),
        F.format_string("%.3f,%.3f", F.col("event_lat"), F.col("event_lon")).alias("venue"),
        F.col("event_attendance").cast("double").alias("past_attendance"),
    )


def _event_memory(history: DataFrame, calendar: DataFrame) -> DataFrame:
    """Per origin, cell, hour of day and venue: the extra orders per attendee seen there on the
    event days at that venue before the origin (orders above the cell's mean at that hour)."""
    usual = history.groupBy("origin", "h3_cell", "hour_of_day").agg(F.avg("orders").alias("_usual"))
    on_event_days = history.join(_venues(calendar), history["local_date"] == F.col("event_date"))
    return (
        on_event_days.join(usual, ["origin", "h3_cell", "hour_of_day"])
        .groupBy("origin", "h3_cell", "hour_of_day", "venue")
        .agg(F.avg((F.col("orders") - F.col("_usual")) / F.col("past_attendance")).alias("excess_per_attendee"))
    )


def with_label(features: DataFrame, demand: DataFrame) -> DataFrame:
    """The actual orders of each target hour (null for an hour not in the data yet)."""
    return features.join(demand.select("h3_cell", "hour_start", F.col("orders").alias("actual")), ["h3_cell", "hour_start"], "left")


def cell_frame(spark, grid: DataFrame | None, cells: list[str], resolution: int) -> tuple[DataFrame, DataFrame]:
    """(cells with population and centre, neighbours within one ring) for the cells forecast."""
    import h3

    population = {}
    if grid is not None:
        rows = grid.groupBy(F.col(f"h3_r{resolution}").alias("h3_cell")).agg(F.sum("population").alias("population")).collect()
        population = {r["h3_cell"]: r["population"] for r in rows}
    centres = [h3.cell_to_latlng(c) for c in cells]
    cell_pd = pd.DataFrame(
        {
            "h3_cell": cells,
            "population": [float(population.get(c) or 0) for c in cells],
            "lat": [p[0] for p in centres],
            "lon": [p[1] for p in centres],
        }
    )
    known = set(cells)
    pairs = [(c, n) for c in cells for n in h3.grid_disk(c, 1) if n != c and n in known]
    ring = pd.DataFrame(pairs or [("", "")], columns=["h3_cell", "neighbour"])
    return (
        spark.createDataFrame(cell_pd, "h3_cell string, population double, lat double, lon double"),
        spark.createDataFrame(ring, "h3_cell string, neighbour string"),
    )
