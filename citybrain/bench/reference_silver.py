"""DuckDB references of the silver refine, one per entity: typing, dedup and placement on the grid.

Each reads the source's whole bronze Delta table and, in DuckDB SQL (citybrain.bench.duck):
types every field as the source mapping declares (BLANKS trim, the mapping's timestamp
formats read in the source's time zone and turned to UTC, numbers, flags, codes), tokenises
and masks personal fields with the installation's key (HMAC-SHA256, the same token as the
product's), scrubs free text, places located records on the grid (silver.grid) with their H3
cells, drops the rows a row rule refuses (counted in ``<name>_quarantined``) and keeps the
latest version per key (ties: the later file and record). Mapping fields written as Spark SQL
(``sql:``) are written again here in DuckDB SQL, per entity.
"""

from __future__ import annotations

from citybrain import lake, privacy
from citybrain.bench import Reference, duck
from citybrain.jobs.silver.refine import EARLIEST_YEAR, FUTURE_TOLERANCE_HOURS, IDENTIFIER_PATTERN
from citybrain.schemas.sources import get_source
from citybrain.settings import Settings

#: the mappings' ``sql:`` fields in DuckDB SQL, over the bronze columns
SQL_FIELDS: dict[str, dict[str, str]] = {
    "hotline": {
        "complaint_id": "'demo_12345:' || trim(ticket_no)",
        "is_direct_answer": "trim(handling_mode) = '直接答复'",
        "resolution_note": "CAST(NULL AS VARCHAR)",
    },
    "ridehailing": {"is_compliant": "trim(driver_cert_valid) = '1' AND trim(vehicle_cert_valid) = '1'"},
    "police": {"is_dispute": "coalesce(type_name LIKE '%纠纷%', false)"},
    "petitions": {
        "is_collective": "trim(visit_kind) = '集体访'",
        "lon": "CAST(NULL AS DOUBLE)",
        "lat": "CAST(NULL AS DOUBLE)",
    },
    "urban_cases": {"case_event_id": "trim(case_no) || ':' || trim(event_seq)"},
    "calendar": {
        "date": "CAST(try_strptime(nullif(trim(\"date\"), ''), '%Y-%m-%d') AS DATE)",
        "delivered_on": "CAST(dt AS TIMESTAMP)",
    },
}


def field_sql(spec, mapping, source: str, key: str) -> str:
    a = spec.argument
    if spec.kind == "id":
        return duck.text(a)
    if spec.kind == "text":
        return duck.scrub(duck.text(a))
    if spec.kind == "timestamp":
        times = [duck.utc_timestamp(c, mapping.timestamp_formats, mapping.timezone) for c in a.split("|")]
        return f"coalesce({', '.join(times)})"
    if spec.kind in ("double", "int"):
        return f"TRY_CAST({duck.text(a)} AS {'DOUBLE' if spec.kind == 'double' else 'INTEGER'})"
    if spec.kind == "bool":
        return duck.boolean(a)
    if spec.kind == "code":
        return duck.code(a, mapping.codes[spec.name])
    if spec.kind == "const":
        return duck.quote(a)
    if spec.kind == "sql":
        return SQL_FIELDS[source][spec.name]
    if spec.kind == "token":
        return duck.token(a, key)
    if spec.kind == "mask_phone":
        return duck.mask_phone(a)
    if spec.kind == "mask_name":
        return duck.mask_name(a)
    return duck.scrub(f'"{a}"')  # scrub


def rule_conditions(mapping) -> list[str]:
    """The row rules (jobs/silver/refine.row_rules) as DuckDB conditions a kept row meets."""
    located = set(mapping.locate.values())
    numeric = ("timestamp", "double", "int")
    rules = ["_parse_error IS NULL"]
    rules += [f'"{name}" IS NOT NULL' for name in mapping.required]
    rules += [
        f'(_raw_{f.name} IS NULL OR "{f.name}" IS NOT NULL)'
        for f in mapping.fields
        if f.kind in numeric and f.name not in mapping.required and f.name not in located
    ]
    rules += [f'("{f.name}" IS NULL OR regexp_matches("{f.name}", \'{IDENTIFIER_PATTERN}\'))' for f in mapping.fields if f.kind == "id"]
    rules += [f"({rule['valid_when']})" for rule in mapping.rules]
    now = "timezone('UTC', now())"
    for t in dict.fromkeys(c for c in (mapping.partition_time, mapping.version) if c):
        rules.append(f'"{t}" <= {now} + INTERVAL {FUTURE_TOLERANCE_HOURS} HOURS')
        rules.append(f"\"{t}\" >= TIMESTAMP '{EARLIEST_YEAR}-01-01 00:00:00'")
    if mapping.locate:
        rules.append("location_method IS NOT NULL")
    return [f"coalesce({r}, false)" for r in rules]


