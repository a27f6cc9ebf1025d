"""DuckDB reference of gold.demand_forecast: the forecaster's feature frame in SQL, scored with the stored model.

The features (models/demand_features.py) are rebuilt here as one SQL query per horizon over
gold.ride_hailing_demand and silver.calendar_day: the 28-day history window before each
origin, per-cell and city means, shares, same-hour lags, the city's hour-of-day profile by
kind of day, the event memory per venue, the ring of neighbours, the calendar of the target
day and the distance to the day's event. The cells' centres and rings come from H3 in
Python (DuckDB has no H3 here). The origins are the product's: every local midnight from
``history_days`` after the data's first day for 24 h, the end of the data for 7 days.
The frame is then scored with the newest stored model version, through the product's
``forecast_rows`` (the model's prediction, interval and anomaly test). Training is not
recomputed: the reference compares the features and the scoring, not the fit.

The forecasts themselves are not in the checksum (``FORECAST_COLUMNS`` are compared with a
tolerance on the share of rows instead): a feature that is a floating-point sum or mean
differs in its last bits with the order in which an engine adds (Spark's own runs differ
from one another), and a boosted tree whose split falls between two such neighbours turns
a last-bit difference into a different leaf for a handful of rows.
"""

from __future__ import annotations

from citybrain.bench.reference_performance import exists, scan
from citybrain.settings import Settings

#: compared row by row with a tolerance, not through the checksum (see the module doc)
FORECAST_COLUMNS = ("forecast", "lower", "upper", "usual_forecast")


def _calendar(ts: str, tz: str) -> str:
    local = f"timezone('{tz}', {ts})"
    dow = f"(isodow({local}) - 1)"
    return (
        f"CAST({local} AS DATE) AS local_date, CAST(hour({local}) AS INTEGER) AS hour_of_day, CAST({dow} AS INTEGER) AS day_of_week,"
        f" CAST({dow} * 24 + hour({local}) AS INTEGER) AS hour_of_week"
    )


