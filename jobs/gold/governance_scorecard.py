"""gold.governance_scorecard: the 数字城管 indicators per street and month, plus the whole city.

``governance_scorecard`` is the pure transformation (silver.urban_case, silver.complaint
and silver.grid in, the table out); ``run`` reads silver, builds only the periods silver's
changes since the last build can affect (jobs/gold/performance_periods.py: the rule it shares
with gold.hotline_performance) or the whole table, and says what it could not compute.
Definitions live in citybrain.schemas.gold.governance_scorecard.

Overdue is judged here as of each period's end from the timestamps (deadline, last 处置,
结案), not from silver.urban_case.is_overdue, which compares the deadline with the case's
last event and so never flags a case dispatched and never handled.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import incremental
from citybrain.jobs.gold.common import GoldReport, entity_timezone
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
    rate,
    scope_coverage,
    street_names,
    unit_names,
)
from citybrain.jobs.gold.performance_periods import CASES, Periods, build, can_count_from, facts
from citybrain.schemas import get_contract
from citybrain.schemas.gold.governance_scorecard import (
    GOLD_GOVERNANCE_SCORECARD,
    UNSUPPORTED_SEED_INDICATORS,
    GovernanceScorecardParams,
)
from citybrain.settings import Settings

TABLE = GOLD_GOVERNANCE_SCORECARD.name
CASE_ENTITY = "urban_case_event"  # the silver entity whose source mapping gives the cases' time zone
#: the build rules, in the fingerprint: a change here (or in what the job writes) rebuilds whole
RULES = (
    "periods ending after min C + lo (C: silver.urban_case's and silver.complaint's changed days) and the day after the old"
    " and new last case day; whole on the cases' first day, their time zone, silver.complaint gained or lost or silver.grid changed"
)

RATES = {
    "citizen_report_share": ("citizen_reported", "reported"),
    "filing_rate": ("filed", "reported"),
    "closure_rate": ("closed_by_period_end", "due"),
    "on_time_closure_rate": ("handled_on_time", "due"),
    "rework_rate": ("reworked", "due"),
    "postponement_rate": ("postponed", "due"),
    "urgent_on_time_rate": ("urgent_handled_on_time", "urgent_due"),
    "hotline_conversion_rate": ("cases_from_12345", "hotline_urban_tickets"),
}

# The columns a case row and a hotline-ticket row share once they are stacked for one aggregation.
_CASE_COLUMNS = (
    "street_code",
    "source",
    "is_citizen_report",
    "is_urgent",
    "filed_at",
    "closed_at",
    "deadline",
    "rework_count",
    "postponed",
    "voided",
    "minutes_to_dispatch",
    "minutes_to_close",
    "handled_by",
)


def _handled_by() -> Column:
    """When the case was handled: its last 处置, or its 结案 when no 处置 was recorded."""
    return F.coalesce(F.col("handled_at"), F.col("closed_at"))


def _measures(params: GovernanceScorecardParams) -> dict[str, Column]:
    """Each column of the table as an aggregate over the (kind, period, unit) rows."""
    kind = F.col("kind")
    reported = kind == "reported"
    due = (kind == "due") & (F.col("deadline") < F.col("as_of"))
    on_time = F.col("handled_by") <= F.col("deadline")
    return {
        "reported": count_where(reported),
        "citizen_reported": count_where(reported & F.col("is_citizen_report")),
        "filed": count_where(reported & F.col("filed_at").isNotNull() & ~F.col("voided")),
        "due": count_where(due),
        "closed_by_period_end": count_where(due & (F.col("closed_at") < F.col("as_of"))),
        "handled_on_time": count_where(due & on_time),
        "reworked": count_where(due & (F.col("rework_count") > 0)),
        "postponed": count_where(due & F.col("postponed")),
        "urgent_due": count_where(due & F.col("is_urgent")),
        "urgent_handled_on_time": count_where(due & F.col("is_urgent") & on_time),
        "overdue_open_at_period_end": count_where(kind == "overdue_open"),
        "dispatched": count_where(kind == "dispatched"),
        "median_minutes_to_dispatch": F.median(F.when(kind == "dispatched", F.col("minutes_to_dispatch"))),
        "closed": count_where(kind == "closed"),
        "median_minutes_to_close": F.median(F.when(kind == "closed", F.col("minutes_to_close"))),
        "hotline_urban_tickets": count_where(kind == "hotline_ticket"),
        "cases_from_12345": count_where(reported & (F.col("source") == params.transfer_source)),
    }


def hotline_urban_tickets(complaints: DataFrame, params: GovernanceScorecardParams) -> DataFrame:
    """The city's hotline tickets the centre could hand to 数字城管: its sources, the urban category, located on a street."""
    return complaints.where(
        F.col("source_system").isin(*params.hotline_sources)
        & (F.col("category_l1") == params.hotline_category_l1)
        & F.col("street_code").isNotNull()
    )


