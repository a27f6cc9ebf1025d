"""DuckDB references of the two performance tables: gold.hotline_performance and gold.governance_scorecard.

Both are plain SQL over the silver Delta tables, written from the definitions in
jobs/gold/README.md: every record is dated once per event (received, dispatched, due...)
in its source's local time, placed in the ISO weeks and months of its source's span,
counted per street, handling unit and city, and judged as of each period's end; the
backlog (open past the deadline) is a range join of the late records on the periods'
``as_of``. Only the parameters (thresholds, weights, codes, time zones) are read from the
product's contract modules; no Spark code is shared.
"""

from __future__ import annotations

from citybrain.jobs.gold.common import entity_timezone, source_timezones
from citybrain.jobs.gold.governance_scorecard import RATES as SCORECARD_RATES
from citybrain.jobs.gold.indicators import CITY_UNIT_CODE, CITY_UNIT_NAME
from citybrain.schemas.gold.governance_scorecard import GovernanceScorecardParams
from citybrain.schemas.gold.hotline_performance import CALLBACK_CODES, HotlinePerformanceParams
from citybrain.settings import Settings


def scan(settings: Settings, table: str) -> str:
    """``delta_scan(...)`` of a lake table, for a FROM clause."""
    from citybrain import lake

    return "delta_scan('{}')".format(lake.table_location(settings, table).replace("'", "''"))


def exists(settings: Settings, table: str) -> bool:
    from citybrain import lake

    return lake.exists(settings, table)


def sql_list(values) -> str:
    return ", ".join("'{}'".format(str(v).replace("'", "''")) for v in values)


def local_date(instant: str, zone: str = "tz") -> str:
    return f"CAST(timezone({zone}, {instant}) AS DATE)"


def _periods_sql(coverage: str, period_types: tuple[str, ...]) -> str:
    """Every ISO week / month between each scope's first and last day, with as_of and period_complete."""
    parts = []
    for period_type in period_types:
        if period_type == "week":
            start = "CAST(d.day - INTERVAL ((isodow(d.day) - 1)) DAY AS DATE)"
            label = "printf('%04d-W%02d', isoyear(d.day), week(d.day))"
            end = f"CAST({start} + INTERVAL 7 DAY AS DATE)"
        else:
            start = "CAST(date_trunc('month', d.day) AS DATE)"
            label = "strftime(d.day, '%Y-%m')"
            end = f"CAST({start} + INTERVAL 1 MONTH AS DATE)"
        parts.append(
            f"SELECT DISTINCT d._scope, '{period_type}' AS period_type, {label} AS period, {start} AS period_start, {end} AS period_end FROM days d"
        )
    union = " UNION ALL ".join(parts)
    return f"""
    days AS (SELECT _scope, CAST(unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS DATE) AS day FROM {coverage}),
    period_keys AS ({union}),
    periods AS (
      SELECT p.*, c.tz,
        least(timezone(c.tz, CAST(p.period_end AS TIMESTAMP)), timezone(c.tz, CAST(c.last_day + 1 AS TIMESTAMP))) AS as_of,
        (c.first_day <= p.period_start AND p.period_end <= c.last_day + 1) AS period_complete
      FROM period_keys p JOIN {coverage} c USING (_scope)
    )"""


def _period_of(day: str, period_type: str) -> str:
    """The period label of a day, for joining dated rows on periods."""
    if period_type == "week":
        return f"printf('%04d-W%02d', isoyear({day}), week({day}))"
    return f"strftime({day}, '%Y-%m')"


def _in_periods(dated: str, period_types: tuple[str, ...]) -> str:
    """Dated rows joined to the periods their day falls in (rows outside the span drop out)."""
    parts = [
        f"SELECT r.*, p.period_type, p.period, p.period_start, p.period_end, p.as_of, p.period_complete FROM {dated} r"
        f" JOIN periods p ON p._scope = r._scope AND p.period_type = '{t}' AND p.period = {_period_of('r.day', t)}"
        for t in period_types
    ]
    return " UNION ALL ".join(parts)


def _backlog(records: str, deadline: str, cleared: str, kind: str) -> str:
    """Rows of every record open past its deadline as of each period's as_of."""
    return f"""
      SELECT r.*, '{kind}' AS kind, CAST(NULL AS DATE) AS day,
             p.period_type, p.period, p.period_start, p.period_end, p.as_of, p.period_complete
      FROM {records} r JOIN periods p ON p._scope = r._scope AND r.{deadline} < p.as_of
       AND (r.{cleared} IS NULL OR r.{cleared} >= p.as_of)
      WHERE r.{deadline} IS NOT NULL AND (r.{cleared} IS NULL OR r.{cleared} > r.{deadline})"""


