"""DuckDB references of the gold jobs, one per gold table, computed from the silver Delta tables.

What each reference recomputes in DuckDB, and what it shares with the product:

- ride_hailing_demand: all of it in SQL (orders, pickups and drop-offs per cell and local
  hour, zero-filled over the cells with orders and every hour of their span). The only
  Python is the drop-off point's H3 cell (DuckDB has no H3 here): a vectorised UDF.
- hotline_performance, governance_scorecard: all of it in SQL (reference_performance.py).
- complaint_hotspots: the weekly cube (tickets per hotline, cell, week and sub-category,
  with the earliest text), the population per cell and the other departments' context per
  cell-week are SQL; the statistics run on the cube with the same numpy/scipy/scikit-learn
  code as the product (``complaint_hotspots.build_cube`` and ``analyse``: NMF, negative
  binomial tests, BH-FDR, Gi* and Mann-Kendall are not SQL computations; tests/models
  checks them against esda and scipy). It compares the extraction, not the statistics.
- stability_risk: the weekly evidence counts per community (each indicator's filter from
  the YAML run as DuckDB SQL) and the places are SQL; the index and the early warning run
  on them with the same pandas/scikit-learn code (``stability_risk.stability_risk``).
- demand_forecast: the feature frame (history windows, per-cell and city aggregates,
  calendar, neighbours, event memory) is built in SQL (reference_forecast.py) and scored
  with the same stored model version as the product (the newest under the lake); training
  is not recomputed. It compares the features and the scoring, not the fit; the forecasts
  are compared with a tolerance on the share of rows, not through the checksum (why:
  reference_forecast.py).
"""

from __future__ import annotations

from citybrain.bench import Reference
from citybrain.bench import reference_forecast as forecast
from citybrain.bench import reference_performance as performance
from citybrain.bench.reference_performance import exists, scan
from citybrain.schemas.gold.ride_hailing_demand import DemandParams
from citybrain.settings import Settings


def register_h3(connection) -> str:
    """A vectorised ``h3_cell(lat, lon, resolution)`` UDF on the connection (null outside the globe)."""
    import duckdb

    from citybrain import h3cells

    def cells(lat, lon, resolution):
        res = int(resolution[0].as_py()) if len(resolution) else 8
        return h3cells.cells(lat.to_numpy(zero_copy_only=False), lon.to_numpy(zero_copy_only=False), res)

    try:
        connection.create_function("h3_cell", cells, ["DOUBLE", "DOUBLE", "INTEGER"], "VARCHAR", type="arrow", null_handling="special")
    except duckdb.NotImplementedException:  # already there
        pass
    return "h3_cell"