def governance_scorecard(
    cases: DataFrame,
    complaints: DataFrame | None,
    grid: DataFrame | None,
    zone: str,
    params: GovernanceScorecardParams | None = None,
    *,
    only: Periods | None = None,
    coverage: DataFrame | None = None,
) -> DataFrame:
    """silver.urban_case (+ silver.complaint for the 12345 conversion, silver.grid for names) -> scorecard rows.

    ``zone`` is the urban-management system's time zone (periods and period ends are local).
    With ``only`` (jobs/gold/performance_periods.py), the rows of the periods it names, from the
    cases and tickets that can count in them. ``coverage`` is ``coverage_of``'s rows when the caller
    has them already (as data: the table then takes one pass fewer over silver).
    """
    params = params or GovernanceScorecardParams()
    periods = judged_periods(coverage_of(cases, zone) if coverage is None else coverage, params.period_types)
    if only is not None:
        periods = periods.where(F.col("period_end") > F.lit(only.after))
        cases = cases.where(can_count_from(only.first_day, CASES))
        complaints = complaints.where(F.col("dt") >= F.lit(only.first_day)) if complaints is not None else None
    case_rows = cases.select(
        *(c for c in _CASE_COLUMNS if c != "handled_by"), _handled_by().alias("handled_by"), "dispatched_at", "dt", "updated_at"
    ).withColumns({SCOPE: F.lit(CITY_UNIT_CODE), "tz": F.lit(zone)})
    tz = F.col("tz")
    rows = dated_rows(
        case_rows,
        {
            "reported": F.col("dt"),
            "due": F.when(~F.col("voided"), local_date(F.col("deadline"), tz)),
            "dispatched": local_date(F.col("dispatched_at"), tz),
            "closed": local_date(F.col("closed_at"), tz),
        },
    ).drop("dispatched_at", "updated_at")
    live = case_rows.where(~F.col("voided")).drop("dispatched_at", "updated_at")
    backlog = open_past_deadline(live, periods, "deadline", F.col("handled_by"), "overdue_open")
    stacked = rows
    if complaints is not None:
        tickets = hotline_urban_tickets(complaints, params).select(
            "street_code", "dt", F.lit(CITY_UNIT_CODE).alias(SCOPE), F.lit(zone).alias("tz")
        )
        stacked = stacked.unionByName(dated_rows(tickets, {"hotline_ticket": F.col("dt")}), allowMissingColumns=True)
    events = in_periods(stacked, periods, params.period_types)
    units = per_unit(
        events.unionByName(backlog.select(*events.columns)), {"street": F.col("street_code"), CITY_UNIT_CODE: F.lit(CITY_UNIT_CODE)}
    )
    out = units.groupBy(*PERIOD_COLUMNS, *UNIT_KEYS).agg(*(m.alias(n) for n, m in _measures(params).items()))
    if complaints is None:
        out = out.withColumn("hotline_urban_tickets", F.lit(None).cast("bigint"))
    for name, (numerator, denominator) in RATES.items():
        out = out.withColumn(name, rate(numerator, denominator))
    return unit_names(out, street_names(grid)).select(*GOLD_GOVERNANCE_SCORECARD.column_names)


def coverage_of(cases: DataFrame, zone: str) -> DataFrame:
    """The cases' first local day and last reported day: the span the periods are judged over."""
    return scope_coverage(cases.withColumns({SCOPE: F.lit(CITY_UNIT_CODE), "tz": F.lit(zone)}), "dt", "updated_at")


def run(spark, settings: Settings, params: GovernanceScorecardParams | None = None, *, full: bool = False) -> GoldReport:
    """Build gold.governance_scorecard from silver.urban_case (+ silver.complaint, silver.grid when they
    exist): only the periods that silver's changes since the last build can affect, or the whole table
    (first build, ``full``, any doubt: see jobs/gold/performance_periods.py)."""
    params = params or GovernanceScorecardParams()
    report = GoldReport(TABLE)
    has_cases = lake.exists(settings, "silver.urban_case")
    if has_cases:
        cases = lake.read(spark, settings, "silver.urban_case")
    else:  # a lake with a hotline and no urban-management system (Boston 311): an empty scorecard, said so
        cases = spark.createDataFrame([], get_contract("silver.urban_case").ddl().replace(" NOT NULL", ""))
        report.not_computed.append("every case indicator: silver.urban_case does not exist (no urban-management cases)")
    complaints = lake.read(spark, settings, "silver.complaint") if lake.exists(settings, "silver.complaint") else None
    grid = lake.read(spark, settings, "silver.grid") if lake.exists(settings, "silver.grid") else None
    if complaints is None:
        report.not_computed.append("hotline_urban_tickets, hotline_conversion_rate: silver.complaint does not exist")
    else:
        present = {r.source_system for r in complaints.select("source_system").distinct().collect()}
        if not present & set(params.hotline_sources):
            report.not_computed.append(
                f"hotline_urban_tickets, hotline_conversion_rate: no tickets of {', '.join(params.hotline_sources)} in silver.complaint"
                f" (it holds {', '.join(sorted(present)) or 'none'})"
            )
    if grid is None:
        report.not_computed.append("street names: silver.grid does not exist")
    unsupported = [third for _, _, third, _ in UNSUPPORTED_SEED_INDICATORS]
    report.not_computed.append(
        f"{len(unsupported)} of the seed's 24 智慧城管 third-level indicators, for want of data in any feed"
        f" (why for each: jobs/gold/README.md): {', '.join(unsupported)}"
    )
    zone = entity_timezone(CASE_ENTITY)

    covered = computed_once(coverage_of(cases, zone))  # one pass over silver, then data the table's plan reuses

    def periods_table(periods: Periods | None) -> DataFrame:
        return governance_scorecard(cases, complaints, grid, zone, params, only=periods, coverage=covered)

    inputs = ("silver.urban_case", *(("silver.complaint",) if complaints is not None else ()))
    fingerprint = incremental.fingerprint(TABLE, params, RULES)
    if has_cases:
        plan = incremental.plan(settings, TABLE, inputs, fingerprint, full=full)
    else:  # nothing to watch: the empty table is rebuilt (its changes cannot be named by day)
        plan = incremental.Plan(True, "silver.urban_case does not exist")
    coverage = [r.asDict() for r in covered.collect()]
    state = facts(settings, coverage, zone=zone, hotline=complaints is not None)
    rows, report.details = build(spark, settings, TABLE, plan, fingerprint, state, cases, CASES, periods_table)
    return report.finish(rows)