def _count(condition: str) -> str:
    return f"CAST(count(*) FILTER (WHERE {condition}) AS BIGINT)"


def _rate(numerator: str, denominator: str) -> str:
    return f"CASE WHEN {denominator} > 0 THEN CAST({numerator} AS DOUBLE) / {denominator} END"


def _street_names(settings: Settings) -> str:
    if not exists(settings, "silver.grid"):
        return "(SELECT CAST(NULL AS VARCHAR) AS street_code, CAST(NULL AS VARCHAR) AS street_name WHERE false)"
    return f"(SELECT street_code, min(street_name) AS street_name FROM {scan(settings, 'silver.grid')} WHERE street_code IS NOT NULL GROUP BY 1)"


def _unit_name(text_units: tuple[str, ...]) -> str:
    text = " ".join(f"WHEN c.unit_type = '{u}' THEN c.unit_code" for u in text_units)
    return f"CASE WHEN c.unit_type = '{CITY_UNIT_CODE}' THEN '{CITY_UNIT_NAME}' {text} ELSE s.street_name END"


# --- gold.hotline_performance ------------------------------------------------------------------

_PRESENT = {  # capability -> "the source has this data" over its tickets
    "direct_answer": "count(is_direct_answer) > 0",
    "dispatch": "count(dispatched_at) > 0",
    "acceptance": "count(accepted_at) > 0",
    "deadline": "count(due_at) > 0",
    "resolution": "count(resolved_at) > 0",
    "callback": f"count(CASE WHEN satisfaction IN ({sql_list(CALLBACK_CODES)}) THEN visited_at END) > 0",
}
_NEEDS = {  # count -> the capabilities it needs (else null)
    "direct_answered": ("direct_answer",),
    "dispatched": ("dispatch",),
    "accepted_in_time": ("dispatch", "acceptance"),
    "due": ("deadline",),
    "resolved_by_period_end": ("deadline", "resolution"),
    "resolved_on_time": ("deadline", "resolution"),
    "open_past_deadline": ("deadline", "resolution"),
    "resolved": ("resolution",),
    "resolved_with_callback": ("resolution", "callback"),
    "visited": ("callback",),
    "satisfied": ("callback",),
}