def ride_hailing_demand(connection, settings: Settings, name: str, params: DemandParams | None = None) -> int:
    params = params or DemandParams()
    tz, cell = params.timezone, f"h3_r{params.resolution}"
    h3_cell = register_h3(connection)
    hour = f"timezone('{tz}', date_trunc('hour', timezone('{tz}', ts)))"
    local = f"timezone('{tz}', hour_start)"
    connection.execute(f"""
    CREATE OR REPLACE TABLE {name} AS
    WITH trips AS (SELECT * FROM {scan(settings, "silver.ride_trip")}),
    events AS (
      SELECT {cell} AS h3_cell, ordered_at AS ts, 1 AS orders, CAST(order_status = 'completed' AS INT) AS completed,
             CAST(starts_with(order_status, 'cancelled') AS INT) AS cancelled, CAST(is_compliant AS INT) AS compliant_orders,
             CAST(is_compliant IS NOT NULL AS INT) AS known_compliance, 0 AS pickups, 0 AS dropoffs,
             CASE WHEN order_status = 'completed' THEN distance_km END AS distance_km,
             CASE WHEN order_status = 'completed' THEN fare_yuan END AS fare_yuan
      FROM trips WHERE {cell} IS NOT NULL
      UNION ALL
      SELECT {cell}, picked_up_at, 0, 0, 0, 0, 0, 1, 0, NULL, NULL FROM trips WHERE {cell} IS NOT NULL AND picked_up_at IS NOT NULL
      UNION ALL
      SELECT * FROM (
        SELECT {h3_cell}(CAST(dropoff_lat AS DOUBLE), CAST(dropoff_lon AS DOUBLE), {params.resolution}) AS h3_cell, dropped_off_at,
               0, 0, 0, 0, 0, 0, 1, NULL, NULL
        FROM trips WHERE dropped_off_at IS NOT NULL
      ) WHERE h3_cell IS NOT NULL
    ),
    counts AS (
      SELECT h3_cell, {hour} AS hour_start, sum(orders) AS orders, sum(completed) AS completed, sum(cancelled) AS cancelled,
             sum(compliant_orders) AS compliant_orders, sum(known_compliance) AS known_compliance, sum(pickups) AS pickups,
             sum(dropoffs) AS dropoffs, avg(distance_km) AS avg_distance_km, avg(fare_yuan) AS avg_fare_yuan
      FROM events GROUP BY ALL
    ),
    placed AS (SELECT * FROM counts WHERE orders > 0),
    hours AS (SELECT unnest(generate_series(min(hour_start), max(hour_start), INTERVAL 1 HOUR)) AS hour_start FROM placed),
    frame AS (SELECT * FROM (SELECT DISTINCT h3_cell FROM placed) CROSS JOIN hours LEFT JOIN counts USING (h3_cell, hour_start))
    SELECT h3_cell, CAST({params.resolution} AS INTEGER) AS h3_resolution, hour_start,
           strftime({local}, '%Y-%m-%d %H:00') AS local_hour, CAST(hour({local}) AS INTEGER) AS hour_of_day,
           {", ".join(f"CAST(coalesce({c}, 0) AS BIGINT) AS {c}" for c in ("orders", "completed", "cancelled", "compliant_orders", "pickups", "dropoffs"))},
           CASE WHEN known_compliance > 0 THEN compliant_orders / known_compliance END AS compliance_share,
           avg_distance_km, avg_fare_yuan, CAST({local} AS DATE) AS dt
    FROM frame
    """)
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def complaint_hotspots(connection, settings: Settings, name: str) -> int:
    """The cube and the context in SQL; the statistics with the product's own numpy code (see the module doc)."""
    import pandas as pd

    from citybrain.jobs.gold.complaint_hotspots import CONTEXT, NO_CATEGORY, analyse, build_cube
    from citybrain.schemas.gold.complaint_hotspots import HotspotParams

    params = HotspotParams()
    cell = f"h3_r{params.resolution}"
    monday = "CAST(dt - INTERVAL ((isodow(dt) - 1)) DAY AS DATE)"
    cube_rows = connection.execute(f"""
      SELECT source_system, {cell} AS h3_cell, {monday} AS week_start, coalesce(category_l1, '{NO_CATEGORY}') AS category_l1,
             coalesce(category_l2, category_l1, '{NO_CATEGORY}') AS category_l2, count(*) AS complaints,
             arg_min(content, received_at) AS example_text
      FROM {scan(settings, "silver.complaint")} WHERE {cell} IS NOT NULL GROUP BY ALL
    """).df()
    population = pd.Series(dtype=float)
    if exists(settings, "silver.grid"):
        population = connection.execute(
            f"SELECT {cell} AS h3_cell, CAST(sum(population) AS BIGINT) AS population FROM {scan(settings, 'silver.grid')} GROUP BY 1"
        ).df()
        population = population.dropna().set_index("h3_cell")["population"]
    parts = []
    for system, rows in cube_rows.groupby("source_system", sort=True):
        cube = build_cube(rows.assign(week_start=pd.to_datetime(rows["week_start"])), population, params.k_ring)
        parts.append(analyse(cube, params).assign(source_system=system))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["source_system", "h3_cell", "week_start"])
    stats = table.drop(columns=["top_subcategories", "example_text"], errors="ignore")  # text, not compared
    stats["week_start"] = pd.to_datetime(stats["week_start"]).dt.date
    stats["population"] = stats["population"].astype("Int64") if len(stats) else stats.get("population")
    connection.register("_hotspot_stats", stats)
    context = (
        " UNION ALL ".join(
            f"SELECT '{column}' AS kind, {cell} AS h3_cell, {monday} AS week_start FROM {scan(settings, table_name)}"
            f" WHERE {cell} IS NOT NULL{' AND ' + where if where else ''}"
            for column, (table_name, where) in CONTEXT.items()
            if exists(settings, table_name)
        )
        or "SELECT NULL AS kind, NULL AS h3_cell, NULL AS week_start WHERE false"
    )
    counts = ", ".join(f"CAST(count(*) FILTER (WHERE kind = '{c}') AS BIGINT) AS {c}" for c in CONTEXT)
    connection.execute(f"""
    CREATE OR REPLACE TABLE {name} AS
    WITH context AS (SELECT h3_cell, week_start, {counts} FROM ({context}) GROUP BY ALL)
    SELECT s.*, {", ".join(f"coalesce(c.{col}, 0) AS {col}" for col in CONTEXT)}
    FROM _hotspot_stats s LEFT JOIN context c USING (h3_cell, week_start)
    """)
    connection.unregister("_hotspot_stats")
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


#: the stability table's compared columns: its keys and every figure the warning rests on
STABILITY_KEYS = (
    "iso_week", "week_start", "unit_type", "unit_code", "population", "events",
    "status", "score", "level", "rank_in_week", "warning_probability",
)  # fmt: skip