def refine_reference(source: str, key_columns: tuple[str, ...]) -> Reference:
    spec = get_source(source)
    mapping = spec.silver

    def build(connection, settings: Settings, name: str) -> int:
        key = privacy.pii_key(settings)
        bronze = lake.table_location(settings, f"bronze.{source}")
        numeric = [f for f in mapping.fields if f.kind in ("timestamp", "double", "int") and f.bronze_column]
        columns = [f'{field_sql(f, mapping, source, key)} AS "{f.name}"' for f in mapping.fields]
        columns += [f"{duck.text(f.bronze_column)} AS _raw_{f.name}" for f in numeric]
        connection.execute(f"""
            CREATE OR REPLACE TEMP TABLE {name}_typed AS
            SELECT {", ".join(columns)}, _batch_id, _source_file, _source_row, _parse_error, dt AS _drop_dt
            FROM delta_scan({duck.quote(bronze)})""")
        rows = f"SELECT * FROM {name}_typed"
        if mapping.locate:
            duck.prepare(connection, lake.table_location(settings, "silver.grid"))
            loc = mapping.locate
            rows = duck.located(
                connection, f"{name}_typed", lon=loc["lon"], lat=loc["lat"],
                community=loc.get("community"), street=loc.get("street"), district=loc.get("district"),
            )  # fmt: skip
        valid = " AND ".join(rule_conditions(mapping))
        day = duck.local_date(f'"{mapping.partition_time}"', mapping.timezone) if mapping.partition_time else "_drop_dt"
        keys = ", ".join(f'"{k}"' for k in mapping.key)
        connection.execute(f"CREATE OR REPLACE TEMP TABLE {name}_rows AS SELECT *, {valid} AS _valid FROM ({rows})")
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {name}_quarantined AS SELECT _source_file, _source_row FROM {name}_rows WHERE NOT _valid"
        )
        # the latest version per key, ranked on the narrow columns, then the winners' whole rows
        connection.execute(f"""
            CREATE OR REPLACE TEMP TABLE {name} AS
            SELECT * EXCLUDE (_valid), {day} AS dt FROM {name}_rows WHERE rowid IN (
                SELECT rowid FROM {name}_rows WHERE _valid
                QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY "{mapping.version}" DESC, _source_file DESC, _source_row DESC) = 1)""")
        for suffix in ("typed", "typed_hits", "rows"):
            connection.execute(f"DROP TABLE IF EXISTS {name}_{suffix}")
        return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]

    return Reference(f"silver.{mapping.entity}", key_columns, build)


_PLACE = ("grid_code", "location_method", "h3_r9")

SILVER_REFERENCES: dict[str, Reference] = {
    "complaint": refine_reference(
        "hotline",
        ("complaint_id", "received_at", "updated_at", "resolved_at", *_PLACE, "community_code", "caller_token", "status_code", "lon", "dt"),
    ),
    "ride_trip": refine_reference(
        "ridehailing", ("order_id", "ordered_at", "uploaded_at", *_PLACE, "driver_token", "fare_yuan", "is_compliant", "dt")
    ),
    "police_incident": refine_reference(
        "police", ("incident_no", "called_at", "arrived_at", *_PLACE, "caller_token", "severity", "is_dispute", "dt")
    ),
    "petition": refine_reference(
        "petitions", ("petition_no", "registered_on", *_PLACE, "petitioner_token", "people_count", "is_repeat", "dt")
    ),
    "urban_case_event": refine_reference(
        "urban_cases", ("case_event_id", "event_at", "deadline", *_PLACE, "event_code", "is_urgent", "lon", "dt")
    ),
    "calendar_day": refine_reference("calendar", ("date", "weekday", "is_workday", "temp_max_c", "aqi", "delivered_on")),
}


