"""DuckDB SQL for the silver references: the mapping's typing rules, tokens and masks, and
placement on the grid, written again from their definitions (schemas/mapping.py,
citybrain.privacy, jobs/silver/mapping.py and geo.py) rather than translated from the Spark code.

What the placement does: a point on a unit grid (``point``, lowest grid_code on edges), the
swapped point (``point_swapped``), the community's population-weighted centroid
(``community``), and H3 cells r7-r9 of the placed point. H3 runs as a vectorised Python UDF
over Arrow on the distinct placed points (DuckDB has no H3 extension here). It does not
convert GCJ-02 coordinates (every demo source sends WGS84) nor write the location_issue text.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from citybrain.jobs.silver.mapping import BLANKS
from citybrain.privacy import _FULL_WIDTH_DIGITS, TEXT_PATTERNS
from citybrain.schemas.mapping import FALSE_WORDS, TRUE_WORDS

_BLANKS_SQL = " || ".join(f"chr({ord(c)})" for c in BLANKS)
#: Spark datetime pattern letters -> strptime codes (DuckDB reads one- or two-digit fields alike)
_PATTERN_CODES = (
    ("yyyy", "%Y"),
    ("MM", "%m"),
    ("M", "%m"),
    ("dd", "%d"),
    ("d", "%d"),
    ("HH", "%H"),
    ("H", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
)


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def text(column: str) -> str:
    """The raw value trimmed of BLANKS, empty -> null."""
    return f"nullif(trim(\"{column}\", {_BLANKS_SQL}), '')"


def strptime_format(spark_pattern: str) -> str:
    out, i = "", 0
    while i < len(spark_pattern):
        for token, code in _PATTERN_CODES:
            if spark_pattern.startswith(token, i):
                out, i = out + code, i + len(token)
                break
        else:
            out, i = out + spark_pattern[i], i + 1
    return out


def utc_timestamp(column: str, formats: tuple[str, ...], timezone: str) -> str:
    """Local wall time in ``timezone`` (the first format that reads the value) -> naive UTC."""
    parsed = ", ".join(f"try_strptime({text(column)}, {quote(strptime_format(f))})" for f in formats)
    return f"timezone('UTC', timezone({quote(timezone)}, coalesce({parsed})))"


def local_date(column: str, timezone: str) -> str:
    return f"CAST(timezone({quote(timezone)}, timezone('UTC', {column})) AS DATE)"


def token(column: str, key: str) -> str:
    """HMAC-SHA256 (hex) of the space-trimmed value with the installation key."""
    raw = key.encode()
    if len(raw) > 64:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(64, b"\0")
    ipad, opad = bytes(b ^ 0x36 for b in raw).hex(), bytes(b ^ 0x5C for b in raw).hex()
    value = f"nullif(trim(\"{column}\"), '')"
    inner = f"unhex(sha256(unhex('{ipad}') || encode({value})))"
    return f"sha256(unhex('{opad}') || {inner})"


def mask_phone(column: str) -> str:
    digits = f"regexp_replace(\"{column}\", '[^0-9]', '', 'g')"
    return f"CASE WHEN length({digits}) >= 7 THEN left({digits}, 3) || '****' || right({digits}, 4) END"


def mask_name(column: str) -> str:
    name = f"nullif(trim(\"{column}\"), '')"
    return f"substr({name}, 1, 1) || regexp_replace(substr({name}, 2, 100), '.', '*', 'g')"


def scrub(expression: str) -> str:
    out = f"translate({expression}, '{_FULL_WIDTH_DIGITS}', '0123456789')"
    for _, pattern, placeholder in TEXT_PATTERNS:
        replacement = placeholder.replace("$", "\\")
        out = f"regexp_replace({out}, {quote(pattern)}, {quote(replacement)}, 'g')"
    return out


def boolean(column: str) -> str:
    words = lambda ws: ", ".join(quote(w) for w in ws)  # noqa: E731
    value = f"lower({text(column)})"
    return f"CASE WHEN {value} IN ({words(TRUE_WORDS)}) THEN true WHEN {value} IN ({words(FALSE_WORDS)}) THEN false END"


def code(column: str, table: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {quote(raw)} THEN {quote(c)}" for raw, c in table.items())
    return f"CASE {text(column)} {whens} END"


# --- placement ---------------------------------------------------------------------------


def load_spatial(connection) -> None:
    """Load the spatial extension (from its wheel: no download) and register ``h3_cells(lon, lat)``."""
    import duckdb_extension_spatial

    if connection.execute("SELECT count(*) FROM duckdb_functions() WHERE function_name = 'h3_cells'").fetchone()[0]:
        return
    folder = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{duckdb.__version__}"
    connection.execute(f"LOAD '{folder / 'spatial.duckdb_extension'}'")
    connection.create_function("h3_cells", _h3_cells, ["DOUBLE", "DOUBLE"], "VARCHAR[]", type="arrow")


def prepare(connection, grid_location: str) -> None:
    """Load spatial, register the H3 UDF and build ``ref_grid`` and ``ref_community`` once per connection."""
    if connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ref_grid'").fetchone()[0]:
        return
    load_spatial(connection)
    connection.execute(f"""
        CREATE TEMP TABLE ref_grid AS
        SELECT grid_code, community_code, street_code, district_code,
               coalesce(trim(district_name), '') AS d, coalesce(trim(street_name), '') AS s,
               coalesce(trim(community_name), '') AS c, greatest(coalesce(population, 0), 0) AS w,
               centroid_lon AS cx, centroid_lat AS cy, ST_GeomFromText(geometry_wkt) AS geom
        FROM delta_scan({quote(grid_location)})""")
    connection.execute("""
        CREATE TEMP TABLE ref_community AS
        WITH centre AS (
            SELECT d, s, c, CASE WHEN sum(w) > 0 THEN sum(w * cx) / sum(w) ELSE avg(cx) END AS lon,
                   CASE WHEN sum(w) > 0 THEN sum(w * cy) / sum(w) ELSE avg(cy) END AS lat
            FROM ref_grid WHERE c <> '' GROUP BY d, s, c),
        nearest AS (
            SELECT k.d, k.s, k.c, k.lon, k.lat,
                   arg_min(g.grid_code, (ST_Distance(g.geom, ST_Point(k.lon, k.lat)), g.grid_code)) AS grid_code,
                   min(ST_Distance(g.geom, ST_Point(k.lon, k.lat))) AS distance
            FROM centre k JOIN ref_grid g USING (d, s, c) GROUP BY ALL)
        SELECT *, h3_cells(lon, lat) AS h3 FROM (
            SELECT n.d, n.s, n.c, n.grid_code,
                   CASE WHEN n.distance > 0 THEN g.cx ELSE n.lon END AS lon,
                   CASE WHEN n.distance > 0 THEN g.cy ELSE n.lat END AS lat
            FROM nearest n JOIN ref_grid g USING (grid_code))""")


def _h3_cells(lon: pa.Array, lat: pa.Array) -> pa.Array:
    """[r7, r8, r9] cells of each point, null where a coordinate is null."""
    from citybrain import h3cells

    x, y = lon.to_numpy(zero_copy_only=False), lat.to_numpy(zero_copy_only=False)
    n = len(x)
    by_resolution = pa.concat_arrays([h3cells.cells(y, x, r) for r in (7, 8, 9)])
    values = by_resolution.take(pa.array(np.arange(3 * n).reshape(3, n).T.ravel()))  # r7, r8, r9 of point 0, then of 1 ...
    missing = np.isnan(x) | np.isnan(y)  # a null coordinate arrives as NaN
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 3 * n + 1, 3), pa.int32()), values, mask=pa.array(missing))


def located(connection, typed: str, *, lon: str, lat: str, community=None, street=None, district=None) -> str:
    """A query: ``typed`` with grid and admin codes, H3 cells, located_lon/lat and location_method.

    The grid look-ups and H3 cells run once per distinct point (``<typed>_hits``); the rows are
    joined to them once.
    """
    connection.execute(f"""
        CREATE OR REPLACE TEMP TABLE {typed}_hits AS
        WITH points AS (SELECT DISTINCT "{lon}" AS x, "{lat}" AS y FROM {typed} WHERE isfinite("{lon}") AND isfinite("{lat}")),
        direct AS (
            SELECT p.x, p.y, min(g.grid_code) AS grid_code
            FROM points p JOIN ref_grid g ON ST_Intersects(g.geom, ST_Point(p.x, p.y)) GROUP BY ALL),
        swapped AS (
            SELECT p.x, p.y, min(g.grid_code) AS grid_code
            FROM points p ANTI JOIN direct USING (x, y)
            JOIN ref_grid g ON ST_Intersects(g.geom, ST_Point(p.y, p.x)) GROUP BY ALL),
        hits AS (
            SELECT x, y, grid_code, 'point' AS method, x AS px, y AS py FROM direct
            UNION ALL SELECT x, y, grid_code, 'point_swapped', y, x FROM swapped)
        SELECT *, h3_cells(px, py) AS h3 FROM hits""")
    grid, method, px, py, h3 = "h.grid_code", "h.method", "h.px", "h.py", "h.h3"
    fallback = ""
    if community:
        match = [f'k.c = trim(t."{community}")']
        match += [f'(t."{v}" IS NULL OR k.{a} = trim(t."{v}"))' for a, v in (("s", street), ("d", district)) if v]
        fallback = f"""
            LEFT JOIN (SELECT t.rowid AS r, any_value(k.grid_code) AS grid_code, any_value(k.lon) AS lon,
                              any_value(k.lat) AS lat, any_value(k.h3) AS h3
                       FROM {typed} t JOIN ref_community k ON {" AND ".join(match)}
                       WHERE t."{community}" IS NOT NULL GROUP BY t.rowid HAVING count(*) = 1) f ON f.r = t.rowid"""
        grid, px, py, h3 = "coalesce(h.grid_code, f.grid_code)", "coalesce(h.px, f.lon)", "coalesce(h.py, f.lat)", "coalesce(h.h3, f.h3)"
        method = "CASE WHEN h.grid_code IS NOT NULL THEN h.method WHEN f.grid_code IS NOT NULL THEN 'community' END"
    return f"""
        SELECT t.*, {grid} AS grid_code, g.community_code, g.street_code, g.district_code,
               ({h3})[1] AS h3_r7, ({h3})[2] AS h3_r8, ({h3})[3] AS h3_r9,
               {px} AS located_lon, {py} AS located_lat, {method} AS location_method
        FROM {typed} t LEFT JOIN {typed}_hits h ON h.x = t."{lon}" AND h.y = t."{lat}" {fallback}
        LEFT JOIN ref_grid g ON g.grid_code = {grid}"""