def hotline_performance(connection, settings: Settings, name: str, params: HotlinePerformanceParams | None = None) -> int:
    params = params or HotlinePerformanceParams()
    zones = " ".join(f"WHEN '{s}' THEN '{z}'" for s, z in sorted(source_timezones().items()))
    callback = sql_list(CALLBACK_CODES)
    limit_us = int(params.acceptance_limit_hours * 3600 * 1_000_000)
    due = "(kind = 'due' AND due_at < as_of)"
    counts = {
        "received": "kind = 'received'",
        "direct_answered": "kind = 'received' AND is_direct_answer",
        "dispatched": "kind = 'dispatched'",
        "accepted_in_time": f"kind = 'dispatched' AND epoch_us(accepted_at) - epoch_us(dispatched_at) <= {limit_us}",
        "due": due,
        "resolved_by_period_end": f"{due} AND resolved_at < as_of",
        "resolved_on_time": f"{due} AND resolved_at <= due_at",
        "resolved": "kind = 'resolved'",
        "resolved_with_callback": f"kind = 'resolved' AND satisfaction IN ({callback})",
        "visited": "kind = 'visited'",
        "satisfied": f"kind = 'visited' AND satisfaction IN ({sql_list(params.satisfied_codes)})",
        "open_past_deadline": "kind = 'open_past_deadline'",
    }
    kinds = {
        "received": "dt",
        "dispatched": local_date("dispatched_at"),
        "due": local_date("due_at"),
        "resolved": local_date("resolved_at"),
        "visited": f"CASE WHEN satisfaction IN ({callback}) THEN {local_date('visited_at')} END",
    }
    dated = " UNION ALL ".join(f"SELECT *, '{k}' AS kind, {day} AS day FROM tickets WHERE {day} IS NOT NULL" for k, day in kinds.items())
    # a count the source has no data for is null; the centre's direct answers say nothing of a handling unit
    needs = {c: [f"has_{n}" for n in _NEEDS.get(c, ())] for c in counts}
    needs["direct_answered"].append("unit_type <> 'handling_unit'")
    nulled = ", ".join(f"CASE WHEN {' AND '.join(n)} THEN {c} END AS {c}" if n else c for c, n in needs.items())
    score_total = " + ".join(
        f"CASE WHEN {c} IS NOT NULL THEN {c} * CAST({w} AS DOUBLE) ELSE CAST(0 AS DOUBLE) END" for c, w in params.score_weights
    )
    score_weight = " + ".join(
        f"CASE WHEN {c} IS NOT NULL THEN CAST({w} AS DOUBLE) ELSE CAST(0 AS DOUBLE) END" for c, w in params.score_weights
    )
    rates = {
        "direct_answer_rate": ("direct_answered", "received"),
        "timely_acceptance_rate": ("accepted_in_time", "dispatched"),
        "on_time_completion_rate": ("resolved_on_time", "due"),
        "completion_rate": ("resolved_by_period_end", "due"),
        "effective_callback_rate": ("resolved_with_callback", "resolved"),
        "satisfaction_rate": ("satisfied", "visited"),
    }
    keys = "_scope, period_type, period, period_start, period_end, as_of, period_complete, unit_type, unit_code"
    group = "_scope, period_type, period, unit_type"
    connection.execute(f"""
    CREATE OR REPLACE TABLE {name} AS
    WITH tickets AS (
      SELECT source_system AS _scope, CASE source_system {zones} ELSE 'UTC' END AS tz, dt, updated_at, street_code, handling_unit,
             is_direct_answer, dispatched_at, accepted_at, due_at, resolved_at, visited_at, satisfaction
      FROM {scan(settings, "silver.complaint")}
    ),
    coverage AS (SELECT _scope, tz, min(dt) AS first_day, {local_date("max(updated_at)")} AS last_day FROM tickets GROUP BY _scope, tz),
    {_periods_sql("coverage", params.period_types).strip()},
    capabilities AS (SELECT _scope, {", ".join(f"{sql} AS has_{c}" for c, sql in _PRESENT.items())} FROM tickets GROUP BY _scope),
    dated AS ({dated}),
    events AS ({_in_periods("dated", params.period_types)} UNION ALL BY NAME {_backlog("tickets", "due_at", "resolved_at", "open_past_deadline")}),
    units AS (
      SELECT *, 'street' AS unit_type, street_code AS unit_code FROM events WHERE street_code IS NOT NULL
      UNION ALL SELECT *, 'handling_unit', handling_unit FROM events WHERE handling_unit IS NOT NULL
      UNION ALL SELECT *, '{CITY_UNIT_CODE}', '{CITY_UNIT_CODE}' FROM events
    ),
    raw AS (SELECT {keys}, {", ".join(f"{_count(cond)} AS {c}" for c, cond in counts.items())} FROM units GROUP BY ALL),
    counted AS (SELECT {keys}, {nulled} FROM raw JOIN capabilities USING (_scope)),
    scored AS (
      SELECT *, CASE WHEN weight > 0 THEN CAST(100 AS DOUBLE) * total / weight END AS composite_score FROM (
        SELECT *, CAST(0 AS DOUBLE) + {score_total} AS total, CAST(0 AS DOUBLE) + {score_weight} AS weight FROM (
          SELECT *, {", ".join(f"{_rate(n, d)} AS {r}" for r, (n, d) in rates.items())} FROM counted))
    ),
    ranked AS (
      SELECT *,
        CAST(CASE WHEN unit_type <> '{CITY_UNIT_CODE}' AND composite_score IS NOT NULL
             THEN rank() OVER (PARTITION BY {group} ORDER BY composite_score DESC NULLS LAST) END AS INTEGER) AS rank,
        CAST(CASE WHEN unit_type <> '{CITY_UNIT_CODE}' THEN count(composite_score) OVER (PARTITION BY {group}) END AS INTEGER) AS units_ranked
      FROM scored
    ),
    previous AS (
      SELECT _scope, period_type, unit_type, unit_code, rank AS previous_rank,
             CASE WHEN period_type = 'week' THEN CAST(period_start + INTERVAL 7 DAY AS DATE) ELSE CAST(period_start + INTERVAL 1 MONTH AS DATE) END AS period_start
      FROM ranked WHERE rank IS NOT NULL
    )
    SELECT c._scope AS source_system, c.* EXCLUDE (_scope, total, weight), {_unit_name(("handling_unit",))} AS unit_name,
           p.previous_rank, CAST(p.previous_rank - c.rank AS INTEGER) AS rank_change
    FROM ranked c
    LEFT JOIN previous p USING (_scope, period_type, unit_type, unit_code, period_start)
    LEFT JOIN {_street_names(settings)} s ON c.unit_type = 'street' AND c.unit_code = s.street_code
    """)
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


# --- gold.governance_scorecard -----------------------------------------------------------------