def stability_risk(connection, settings: Settings, name: str) -> int:
    """Evidence counts and places in SQL; the index and the early warning with the product's pandas code."""
    import pandas as pd

    from citybrain.jobs.gold.stability_risk import EVIDENCE, LABEL, _without_sources
    from citybrain.jobs.gold.stability_risk import stability_risk as score
    from citybrain.models import stability_index as index

    cfg = index.load_config()
    present = [t for t in EVIDENCE if exists(settings, t)]
    if len(present) < len(EVIDENCE):
        cfg = _without_sources(cfg, set(EVIDENCE) - set(present))
    if not exists(settings, "silver.grid") or not present:
        connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT NULL AS unit_type WHERE false")
        return 0
    parts = []
    for table in present:
        measures = ["count(*) AS events"]
        for ind in cfg.counted:
            if ind.source == table:
                measures.append(f"count(*) FILTER (WHERE {ind.where}) AS n_{ind.name}")
                if ind.denominator:
                    measures.append(f"count(*) FILTER (WHERE {ind.denominator}) AS d_{ind.name}")
        if cfg.warning.get("label_source") == table:
            measures.append(f"count(*) FILTER (WHERE {cfg.warning['label_where']}) AS {LABEL}")
        wide = connection.execute(f"""
          SELECT community_code, printf('%04d-W%02d', isoyear(dt), week(dt)) AS iso_week,
                 CAST(dt - INTERVAL ((isodow(dt) - 1)) DAY AS DATE) AS week_start, {", ".join(measures)}
          FROM {scan(settings, table)} WHERE community_code IS NOT NULL GROUP BY ALL
        """).df()
        parts.append(wide.melt(id_vars=["community_code", "iso_week", "week_start"], var_name="column", value_name="value"))
    places = connection.execute(f"""
      SELECT community_code, {", ".join(f"first({c} ORDER BY {c}) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in ("community_name", "street_code", "street_name", "district_code", "district_name"))},
             sum(coalesce(population, 0)) AS population
      FROM {scan(settings, "silver.grid")} WHERE community_code IS NOT NULL GROUP BY 1
    """).df()
    rows, _ = score(pd.concat(parts, ignore_index=True), places, cfg)
    frame = rows.reindex(columns=list(STABILITY_KEYS))
    frame["week_start"] = pd.to_datetime(frame["week_start"]).dt.date
    frame["population"] = frame["population"].astype("Int64")
    frame["events"] = frame["events"].astype("Int64")
    frame["rank_in_week"] = frame["rank_in_week"].astype("Int64")
    connection.register("_stability_rows", frame)
    connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _stability_rows")
    connection.unregister("_stability_rows")
    return len(frame)


GOLD_REFERENCES: dict[str, Reference] = {
    "complaint_hotspots": Reference(
        "gold.complaint_hotspots",
        (
            "source_system",
            "h3_cell",
            "week_start",
            "category_level",
            "category",
            "complaints",
            "population",
            "expected_from_history",
            "gi_star_z",
            "alert_confidence",
            "is_alert",
            "trend",
            "forecast_next_week",
            "police_incidents",
            "petitions",
            "urban_cases",
            "ride_pickups",
        ),
        complaint_hotspots,
    ),
    "hotline_performance": Reference(
        "gold.hotline_performance",
        (
            "source_system",
            "period_type",
            "period",
            "unit_type",
            "unit_code",
            "unit_name",
            "period_complete",
            "as_of",
            "received",
            "direct_answered",
            "dispatched",
            "accepted_in_time",
            "due",
            "resolved_by_period_end",
            "resolved_on_time",
            "resolved",
            "resolved_with_callback",
            "visited",
            "satisfied",
            "open_past_deadline",
            "composite_score",
            "rank",
            "units_ranked",
            "previous_rank",
        ),
        performance.hotline_performance,
    ),
    "governance_scorecard": Reference(
        "gold.governance_scorecard",
        (
            "period_type",
            "period",
            "unit_type",
            "unit_code",
            "unit_name",
            "period_complete",
            "as_of",
            "reported",
            "citizen_reported",
            "filed",
            "due",
            "closed_by_period_end",
            "handled_on_time",
            "reworked",
            "postponed",
            "urgent_due",
            "urgent_handled_on_time",
            "overdue_open_at_period_end",
            "dispatched",
            "median_minutes_to_dispatch",
            "closed",
            "median_minutes_to_close",
            "hotline_urban_tickets",
            "cases_from_12345",
        ),
        performance.governance_scorecard,
    ),
    "stability_risk": Reference(
        "gold.stability_risk",
        STABILITY_KEYS,
        stability_risk,
    ),
    "ride_hailing_demand": Reference(
        "gold.ride_hailing_demand",
        (
            "h3_cell",
            "hour_start",
            "local_hour",
            "hour_of_day",
            "orders",
            "completed",
            "cancelled",
            "compliant_orders",
            "pickups",
            "dropoffs",
            "compliance_share",
            "dt",
        ),
        ride_hailing_demand,
    ),
    "demand_forecast": Reference(
        "gold.demand_forecast",
        ("model_version", "horizon", "origin", "h3_cell", "hour_start", "local_hour", "lead_hours", "actual", "dt"),
        forecast.demand_forecast,
    ),
}

#: per table, its grain and the floating-point columns compared with a tolerance instead of the
#: checksum: a mean over many rows differs in its last bits with the order an engine adds in,
#: which rounding to 6 decimals does not always hide (see also reference_forecast.py)
CLOSE_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ride_hailing_demand": (("h3_cell", "hour_start"), ("avg_distance_km", "avg_fare_yuan")),
    "demand_forecast": (("horizon", "origin", "h3_cell", "hour_start"), forecast.FORECAST_COLUMNS),
}
