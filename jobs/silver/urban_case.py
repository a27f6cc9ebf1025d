"""silver.urban_case: one row per case, derived from all of its events in silver.urban_case_event.

A case's timeline (reported → verified → filed → dispatched → handled → checked → closed,
with rework and postponement) arrives as separate events over days, some late; after every
refine the cases touched by new events are rebuilt from all their events.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.silver.audit import days_sql
from citybrain.schemas import get_contract
from citybrain.settings import Settings

CITIZEN_SOURCES = ("公众举报(微信)", "12345转办")
LOCAL_TZ = "Asia/Shanghai"
_LOCATION = (
    "grid_code",
    "community_code",
    "street_code",
    "district_code",
    "h3_r7",
    "h3_r8",
    "h3_r9",
    "located_lon",
    "located_lat",
    "location_method",
    "location_issue",
)


def _first(code: str) -> F.Column:
    return F.min(F.when(F.col("event_code") == code, F.col("event_at")))


def _last(code: str) -> F.Column:
    return F.max(F.when(F.col("event_code") == code, F.col("event_at")))


#: decimals kept of a duration in minutes
MINUTES_DECIMALS = 9


def _minutes(start: str, end: str) -> F.Column:
    """Minutes from ``start`` to ``end``, rounded to ``MINUTES_DECIMALS``.

    The engine's division can differ in the last bit between two plans of the same rows
    (906.2666666666668 after a day-by-day refine, 906.2666666666667 after one refine of every
    day); rounded, a case derived in either way is the same row. n microseconds are n * 50/3
    units of 1e-9 minute, whose fraction is 0, 1/3 or 2/3: never near the half a rounding turns
    on, so a last-bit difference never changes the rounded value."""
    return F.round((F.unix_micros(F.col(end)) - F.unix_micros(F.col(start))) / F.lit(60_000_000.0), MINUTES_DECIMALS)


def _latest_known(column: str) -> F.Column:
    """The column's value on the latest event that has one."""
    return F.max_by(F.col(column), F.when(F.col(column).isNotNull(), F.col("event_at")))


def derive_cases(events: DataFrame) -> DataFrame:
    """Events (silver.urban_case_event rows) -> cases (silver.urban_case rows, without _refined_at)."""
    cases = events.groupBy("case_no").agg(
        F.coalesce(_first("reported"), F.min("event_at")).alias("reported_at"),
        _first("verified").alias("verified_at"),
        _first("filed").alias("filed_at"),
        _first("dispatched").alias("dispatched_at"),
        _last("handled").alias("handled_at"),
        _last("checked").alias("checked_at"),
        _last("closed").alias("closed_at"),
        F.max("deadline").alias("deadline"),
        F.sum(F.when(F.col("event_code") == "rework", 1).otherwise(0)).cast("int").alias("rework_count"),
        F.max(F.col("event_code") == "postponed").alias("postponed"),
        F.max(F.col("event_code") == "voided").alias("voided"),
        F.max("is_urgent").alias("is_urgent"),
        # who reported it is on the first event; the classification may be corrected later
        F.min_by(F.col("source"), F.when(F.col("source").isNotNull(), F.col("event_at"))).alias("source"),
        *(_latest_known(c).alias(c) for c in ("category", "major_type", "minor_type", "handler_unit")),
        *(F.min_by(F.col(c), F.col("event_at")).alias(c) for c in _LOCATION),
        F.count(F.lit(1)).cast("int").alias("events"),
        F.max("event_at").alias("updated_at"),
    )
    status = (
        F.when(F.col("voided"), "voided")
        .when(F.col("closed_at").isNotNull(), "closed")
        .when(F.col("handled_at").isNotNull(), "handled")
        .when(F.col("dispatched_at").isNotNull(), "dispatched")
        .when(F.col("filed_at").isNotNull(), "filed")
        .otherwise("reported")
    )
    # The deadline is the handling deadline (处置时限): a case is overdue when it was handled
    # after it, or, not handled yet, its latest event is already past it.
    overdue = F.when(F.col("deadline").isNotNull(), F.coalesce(F.col("handled_at"), F.col("updated_at")) > F.col("deadline"))
    return cases.select(
        "case_no",
        "source",
        F.col("source").isin(*CITIZEN_SOURCES).alias("is_citizen_report"),
        "category",
        "major_type",
        "minor_type",
        "handler_unit",
        "is_urgent",
        "reported_at",
        "verified_at",
        "filed_at",
        "dispatched_at",
        "handled_at",
        "checked_at",
        "closed_at",
        "deadline",
        "rework_count",
        F.coalesce("postponed", F.lit(False)).alias("postponed"),
        F.coalesce("voided", F.lit(False)).alias("voided"),
        overdue.alias("is_overdue"),
        status.alias("status"),
        _minutes("reported_at", "filed_at").alias("minutes_to_file"),
        _minutes("filed_at", "dispatched_at").alias("minutes_to_dispatch"),
        _minutes("dispatched_at", "handled_at").alias("minutes_to_handle"),
        _minutes("handled_at", "checked_at").alias("minutes_to_check"),
        _minutes("reported_at", "closed_at").alias("minutes_to_close"),
        "events",
        *_LOCATION,
        "updated_at",
        F.to_date(F.from_utc_timestamp(F.col("reported_at"), LOCAL_TZ)).alias("dt"),
    )


def run(spark, settings: Settings, touched_events: DataFrame) -> int:
    """Rebuild the cases of ``touched_events`` (a frame with case_no and dt) from all their events; returns how many.

    Both tables are partitioned by day: the events are read from the days that hold an event
    of a touched case, and the merge reads the days that hold a touched case now or will (a late
    earlier event moves a case to the day it was really reported) and replaces those cases' rows
    (deletion vectors: schemas.contract)."""
    keys = touched_events.select("case_no").distinct()
    event_days = lake.touched_days(spark, settings, "silver.urban_case_event", touched_events, ["case_no"])
    events = lake.read(spark, settings, "silver.urban_case_event")
    if event_days is not None:
        events = events.where(days_sql("dt", event_days))
    cases = derive_cases(events.join(keys, "case_no", "left_semi")).withColumn("_refined_at", F.current_timestamp())
    contract = get_contract("silver.urban_case")
    cases = cases.select(*contract.column_names)
    case_days = lake.touched_days(spark, settings, contract.name, cases, ["case_no"])
    lake.merge(spark, settings, contract.name, cases, target_where=days_sql("t.dt", case_days))
    return keys.count()