def governance_scorecard(connection, settings: Settings, name: str, params: GovernanceScorecardParams | None = None) -> int:
    params = params or GovernanceScorecardParams()
    zone = entity_timezone("urban_case_event")
    due = "(kind = 'due' AND deadline < as_of)"
    on_time = "handled_by <= deadline"
    measures = {
        "reported": _count("kind = 'reported'"),
        "citizen_reported": _count("kind = 'reported' AND is_citizen_report"),
        "filed": _count("kind = 'reported' AND filed_at IS NOT NULL AND NOT voided"),
        "due": _count(due),
        "closed_by_period_end": _count(f"{due} AND closed_at < as_of"),
        "handled_on_time": _count(f"{due} AND {on_time}"),
        "reworked": _count(f"{due} AND rework_count > 0"),
        "postponed": _count(f"{due} AND postponed"),
        "urgent_due": _count(f"{due} AND is_urgent"),
        "urgent_handled_on_time": _count(f"{due} AND is_urgent AND {on_time}"),
        "overdue_open_at_period_end": _count("kind = 'overdue_open'"),
        "dispatched": _count("kind = 'dispatched'"),
        "median_minutes_to_dispatch": "median(CAST(minutes_to_dispatch AS DOUBLE)) FILTER (WHERE kind = 'dispatched')",
        "closed": _count("kind = 'closed'"),
        "median_minutes_to_close": "median(CAST(minutes_to_close AS DOUBLE)) FILTER (WHERE kind = 'closed')",
        "hotline_urban_tickets": _count("kind = 'hotline_ticket'"),
        "cases_from_12345": _count(f"kind = 'reported' AND source = '{params.transfer_source}'"),
    }
    rates = SCORECARD_RATES  # the indicators' definitions: numerator and denominator
    case_columns = "street_code, source, is_citizen_report, is_urgent, filed_at, closed_at, deadline, rework_count, postponed, voided, minutes_to_dispatch, minutes_to_close"
    if exists(settings, "silver.urban_case"):
        cases_from = scan(settings, "silver.urban_case")
    else:
        cases_from = f"(SELECT {', '.join('NULL AS ' + c.strip() for c in case_columns.split(','))}, NULL AS handled_at, NULL AS dispatched_at, CAST(NULL AS DATE) AS dt, NULL AS updated_at WHERE false)"
    has_complaints = exists(settings, "silver.complaint")
    tickets = (
        f"""UNION ALL BY NAME SELECT street_code, dt, '{CITY_UNIT_CODE}' AS _scope, '{zone}' AS tz, 'hotline_ticket' AS kind, dt AS day
        FROM {scan(settings, "silver.complaint")}
        WHERE source_system IN ({sql_list(params.hotline_sources)}) AND category_l1 = '{params.hotline_category_l1}'
          AND street_code IS NOT NULL AND dt IS NOT NULL"""
        if has_complaints
        else ""
    )
    kinds = {
        "reported": "dt",
        "due": f"CASE WHEN NOT voided THEN {local_date('deadline')} END",
        "dispatched": local_date("dispatched_at"),
        "closed": local_date("closed_at"),
    }
    dated = " UNION ALL ".join(
        f"SELECT * EXCLUDE (dispatched_at, updated_at), '{k}' AS kind, {day} AS day FROM cases WHERE {day} IS NOT NULL"
        for k, day in kinds.items()
    )
    keys = "period_type, period, period_start, period_end, as_of, period_complete, unit_type, unit_code"
    connection.execute(f"""
    CREATE OR REPLACE TABLE {name} AS
    WITH cases AS (
      SELECT {case_columns}, coalesce(handled_at, closed_at) AS handled_by, dispatched_at, dt, updated_at,
             '{CITY_UNIT_CODE}' AS _scope, '{zone}' AS tz
      FROM {cases_from}
    ),
    coverage AS (SELECT _scope, tz, min(dt) AS first_day, {local_date("max(updated_at)")} AS last_day FROM cases GROUP BY _scope, tz),
    {_periods_sql("coverage", params.period_types).strip()},
    live AS (SELECT * EXCLUDE (dispatched_at, updated_at) FROM cases WHERE NOT voided),
    stacked AS ({dated} {tickets}),
    events AS ({_in_periods("stacked", params.period_types)} UNION ALL BY NAME {_backlog("live", "deadline", "handled_by", "overdue_open")}),
    units AS (
      SELECT *, 'street' AS unit_type, street_code AS unit_code FROM events WHERE street_code IS NOT NULL
      UNION ALL SELECT *, '{CITY_UNIT_CODE}', '{CITY_UNIT_CODE}' FROM events
    ),
    counted AS (
      SELECT {keys}, {", ".join(f"{sql} AS {c}" for c, sql in measures.items() if not (c == "hotline_urban_tickets" and not has_complaints))}
             {"" if has_complaints else ", CAST(NULL AS BIGINT) AS hotline_urban_tickets"}
      FROM units GROUP BY ALL
    )
    SELECT c.*, {", ".join(f"{_rate(n, d)} AS {r}" for r, (n, d) in rates.items())}, {_unit_name(())} AS unit_name
    FROM counted c LEFT JOIN {_street_names(settings)} s ON c.unit_type = 'street' AND c.unit_code = s.street_code
    """)
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