def _derive_urban_cases(connection, settings: Settings, name: str) -> int:
    """silver.urban_case from the reference's own events (built first when this connection has none yet)."""
    from citybrain.jobs.silver.urban_case import CITIZEN_SOURCES, LOCAL_TZ

    events = "ref_silver_urban_case_event"
    if not connection.execute(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{events}'").fetchone()[0]:
        SILVER_REFERENCES["urban_case_event"].build(connection, settings, events)
    first = lambda c: f"min(event_at) FILTER (WHERE event_code = '{c}')"  # noqa: E731
    last = lambda c: f"max(event_at) FILTER (WHERE event_code = '{c}')"  # noqa: E731
    latest = ", ".join(
        f"arg_max({c}, event_at) FILTER (WHERE {c} IS NOT NULL) AS {c}" for c in ("category", "major_type", "minor_type", "handler_unit")
    )
    place = (
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
    )
    minutes = lambda a, b: f"(epoch_us({b}) - epoch_us({a})) / 60000000.0"  # noqa: E731
    citizen = ", ".join(duck.quote(s) for s in CITIZEN_SOURCES)
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH cases AS (
            SELECT case_no, coalesce({first("reported")}, min(event_at)) AS reported_at, {first("verified")} AS verified_at,
                   {first("filed")} AS filed_at, {first("dispatched")} AS dispatched_at, {last("handled")} AS handled_at,
                   {last("checked")} AS checked_at, {last("closed")} AS closed_at, max(deadline) AS deadline,
                   CAST(count(*) FILTER (WHERE event_code = 'rework') AS INTEGER) AS rework_count,
                   coalesce(bool_or(event_code = 'postponed'), false) AS postponed,
                   coalesce(bool_or(event_code = 'voided'), false) AS voided, bool_or(is_urgent) AS is_urgent,
                   arg_min(source, event_at) FILTER (WHERE source IS NOT NULL) AS source, {latest},
                   {", ".join(f"arg_min_null({c}, event_at) AS {c}" for c in place)},
                   CAST(count(*) AS INTEGER) AS events, max(event_at) AS updated_at
            FROM {events} GROUP BY case_no)
        SELECT *, source IN ({citizen}) AS is_citizen_report,
               CASE WHEN deadline IS NOT NULL THEN coalesce(handled_at, updated_at) > deadline END AS is_overdue,
               CASE WHEN voided THEN 'voided' WHEN closed_at IS NOT NULL THEN 'closed' WHEN handled_at IS NOT NULL THEN 'handled'
                    WHEN dispatched_at IS NOT NULL THEN 'dispatched' WHEN filed_at IS NOT NULL THEN 'filed' ELSE 'reported' END AS status,
               {minutes("reported_at", "filed_at")} AS minutes_to_file, {minutes("reported_at", "closed_at")} AS minutes_to_close,
               {duck.local_date("reported_at", LOCAL_TZ)} AS dt
        FROM cases""")
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


SILVER_REFERENCES["urban_case"] = Reference(
    "silver.urban_case",
    (
        "case_no",
        "reported_at",
        "closed_at",
        "status",
        "rework_count",
        "is_overdue",
        "grid_code",
        "minutes_to_close",
        "source",
        "category",
        "dt",
    ),
    _derive_urban_cases,
)


def _grid(connection, settings: Settings, name: str) -> int:
    """silver.grid from bronze.registry: GeoJSON polygons checked and centred, H3 of the centroid, the latest drop per grid."""
    duck.load_spatial(connection)
    bronze = duck.quote(lake.table_location(settings, "bronze.registry"))
    number = lambda c: f"TRY_CAST(TRY_CAST(trim({c}) AS DOUBLE) AS INTEGER) AS {c}"  # noqa: E731
    trimmed = ", ".join(
        f"trim({c}) AS {c}"
        for c in ("grid_name", "community_code", "community_name", "street_code", "street_name", "district_code", "district_name")
    )
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name}_parsed AS
        SELECT *, TRY(ST_GeomFromGeoJSON(geometry)) AS geom FROM delta_scan({bronze})""")
    good = """_parse_error IS NULL AND nullif(trim(grid_code), '') IS NOT NULL AND geom IS NOT NULL
        AND ST_GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON') AND NOT ST_IsEmpty(geom) AND ST_IsValid(geom)
        AND ST_X(ST_Centroid(geom)) BETWEEN -180 AND 180 AND ST_Y(ST_Centroid(geom)) BETWEEN -90 AND 90"""
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {name}_quarantined AS SELECT * FROM {name}_parsed WHERE NOT coalesce({good}, false)")
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH latest AS (
            SELECT * FROM {name}_parsed WHERE coalesce({good}, false)
            QUALIFY row_number() OVER (PARTITION BY trim(grid_code) ORDER BY dt DESC, _ingested_at DESC, _source_file DESC, _source_row DESC) = 1),
        typed AS (
            SELECT trim(grid_code) AS grid_code, {trimmed}, {number("population")}, {number("households")},
                   TRY_CAST(trim(area_m2) AS DOUBLE) AS area_m2, ST_AsText(geom) AS geometry_wkt,
                   ST_X(ST_Centroid(geom)) AS centroid_lon, ST_Y(ST_Centroid(geom)) AS centroid_lat, _source_file
            FROM latest)
        SELECT *, h3[1] AS h3_r7, h3[2] AS h3_r8, h3[3] AS h3_r9
        FROM (SELECT *, h3_cells(centroid_lon, centroid_lat) AS h3 FROM typed)""")
    connection.execute(f"DROP TABLE {name}_parsed")
    return connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]


# centroids agree within 3e-14 degrees, but the regular demo grid puts some exactly on a 6-decimal
# rounding edge, so they are compared through their H3 cells rather than as numbers
SILVER_REFERENCES["grid"] = Reference(
    "silver.grid", ("grid_code", "community_code", "district_name", "population", "area_m2", "h3_r7", "h3_r9"), _grid
)
