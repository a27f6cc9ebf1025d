"""Helpers the performance tables share (gold.hotline_performance, gold.governance_scorecard).

Both tables count records by the date of one event each (received, dispatched, due...),
judge stocks ("open past the deadline") as of each period's end, and report per unit
(street, handling unit, city). The shape is the same: explode each record into
(kind, local day) rows, attach the periods those days fall in, explode per unit, then
one aggregation with a conditional count per measure. A record set is scoped by a
``_scope`` column (the hotline's source_system), so two sources never mix.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from citybrain.jobs.gold.common import local_midnight_utc, with_periods

SCOPE = "_scope"
PERIOD_KEYS = ("period_type", "period", "period_start", "period_end")
PERIOD_COLUMNS = (*PERIOD_KEYS, "as_of", "period_complete")
UNIT_KEYS = ("unit_type", "unit_code")
CITY_UNIT_CODE = "city"  # unit_code (and unit_type) of the whole-city row
CITY_UNIT_NAME = "全市"


def rate(numerator: str, denominator: str) -> Column:
    """numerator ÷ denominator as a double; null (not 0) when the denominator is 0 or null."""
    return F.when(F.col(denominator) > 0, F.col(numerator).cast("double") / F.col(denominator))


def count_where(condition: Column) -> Column:
    """How many rows of the group meet ``condition`` (a null condition does not count)."""
    return F.sum(F.when(condition, F.lit(1)).otherwise(F.lit(0))).cast("bigint")


def local_date(instant: Column, zone: Column) -> Column:
    """The local calendar date of a UTC instant in ``zone`` (a column of IANA names)."""
    return F.to_date(F.from_utc_timestamp(instant, zone))


def dated_rows(df: DataFrame, kinds: dict[str, Column]) -> DataFrame:
    """One row per record and kind whose date is known: the record's columns plus ``kind`` and ``day``."""
    pairs = [F.struct(F.lit(kind).alias("kind"), day.cast("date").alias("day")) for kind, day in kinds.items()]
    return (
        df.withColumn("_dated", F.explode(F.array(*pairs))).select("*", "_dated.kind", "_dated.day").drop("_dated").where("day IS NOT NULL")
    )


def scope_coverage(df: DataFrame, first_day: str, last_instant: str, *also: Column) -> DataFrame:
    """Per scope: its zone, its first local day and the last local day it reported anything on
    (and the aggregates ``also``, computed in the same pass)."""
    return (
        df.groupBy(SCOPE, "tz")
        .agg(F.min(first_day).alias("first_day"), F.max(last_instant).alias("_last_instant"), *also)
        .withColumn("last_day", local_date(F.col("_last_instant"), F.col("tz")))
        .drop("_last_instant")
    )


def judged_periods(coverage: DataFrame, period_types: tuple[str, ...]) -> DataFrame:
    """Every period from each scope's first to its last reported day, with the instant it is judged at.

    A period is judged as of local midnight after its last day, or at the end of the
    scope's last reported day when that comes first; it is complete when the data covers
    all of it. A period with no event still has rows when something is open past its
    deadline at its end.
    """
    days = coverage.select(SCOPE, F.explode(F.sequence(F.col("first_day"), F.col("last_day"))).alias("day"))
    periods = with_periods(days, "day", period_types).select(SCOPE, *PERIOD_KEYS).distinct()
    data_end_day = F.date_add(F.col("last_day"), 1)
    judged = periods.join(coverage, SCOPE).select(
        SCOPE,
        "tz",
        *PERIOD_KEYS,
        F.least(local_midnight_utc(F.col("period_end"), F.col("tz")), local_midnight_utc(data_end_day, F.col("tz"))).alias("as_of"),
        ((F.col("first_day") <= F.col("period_start")) & (F.col("period_end") <= data_end_day)).alias("period_complete"),
    )
    return computed_once(judged)


def computed_once(small: DataFrame) -> DataFrame:
    """A small frame (a few hundred rows at most, such as the periods) computed now and handed back
    to the engine as data, so that the plans joining it twice do not compute it twice. Instants
    travel as epoch microseconds, so no client time zone touches them."""
    schema = small.schema
    stamps = [f.name for f in schema.fields if f.dataType.simpleString() == "timestamp"]
    if not stamps:
        return small.sparkSession.createDataFrame(small.collect(), schema)
    plain = StructType([StructField(f.name, LongType(), f.nullable) if f.name in stamps else f for f in schema.fields])
    rows = small.withColumns({c: F.unix_micros(F.col(c)) for c in stamps}).collect()
    back = small.sparkSession.createDataFrame(rows, plain)
    return back.withColumns({c: F.timestamp_micros(F.col(c)) for c in stamps})


def in_periods(rows: DataFrame, periods: DataFrame, period_types: tuple[str, ...]) -> DataFrame:
    """Dated rows with the periods their day falls in; rows dated outside the data's span are dropped."""
    return with_periods(rows, "day", period_types).join(periods.drop("tz"), [SCOPE, *PERIOD_KEYS])