def feature_sql(demand: str, calendar: str, leads: tuple[int, int], tz: str, days: int) -> str:
    """The feature frame (with the label) of the origins in table ``origins`` over cells ``_cells`` and ring ``_ring``."""
    from citybrain.models.demand_features import HOUR_S, NO_EVENT_KM, WEEK_S

    venues = f"""SELECT date AS local_date, printf('%.3f,%.3f', event_lat, event_lon) AS venue, CAST(event_attendance AS DOUBLE) AS past_attendance
                 FROM {calendar} WHERE coalesce(event_attendance, 0) > 0"""
    return f"""
    WITH d AS (SELECT h3_cell, hour_start, orders FROM {demand}),
    everything AS (
      SELECT o.origin, d.h3_cell, d.hour_start, d.orders, epoch(o.origin) - epoch(d.hour_start) AS age_s, {_calendar("d.hour_start", tz)}
      FROM origins o JOIN d ON d.hour_start < o.origin
    ),
    hist AS (SELECT * FROM everything WHERE hour_start >= origin - INTERVAL {days} DAY),
    city AS (
      SELECT origin, sum(orders) AS _city_28d, sum(orders) / {days * 24} AS city_mean_28d,
             sum(orders) FILTER (WHERE age_s <= {24 * HOUR_S}) * {days} / sum(orders) AS city_last_24h_ratio
      FROM hist GROUP BY origin
    ),
    cell_all AS (
      SELECT origin, h3_cell, _total_all / sum(_total_all) OVER (PARTITION BY origin) AS share_all
      FROM (SELECT origin, h3_cell, sum(orders) AS _total_all FROM everything GROUP BY ALL)
    ),
    per_cell AS (
      SELECT c.*, c._total_28d / city._city_28d AS share_28d, city.city_mean_28d, city.city_last_24h_ratio,
             a.share_all
      FROM (SELECT origin, h3_cell, avg(orders) AS mean_28d, avg(orders) FILTER (WHERE age_s <= {WEEK_S}) AS mean_7d,
                   sum(orders) AS _total_28d, sum(orders) FILTER (WHERE age_s <= {HOUR_S}) AS last_hour
            FROM hist GROUP BY ALL) c
      JOIN city USING (origin)
      LEFT JOIN cell_all a USING (origin, h3_cell)
    ),
    day_kind AS (SELECT date AS local_date, coalesce(CAST(is_workday AS INTEGER), 1) AS day_kind FROM {calendar}),
    city_profile AS (
      SELECT origin, hour_of_day, day_kind, avg(n) AS city_profile_mean FROM (
        SELECT origin, hour_start, hour_of_day, coalesce(k.day_kind, 1) AS day_kind, sum(orders) AS n
        FROM everything e LEFT JOIN day_kind k USING (local_date) GROUP BY ALL) GROUP BY ALL
    ),
    venues AS ({venues}),
    usual AS (SELECT origin, h3_cell, hour_of_day, avg(orders) AS _usual FROM everything GROUP BY ALL),
    memory AS (
      SELECT e.origin, e.h3_cell, e.hour_of_day, v.venue, avg((e.orders - u._usual) / v.past_attendance) AS excess_per_attendee
      FROM everything e JOIN venues v USING (local_date) JOIN usual u USING (origin, h3_cell, hour_of_day) GROUP BY ALL
    ),
    by_how AS (
      SELECT origin, h3_cell, hour_of_week, avg(orders) AS hour_of_week_mean_4w, sum(orders) FILTER (WHERE age_s <= {WEEK_S}) AS same_hour_last_week
      FROM hist GROUP BY ALL
    ),
    city_how AS (
      SELECT origin, hour_of_week, avg(n) AS city_hour_of_week_mean_4w
      FROM (SELECT origin, hour_of_week, hour_start, sum(orders) AS n FROM hist GROUP BY ALL) GROUP BY ALL
    ),
    by_hod AS (SELECT origin, h3_cell, hour_of_day, sum(orders) AS same_hour_last_day FROM hist WHERE age_s <= {24 * HOUR_S} GROUP BY ALL),
    ring AS (
      SELECT r.h3_cell, p.origin, avg(p.mean_28d) AS neighbour_mean_28d
      FROM _ring r JOIN per_cell p ON p.h3_cell = r.neighbour GROUP BY ALL
    ),
    cal AS (
      SELECT date AS local_date, coalesce(CAST(is_workday AS INTEGER), 1) AS is_workday,
             CAST(coalesce(length(trim(holiday_name)), 0) > 0 AS INTEGER) AS is_holiday, coalesce(precipitation_mm, 0.0) AS precipitation_mm,
             temp_max_c, CAST(coalesce(event_attendance, 0) AS DOUBLE) AS event_attendance, event_lat, event_lon
      FROM {calendar}
    ),
    targets AS (
      SELECT origin, lead_hours, h3_cell, hour_start, {_calendar("hour_start", tz)} FROM (
        SELECT o.origin, CAST(l.lead_hours AS INTEGER) AS lead_hours, c.h3_cell, o.origin + l.lead_hours * INTERVAL 1 HOUR AS hour_start
        FROM origins o CROSS JOIN range({leads[0]}, {leads[1]}) l(lead_hours) CROSS JOIN _cells c)
    ),
    frame AS (
      SELECT t.*, p.* EXCLUDE (origin, h3_cell), h.* EXCLUDE (origin, h3_cell, hour_of_week), ch.city_hour_of_week_mean_4w,
             hd.same_hour_last_day, coalesce(k.day_kind, 1) AS day_kind, v.venue, r.neighbour_mean_28d,
             cells.population, cells.lat, cells.lon, cal.* EXCLUDE (local_date)
      FROM targets t
      LEFT JOIN per_cell p USING (origin, h3_cell)
      LEFT JOIN by_how h USING (origin, h3_cell, hour_of_week)
      LEFT JOIN city_how ch USING (origin, hour_of_week)
      LEFT JOIN by_hod hd USING (origin, h3_cell, hour_of_day)
      LEFT JOIN day_kind k USING (local_date)
      LEFT JOIN venues v USING (local_date)
      LEFT JOIN ring r USING (origin, h3_cell)
      LEFT JOIN _cells cells USING (h3_cell)
      LEFT JOIN cal USING (local_date)
    ),
    framed AS (
      SELECT f.*, cp.city_profile_mean, m.excess_per_attendee FROM frame f
      LEFT JOIN city_profile cp USING (origin, hour_of_day, day_kind)
      LEFT JOIN memory m USING (origin, h3_cell, hour_of_day, venue)
    )
    SELECT f.origin, f.h3_cell, f.hour_start, f.local_date, lead_hours, hour_of_day, day_of_week, hour_of_week, is_workday, is_holiday,
           precipitation_mm, temp_max_c, event_attendance,
           coalesce(CASE WHEN event_lat IS NOT NULL THEN 2 * 6371.0 * asin(sqrt(
             sin(radians(event_lat - lat) / 2) ^ 2 + cos(radians(lat)) * cos(radians(event_lat)) * sin(radians(event_lon - lon) / 2) ^ 2)) END,
             {NO_EVENT_KM}) AS event_distance_km,
           coalesce(excess_per_attendee * event_attendance, 0.0) AS event_memory,
           CAST(coalesce(last_hour, 0) AS DOUBLE) AS last_hour,
           CAST(coalesce(same_hour_last_day, 0) AS DOUBLE) AS same_hour_last_day,
           CAST(coalesce(same_hour_last_week, 0) AS DOUBLE) AS same_hour_last_week,
           coalesce(hour_of_week_mean_4w, 0.0) AS hour_of_week_mean_4w, coalesce(mean_7d, 0.0) AS mean_7d,
           coalesce(mean_28d, 0.0) AS mean_28d, coalesce(share_28d, 0.0) AS share_28d, coalesce(share_all, 0.0) AS share_all,
           coalesce(city_mean_28d, 0.0) AS city_mean_28d,
           coalesce(city_profile_mean, city_hour_of_week_mean_4w, 0.0) AS city_profile_mean,
           coalesce(city_hour_of_week_mean_4w, 0.0) AS city_hour_of_week_mean_4w,
           coalesce(share_28d, 0.0) * coalesce(city_hour_of_week_mean_4w, 0.0) AS profile_estimate,
           coalesce(city_last_24h_ratio, 1.0) AS city_last_24h_ratio,
           coalesce(neighbour_mean_28d, 0.0) AS neighbour_mean_28d,
           CAST(coalesce(population, 0) AS DOUBLE) AS population,
           d.orders AS actual
    FROM framed f LEFT JOIN d USING (h3_cell, hour_start)
    """


