"""gold.hotline_performance: 接诉即办 rates per street, handling unit and city, per ISO week and month.

``hotline_performance`` is the pure transformation (silver.complaint and silver.grid in, the
table out); ``run`` reads silver, builds only the periods silver's changes since the last build
can affect (jobs/gold/performance_periods.py) or the whole table, and says what it could not
compute. Definitions and thresholds live in citybrain.schemas.gold.hotline_performance.

A hotline that lacks some data (Boston 311 has no dispatch, acceptance or callback times,
no direct answers and no street codes) still gets its table: those counts and rates are
null, not 0, and the report names them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import reduce
from operator import and_

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold.common import GoldReport, local_timezone_column
from citybrain.jobs.gold.indicators import (
    CITY_UNIT_CODE,
    PERIOD_COLUMNS,
    SCOPE,
    UNIT_KEYS,
    computed_once,
    count_where,
    dated_rows,
    in_periods,
    judged_periods,
    local_date,
    open_past_deadline,
    per_unit,
    ranked,
    rate,
    scope_coverage,
    street_names,
    unit_names,
    weighted_score,
)
from citybrain.jobs.gold.performance_periods import TICKETS, Periods, build, can_count_from, facts
from citybrain.schemas.gold.hotline_performance import CALLBACK_CODES, GOLD_HOTLINE_PERFORMANCE, HotlinePerformanceParams
from citybrain.settings import Settings

TABLE = GOLD_HOTLINE_PERFORMANCE.name
INPUTS = ("silver.complaint",)
#: the build rules, in the fingerprint: a change here (or in what the job writes) rebuilds whole
RULES = (
    "periods ending after min C + lo and the day after the old and new last day; previous_rank of a kept period from the table;"
    " whole on a hotline's first day, a hotline gained or lost, a capability or silver.grid changed"
)


@dataclass(frozen=True)
class Capability:
    """Data a hotline may lack; without it the listed counts (and the rates over them) are null."""

    name: str
    present: Column  # an aggregate over the source's tickets: true when it has the data
    columns: tuple[str, ...]
    missing: str  # why, as the report says it


def _any(column: Column) -> Column:
    return F.count(column) > 0


CAPABILITIES = (
    Capability(
        "direct_answer",
        _any(F.col("is_direct_answer")),
        ("direct_answered", "direct_answer_rate"),
        "no record of which tickets the centre answered directly",
    ),
    Capability(
        "dispatch",
        _any(F.col("dispatched_at")),
        ("dispatched", "accepted_in_time", "timely_acceptance_rate"),
        "no dispatch times (派单时间)",
    ),
    Capability(
        "acceptance",
        _any(F.col("accepted_at")),
        ("accepted_in_time", "timely_acceptance_rate"),
        "no acceptance times (签收时间)",
    ),
    Capability(
        "deadline",
        _any(F.col("due_at")),
        ("due", "resolved_by_period_end", "resolved_on_time", "on_time_completion_rate", "completion_rate", "open_past_deadline"),
        "no deadlines (办结时限)",
    ),
    Capability(
        "resolution",
        _any(F.col("resolved_at")),
        (
            "resolved_by_period_end",
            "resolved_on_time",
            "on_time_completion_rate",
            "completion_rate",
            "resolved",
            "resolved_with_callback",
            "effective_callback_rate",
            "open_past_deadline",
        ),
        "no resolution times (办结时间)",
    ),
    Capability(
        "callback",
        _any(F.when(F.col("satisfaction").isin(*CALLBACK_CODES), F.col("visited_at"))),
        ("resolved_with_callback", "effective_callback_rate", "visited", "satisfied", "satisfaction_rate"),
        "no callbacks with a satisfaction (回访)",
    ),
    Capability(
        "street", _any(F.col("street_code")), ("street rows and their ranks",), "no street codes (no grid registry to place tickets on)"
    ),
    Capability("handling_unit", _any(F.col("handling_unit")), ("handling_unit rows and their ranks",), "no handling unit"),
)


HAS = tuple(f"has_{c.name}" for c in CAPABILITIES)
COVERAGE = (SCOPE, "tz", "first_day", "last_day")


def hotline_summary(complaints: DataFrame) -> DataFrame:
    """One row per hotline (``_scope``), from one pass over its tickets: its coverage (``scope_coverage``:
    zone, first and last day) and a boolean ``has_<capability>`` per kind of data it may lack."""
    present = (c.present.alias(name) for c, name in zip(CAPABILITIES, HAS, strict=True))
    return scope_coverage(tickets_in_scope(complaints), "dt", "updated_at", *present)


def capability_rows(summary: list[dict]) -> list[dict]:
    """The capabilities of each hotline as {source_system, has_<capability>...} (``hotline_summary`` rows)."""
    return [{"source_system": row[SCOPE], **{name: row[name] for name in HAS}} for row in summary]


def _counts(params: HotlinePerformanceParams) -> dict[str, Column]:
    """Each count of the table as a conditional count over the (kind, period, unit) rows."""
    kind = F.col("kind")
    due = (kind == "due") & (F.col("due_at") < F.col("as_of"))
    limit_micros = int(params.acceptance_limit_hours * 3600 * 1_000_000)
    in_time = F.unix_micros(F.col("accepted_at")) - F.unix_micros(F.col("dispatched_at")) <= F.lit(limit_micros)
    called_back = F.col("satisfaction").isin(*CALLBACK_CODES)
    return {
        "received": count_where(kind == "received"),
        "direct_answered": count_where((kind == "received") & F.col("is_direct_answer")),
        "dispatched": count_where(kind == "dispatched"),
        "accepted_in_time": count_where((kind == "dispatched") & in_time),
        "due": count_where(due),
        "resolved_by_period_end": count_where(due & (F.col("resolved_at") < F.col("as_of"))),
        "resolved_on_time": count_where(due & (F.col("resolved_at") <= F.col("due_at"))),
        "resolved": count_where(kind == "resolved"),
        "resolved_with_callback": count_where((kind == "resolved") & called_back),
        "visited": count_where(kind == "visited"),
        "satisfied": count_where((kind == "visited") & F.col("satisfaction").isin(*params.satisfied_codes)),
        "open_past_deadline": count_where(kind == "open_past_deadline"),
    }


# What the table needs of silver.complaint (the rest is not carried through the explodes).
_TICKET_COLUMNS = (
    "source_system",
    "dt",
    "updated_at",
    "street_code",
    "handling_unit",
    "is_direct_answer",
    "dispatched_at",
    "accepted_at",
    "due_at",
    "resolved_at",
    "visited_at",
    "satisfaction",
)

RATES = {
    "direct_answer_rate": ("direct_answered", "received"),
    "timely_acceptance_rate": ("accepted_in_time", "dispatched"),
    "on_time_completion_rate": ("resolved_on_time", "due"),
    "completion_rate": ("resolved_by_period_end", "due"),
    "effective_callback_rate": ("resolved_with_callback", "resolved"),
    "satisfaction_rate": ("satisfied", "visited"),
}


def _null_without_data(counts: DataFrame) -> DataFrame:
    """Counts a hotline has no data for are null, not 0 (needs the has_<capability> columns)."""
    for name in counts.columns:
        needs = [F.col(f"has_{c.name}") for c in CAPABILITIES if name in c.columns]
        if needs:
            counts = counts.withColumn(name, F.when(reduce(and_, needs), F.col(name)))
    return counts


def tickets_in_scope(complaints: DataFrame) -> DataFrame:
    """The columns the table needs of silver.complaint, with the hotline as scope and its zone."""
    return complaints.select(*_TICKET_COLUMNS).withColumns({SCOPE: F.col("source_system"), "tz": local_timezone_column("source_system")})


def hotline_performance(
    complaints: DataFrame,
    grid: DataFrame | None = None,
    params: HotlinePerformanceParams | None = None,
    *,
    only: Periods | None = None,
    kept: DataFrame | None = None,
    summary: DataFrame | None = None,
) -> DataFrame:
    """silver.complaint (+ silver.grid for street names) -> gold.hotline_performance rows.

    With ``only`` (jobs/gold/performance_periods.py), the rows of the periods it names, from the
    tickets that can count in them; the previous_rank of a period whose previous period is not
    among them comes from ``kept``, the table as it is. ``summary`` is ``hotline_summary``'s rows
    when the caller has them already (as data: the table then takes one pass fewer over silver).
    """
    params = params or HotlinePerformanceParams()
    tickets = tickets_in_scope(complaints)
    summary = hotline_summary(complaints) if summary is None else summary
    periods = judged_periods(summary.select(*COVERAGE), params.period_types)
    if only is not None:
        periods = periods.where(F.col("period_end") > F.lit(only.after))
        tickets = tickets.where(can_count_from(only.first_day, TICKETS))
    zone = F.col("tz")
    rows = dated_rows(
        tickets,
        {
            "received": F.col("dt"),
            "dispatched": local_date(F.col("dispatched_at"), zone),
            "due": local_date(F.col("due_at"), zone),
            "resolved": local_date(F.col("resolved_at"), zone),
            "visited": F.when(F.col("satisfaction").isin(*CALLBACK_CODES), local_date(F.col("visited_at"), zone)),
        },
    )
    backlog = open_past_deadline(tickets, periods, "due_at", F.col("resolved_at"), "open_past_deadline")
    events = in_periods(rows, periods, params.period_types)
    # Every count is a count of rows, so it is counted once per street and handling unit pair, then
    # summed into streets, handling units and the city: the copies per unit are made of the small
    # counted table, not of every ticket's rows.
    measures = _counts(params)
    pairs = (
        events.unionByName(backlog.select(*events.columns))
        .groupBy(SCOPE, *PERIOD_COLUMNS, "street_code", "handling_unit")
        .agg(*(c.alias(n) for n, c in measures.items()))
    )
    units = per_unit(
        pairs, {"street": F.col("street_code"), "handling_unit": F.col("handling_unit"), CITY_UNIT_CODE: F.lit(CITY_UNIT_CODE)}
    )
    counts = units.groupBy(SCOPE, *PERIOD_COLUMNS, *UNIT_KEYS).agg(*(F.sum(n).cast("bigint").alias(n) for n in measures))

    counts = _null_without_data(counts.join(summary.select(SCOPE, *HAS), SCOPE))
    # Whether the centre answered a ticket itself says nothing about the unit it was handed to.
    counts = counts.withColumn("direct_answered", F.when(F.col("unit_type") != "handling_unit", F.col("direct_answered")))
    for name, (numerator, denominator) in RATES.items():
        counts = counts.withColumn(name, rate(numerator, denominator))
    scored = counts.withColumn("composite_score", weighted_score(params.score_weights))
    out = ranked(scored, "composite_score", (SCOPE,))
    if only is not None:
        out = _previous_rank_from_kept(out, kept, only.after)
    out = unit_names(out, street_names(grid), text_units=("handling_unit",))
    return out.withColumn("source_system", F.col(SCOPE)).select(*GOLD_HOTLINE_PERFORMANCE.column_names)


def _previous_rank_from_kept(rows: DataFrame, kept: DataFrame, after) -> DataFrame:
    """previous_rank and rank_change of the periods that start on or before ``after``: the period
    before each ends on or before it, so it was not computed again and its rank is in ``kept``."""
    previous = kept.where(F.col("period_end") <= F.lit(after)).select(
        *(F.col(c).alias(f"_kept_{c}") for c in ("source_system", "period_type", "unit_type", "unit_code", "period_end", "rank"))
    )
    same_unit = (
        (F.col(SCOPE) == F.col("_kept_source_system"))
        & (F.col("period_type") == F.col("_kept_period_type"))
        & (F.col("unit_type") == F.col("_kept_unit_type"))
        & (F.col("unit_code") == F.col("_kept_unit_code"))
        & (F.col("period_start") == F.col("_kept_period_end"))
    )
    joined = rows.join(previous, same_unit, "left")
    previous_rank = F.when(F.col("period_start") <= F.lit(after), F.col("_kept_rank")).otherwise(F.col("previous_rank")).cast("int")
    return (
        joined.withColumn("previous_rank", previous_rank)
        .withColumn("rank_change", (F.col("previous_rank") - F.col("rank")).cast("int"))
        .drop(*previous.columns)
    )


def not_computed(capabilities: list[dict]) -> list[str]:
    """What the table cannot hold for which source, and why (from ``capability_rows``)."""
    notes = []
    for row in sorted(capabilities, key=lambda r: r["source_system"]):
        for c in CAPABILITIES:
            if not row[f"has_{c.name}"]:
                notes.append(f"{row['source_system']}: {', '.join(c.columns)} not computed: {c.missing}")
    return notes


def run(spark, settings: Settings, params: HotlinePerformanceParams | None = None, *, full: bool = False) -> GoldReport:
    """Build gold.hotline_performance from silver.complaint (and silver.grid when it exists): only the
    periods that silver's changes since the last build can affect, or the whole table (first build,
    ``full``, any doubt: see jobs/gold/performance_periods.py)."""
    params = params or HotlinePerformanceParams()
    report = GoldReport(TABLE)
    fingerprint = incremental.fingerprint(TABLE, params, RULES)
    plan = incremental.plan(settings, TABLE, INPUTS, fingerprint, full=full)
    complaints = lake.read(spark, settings, "silver.complaint")
    grid = lake.read(spark, settings, "silver.grid") if lake.exists(settings, "silver.grid") else None
    if grid is None:
        report.not_computed.append("street names: silver.grid does not exist")
    summary = computed_once(hotline_summary(complaints))  # one pass over silver, then data the table's plan reuses
    hotlines = [r.asDict() for r in summary.collect()]
    capabilities = capability_rows(hotlines)
    report.not_computed.extend(not_computed(capabilities))
    coverage = [{name: row[name] for name in COVERAGE} for row in hotlines]
    state = facts(settings, coverage, capabilities=sorted(json.dumps(row, sort_keys=True) for row in capabilities))

    def periods_table(periods: Periods | None) -> DataFrame:
        if periods is None:
            return hotline_performance(complaints, grid, params, summary=summary)
        return hotline_performance(complaints, grid, params, only=periods, kept=lake.read(spark, settings, TABLE), summary=summary)

    rows, report.details = build(spark, settings, TABLE, plan, fingerprint, state, complaints, TICKETS, periods_table)
    return report.finish(rows)