def open_past_deadline(records: DataFrame, periods: DataFrame, deadline: str, cleared: Column, kind: str) -> DataFrame:
    """Rows (kind ``kind``) for every record open past its deadline as of each period's as_of.

    Open past the deadline as of T: deadline < T and the record was not cleared (resolved,
    handled) before T. A record late by months appears in every period in between.
    """
    late = records.withColumn("_cleared", cleared).where(
        F.col(deadline).isNotNull() & (F.col("_cleared").isNull() | (F.col("_cleared") > F.col(deadline)))
    )
    p = periods.drop("tz").withColumnRenamed(SCOPE, "_p_scope")
    joined = late.join(
        p,
        (F.col(SCOPE) == F.col("_p_scope"))
        & (F.col(deadline) < F.col("as_of"))
        & (F.col("_cleared").isNull() | (F.col("_cleared") >= F.col("as_of"))),
    )
    return joined.drop("_p_scope", "_cleared").withColumn("kind", F.lit(kind)).withColumn("day", F.lit(None).cast("date"))


def per_unit(rows: DataFrame, units: dict[str, Column]) -> DataFrame:
    """One copy of each row per unit it belongs to (unit_type, unit_code); a null code means no such unit."""
    pairs = [F.struct(F.lit(unit_type).alias("unit_type"), code.cast("string").alias("unit_code")) for unit_type, code in units.items()]
    return (
        rows.withColumn("_unit", F.explode(F.array(*pairs)))
        .select("*", "_unit.unit_type", "_unit.unit_code")
        .drop("_unit")
        .where("unit_code IS NOT NULL")
    )


def street_names(grid: DataFrame | None) -> DataFrame | None:
    """street_code -> street_name from silver.grid (None without a grid)."""
    if grid is None:
        return None
    return grid.where("street_code IS NOT NULL").groupBy("street_code").agg(F.min("street_name").alias("street_name"))


def unit_names(df: DataFrame, streets: DataFrame | None, *, text_units: tuple[str, ...] = ()) -> DataFrame:
    """Add unit_name: the grid's street name, the code itself for text units, 全市 for the city."""
    name = F.when(F.col("unit_type") == CITY_UNIT_CODE, F.lit(CITY_UNIT_NAME))
    for unit_type in text_units:
        name = name.when(F.col("unit_type") == unit_type, F.col("unit_code"))
    if streets is None:
        return df.withColumn("unit_name", name.otherwise(F.lit(None).cast("string")))
    s = streets.select(F.col("street_code").alias("_street"), F.col("street_name").alias("_street_name"))
    joined = df.join(s, (F.col("unit_type") == "street") & (F.col("unit_code") == F.col("_street")), "left")
    return joined.withColumn("unit_name", name.otherwise(F.col("_street_name"))).drop("_street", "_street_name")


def weighted_score(weights: tuple[tuple[str, float], ...]) -> Column:
    """100 × the weighted mean of the non-null rates; the weights of null rates are left out."""
    total = sum((F.when(F.col(c).isNotNull(), F.col(c) * F.lit(w)).otherwise(F.lit(0.0)) for c, w in weights), F.lit(0.0))
    weight = sum((F.when(F.col(c).isNotNull(), F.lit(w)).otherwise(F.lit(0.0)) for c, w in weights), F.lit(0.0))
    return F.when(weight > 0, F.lit(100.0) * total / weight)


def ranked(df: DataFrame, score: str, partition: tuple[str, ...], unranked_type: str = CITY_UNIT_CODE) -> DataFrame:
    """Rank ``score`` (1 = best, ties share a rank) within each partition, plus the previous period's rank.

    The previous period is the one immediately before (the week or month before), not the
    last one the unit appeared in; rank_change = previous_rank - rank (positive = better).
    """
    by_group = Window.partitionBy(*partition, "period_type", "period", "unit_type")
    rankable = (F.col("unit_type") != unranked_type) & F.col(score).isNotNull()
    out = df.withColumn("rank", F.when(rankable, F.rank().over(by_group.orderBy(F.col(score).desc_nulls_last()))).cast("int")).withColumn(
        "units_ranked", F.when(F.col("unit_type") != unranked_type, F.count(score).over(by_group)).cast("int")
    )
    # the unit's row just before in time: its rank counts only when that row is the period immediately before
    # (a window, not a self-join: a self-join would compute the whole table twice)
    by_unit = Window.partitionBy(*partition, "period_type", "unit_type", "unit_code").orderBy("period_start")
    previous_start = F.when(F.col("period_type") == "week", F.date_sub(F.col("period_start"), 7)).otherwise(
        F.add_months(F.col("period_start"), -1)
    )
    out = out.withColumns({"_prior_start": F.lag("period_start").over(by_unit), "_prior_rank": F.lag("rank").over(by_unit)})
    previous_rank = F.when(F.col("_prior_start") == previous_start, F.col("_prior_rank")).cast("int")
    return (
        out.withColumn("previous_rank", previous_rank)
        .withColumn("rank_change", (F.col("previous_rank") - F.col("rank")).cast("int"))
        .drop("_prior_start", "_prior_rank")
    )