def demand_forecast(connection, settings: Settings, name: str) -> int:
    import h3
    import pandas as pd

    from citybrain.models import demand_pipeline
    from citybrain.schemas.gold.ride_hailing_demand import HORIZONS, DemandParams

    params = DemandParams()
    tz = params.timezone
    connection.execute("SET TimeZone = 'UTC'")
    if not demand_pipeline.versions(settings) or not exists(settings, "gold.ride_hailing_demand"):
        connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT NULL AS horizon WHERE false")
        return 0
    version, models, _ = demand_pipeline.load(settings)
    demand = scan(settings, "gold.ride_hailing_demand")
    calendar = scan(settings, "silver.calendar_day")
    first, last = connection.execute(f"SELECT min(hour_start), max(hour_start) FROM {demand}").fetchone()
    cells = [r[0] for r in connection.execute(f"SELECT DISTINCT h3_cell FROM {demand} ORDER BY 1").fetchall()]
    population = {}
    if exists(settings, "silver.grid"):
        cell_col = f"h3_r{params.resolution}"
        population = dict(
            connection.execute(f"SELECT {cell_col}, sum(population) FROM {scan(settings, 'silver.grid')} GROUP BY 1").fetchall()
        )
    centres = [h3.cell_to_latlng(c) for c in cells]
    cell_frame = pd.DataFrame(
        {
            "h3_cell": cells,
            "population": [float(population.get(c) or 0) for c in cells],
            "lat": [p[0] for p in centres],
            "lon": [p[1] for p in centres],
        }
    )
    known = set(cells)
    ring = pd.DataFrame([(c, n) for c in cells for n in h3.grid_disk(c, 1) if n != c and n in known], columns=["h3_cell", "neighbour"])
    connection.register("_cells", cell_frame)
    connection.register("_ring", ring)
    inputs = demand_pipeline.DemandInputs(None, None, None, None, tz, *_span(pd.Timestamp(first), pd.Timestamp(last), tz))
    origin_sets = {"24h": inputs.midnights(inputs.start + pd.Timedelta(days=params.history_days), inputs.end)}
    origin_sets.update({h: [inputs.end.to_pydatetime()] for h in HORIZONS if h != "24h"})
    parts = []
    for horizon, origins in origin_sets.items():
        connection.register("origins", pd.DataFrame({"origin": pd.to_datetime(origins, utc=True)}))
        frame = connection.execute(feature_sql(demand, calendar, HORIZONS[horizon], tz, params.history_days)).df()
        connection.unregister("origins")
        for c in ("origin", "hour_start"):
            frame[c] = pd.to_datetime(frame[c], utc=True)
        frame = frame.sort_values(["origin", "h3_cell", "hour_start"], kind="stable").reset_index(drop=True)
        parts.append(demand_pipeline.forecast_rows(models[horizon], frame, version, tz, params))
    connection.unregister("_cells")
    connection.unregister("_ring")
    table = pd.concat(parts, ignore_index=True)
    connection.register("_forecast_rows", table)
    connection.execute(
        f"CREATE OR REPLACE TABLE {name} AS SELECT * REPLACE (CAST(actual AS BIGINT) AS actual, CAST(lead_hours AS INTEGER) AS lead_hours) FROM _forecast_rows"
    )
    connection.unregister("_forecast_rows")
    return len(table)


def _span(first, last, tz: str):
    """(first local midnight of the data, the hour after its last hour), as UTC instants (as the product's load_inputs)."""
    import pandas as pd

    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tzinfo is None else last.tz_convert("UTC")
    start = first.tz_convert(tz).ceil("D").tz_convert("UTC") if first.tz_convert(tz).hour else first
    return start, last + pd.Timedelta(hours=1)
