"""The serving layer: a read-only DuckDB file of views over the lake, for Superset (no JVM).

``build_serving_db`` writes ``<state_dir>/serving/citybrain.duckdb``. Each served table is
a view over ``delta_scan()`` of its Delta table, so a query always reads the table's latest
commit: a new gold build shows in Superset without a restart. Only the small reference
table ``ref.h3_cells`` (which district and street an H3 cell belongs to, its centre and
outline) is stored in the file; it is derived from silver.grid and rebuilt with the views.

Views that carry a place (hotspots by H3 cell, scorecards by street) gain ``district_code``
and ``district_name`` so that Superset's row-level security can limit a district analyst
to their district. Raw quarantined records are not served (they may hold personal data):
``ops.quarantined`` lists every refused record's table, rule, reason, file and day.

Text that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return, and is not a plain number) is served with a leading ``'``, so
that no CSV or Excel download from Superset or SQL Lab can carry a formula from a
department's data into an analyst's spreadsheet (OWASP, CSV injection).

The file is built beside the old one and renamed over it, so a reader never sees half a
file. A reader must load the delta extension first (``delta_extension_path``): DuckDB
cannot download extensions here, so it is loaded by its path in the
``duckdb-extension-delta`` wheel that matches the pinned ``duckdb``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from citybrain import lake
from citybrain.schemas import all_contracts, get_contract
from citybrain.settings import Settings

log = logging.getLogger(__name__)

#: served tables: every gold table, and the operations tables that show data quality
SERVED_LAYERS = ("gold",)
SERVED_OPS = ("ops.batch_audit", "ops.ingest_ledger", "ops.quality_results")
#: quarantine columns that are served (``record`` holds the raw record, possibly personal data)
QUARANTINE_SERVED_COLUMNS = ("rule", "reason", "measured_value", "source_file", "source_row", "batch_id", "quarantined_at", "dt")


#: descriptions of the columns the views add to the contracts' columns (Superset shows them)
ADDED_COLUMNS = {
    "district_code": "district (区县) code of the row's place (silver.grid); row-level security filters on it",
    "district_name": "district (区县) name (silver.grid)",
    "street_code": "street (街道) holding most of the cell's registered residents (silver.grid)",
    "street_name": "street (街道) name (silver.grid)",
    "center_lat": "latitude of the H3 cell's centre, WGS84",
    "center_lon": "longitude of the H3 cell's centre, WGS84",
    "boundary_geojson": "the H3 cell's outline as a GeoJSON polygon (lon/lat)",
    "entity": "silver entity whose quarantine the record is in",
}


class ServingError(RuntimeError):
    """The serving file could not be built; the message names each view and why."""


_DUCKDB_TYPES = {
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}


def serving_db_path(settings: Settings) -> Path:
    return settings.state_dir / "serving" / "citybrain.duckdb"


def delta_extension_path() -> Path:
    """The delta extension inside the ``duckdb-extension-delta`` wheel for the installed duckdb."""
    import duckdb
    import duckdb_extension_delta

    path = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if not path.exists():
        raise FileNotFoundError(
            f"no delta extension for duckdb {duckdb.__version__} at {path}: install duckdb-extension-delta at the same version as duckdb"
        )
    return path


def connect(path: Path | str, *, read_only: bool = True):
    """A DuckDB connection with the delta extension loaded (by path: no download)."""
    import duckdb

    connection = duckdb.connect(str(path), read_only=read_only)
    connection.execute(f"LOAD '{delta_extension_path()}'")
    return connection


@dataclass(frozen=True)
class ServingReport:
    path: Path
    views: dict[str, int]  # view -> rows it reads now
    empty_views: tuple[str, ...]  # tables not built yet: served as empty views with the contract's columns

    def summary(self) -> str:
        waiting = f"; not built yet (empty): {', '.join(self.empty_views)}" if self.empty_views else ""
        return f"serving database {self.path}: {len(self.views)} views{waiting}"


def served_tables() -> list[str]:
    contracts = all_contracts()
    return [name for name in contracts if name.split(".")[0] in SERVED_LAYERS] + list(SERVED_OPS)


def build_serving_db(settings: Settings) -> ServingReport:
    """(Re)write the serving DuckDB file: one view per served table, plus ``ref`` and ``ops.quarantined``."""
    target = serving_db_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}.building")
    staging.unlink(missing_ok=True)
    empty: list[str] = []
    try:
        with connect(staging, read_only=False) as db:
            for schema in ("gold", "ops", "ref"):
                db.execute(f"CREATE SCHEMA {schema}")
            _write_reference(db, settings)
            for name in served_tables():
                if not _create_table_view(db, settings, name):
                    empty.append(name)
            _create_quarantined_view(db, settings)
            db.execute("CHECKPOINT")
        views = _check_views(staging)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    report = ServingReport(target, views, tuple(empty))
    log.info(report.summary())
    return report


def _scan(settings: Settings, name: str) -> str:
    location = lake.table_location(settings, name).replace("'", "''")
    return f"delta_scan('{location}')"


def _empty_select(name: str) -> str:
    """A query with the contract's columns and no rows, for a table that is not built yet."""
    columns = ", ".join(f'CAST(NULL AS {_DUCKDB_TYPES[c.type]}) AS "{c.name}"' for c in get_contract(name).columns)
    return f"SELECT {columns} WHERE false"


def neutralised(column: str) -> str:
    """SQL: the text column with a ``'`` before a value a spreadsheet would evaluate."""
    quoted = f'"{column}"'
    risky = f"left({quoted}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) AND NOT regexp_full_match({quoted}, '-?[0-9]+([.][0-9]+)?')"
    return f"CASE WHEN {risky} THEN chr(39) || {quoted} ELSE {quoted} END AS {quoted}"


def _safe_columns(columns, present: set[str] | None = None) -> str:
    """The contract's columns, text neutralised; a column the table does not have yet (it was
    written before the contract gained it) is served as null."""

    def one(c) -> str:
        if present is not None and c.name not in present:
            return f'CAST(NULL AS {_DUCKDB_TYPES[c.type]}) AS "{c.name}"'
        return neutralised(c.name) if c.type == "string" else f'"{c.name}"'

    return ", ".join(one(c) for c in columns)


def _table_columns(settings: Settings, name: str) -> set[str]:
    from deltalake import DeltaTable

    return {f.name for f in DeltaTable(lake.table_location(settings, name)).schema().fields}


def _create_table_view(db, settings: Settings, name: str) -> bool:
    """Create ``layer.table``; False when the table is not built yet (the view is then empty)."""
    built = lake.exists(settings, name)
    columns = get_contract(name).columns
    source = (
        f"SELECT {_safe_columns(columns, _table_columns(settings, name))} FROM {_scan(settings, name)}" if built else _empty_select(name)
    )
    view = _PLACE_JOINS.get(name, "SELECT * FROM source")
    db.execute(f"CREATE VIEW {name} AS WITH source AS ({source}) {view}")
    return built


# Views that gain the district (and, for cells, centre and outline) of each row's place.
_PLACE_JOINS = {
    "gold.complaint_hotspots": (
        "SELECT source.*, c.district_code, c.district_name, c.street_code, c.street_name, "
        "c.center_lat, c.center_lon, c.boundary_geojson "
        "FROM source LEFT JOIN ref.h3_cells c USING (h3_cell)"
    ),
    "gold.hotline_performance": (
        "SELECT source.*, s.district_code, s.district_name FROM source "
        "LEFT JOIN ref.streets s ON source.unit_type = 'street' AND source.unit_code = s.street_code"
    ),
    "gold.governance_scorecard": (
        "SELECT source.*, s.district_code, s.district_name FROM source "
        "LEFT JOIN ref.streets s ON source.unit_type = 'street' AND source.unit_code = s.street_code"
    ),
}
# the demand tables are per H3 cell too: the same place columns
_PLACE_JOINS["gold.ride_hailing_demand"] = _PLACE_JOINS["gold.demand_forecast"] = _PLACE_JOINS["gold.complaint_hotspots"]


def _grid_frame(settings: Settings):
    """silver.grid's place columns (pandas; empty before the registry is refined)."""
    import pandas as pd
    from deltalake import DeltaTable

    columns = ["street_code", "street_name", "district_code", "district_name", "population", "centroid_lat", "centroid_lon"]
    if not lake.exists(settings, "silver.grid"):
        return pd.DataFrame(columns=columns)
    grid = DeltaTable(lake.table_location(settings, "silver.grid")).to_pandas(columns=columns)
    grid = grid.dropna(subset=["centroid_lat", "centroid_lon"]).reset_index(drop=True)
    grid["population"] = grid["population"].fillna(0)
    return grid


def _write_reference(db, settings: Settings) -> None:
    """ref.streets, ref.districts (from the grid) and ref.h3_cells (every hotspot cell placed in a street)."""
    grid = _grid_frame(settings)
    streets = grid.drop_duplicates("street_code").sort_values("street_code")[
        ["street_code", "street_name", "district_code", "district_name"]
    ]
    cells = _place_cells(grid, _hotspot_cells(settings) | _demand_cells(settings))
    for table, frame in (("streets", streets), ("h3_cells", cells)):
        db.register("frame", frame.reset_index(drop=True))
        db.execute(f"CREATE TABLE ref.{table} AS SELECT * FROM frame")
        db.unregister("frame")
    db.execute("CREATE TABLE ref.districts AS SELECT DISTINCT district_code, district_name FROM ref.streets ORDER BY district_code")


def _hotspot_cells(settings: Settings) -> set[str]:
    from deltalake import DeltaTable

    if not lake.exists(settings, "gold.complaint_hotspots"):
        return set()
    table = DeltaTable(lake.table_location(settings, "gold.complaint_hotspots")).to_pyarrow_table(columns=["h3_cell"])
    return set(table.column("h3_cell").unique().to_pylist())


def _demand_cells(settings: Settings) -> set[str]:
    """Every cell of gold.ride_hailing_demand (its map and its anomalies place them too)."""
    from deltalake import DeltaTable

    if not lake.exists(settings, "gold.ride_hailing_demand"):
        return set()
    table = DeltaTable(lake.table_location(settings, "gold.ride_hailing_demand")).to_pyarrow_table(columns=["h3_cell"])
    return set(table.column("h3_cell").unique().to_pylist())


def _place_cells(grid, extra_cells: set[str]):
    """Each H3 cell's street and district: the street holding most of the population whose grid
    centroids fall in the cell (ties: lowest street code); a cell holding no grid centroid takes
    the street of the nearest one. Also the cell's centre and its outline as GeoJSON."""
    import json

    import h3
    import pandas as pd

    from citybrain.schemas.gold.complaint_hotspots import HotspotParams

    columns = [
        "h3_cell",
        "h3_resolution",
        "district_code",
        "district_name",
        "street_code",
        "street_name",
        "center_lat",
        "center_lon",
        "boundary_geojson",
    ]
    if grid.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c.startswith("center") else "object") for c in columns})
    resolution = HotspotParams().resolution
    grid = grid.assign(
        h3_cell=[h3.latlng_to_cell(lat, lon, resolution) for lat, lon in zip(grid.centroid_lat, grid.centroid_lon, strict=True)]
    )
    keys = ["h3_cell", "street_code", "street_name", "district_code", "district_name"]
    by_street = grid.groupby(keys, as_index=False)["population"].sum()
    by_street = by_street.sort_values(["h3_cell", "population", "street_code"], ascending=[True, False, True])
    placed = by_street.drop_duplicates("h3_cell").set_index("h3_cell")
    rows = []
    for cell in sorted(set(placed.index) | extra_cells):
        lat, lon = h3.cell_to_latlng(cell)
        if cell in placed.index:
            home = placed.loc[cell]
        else:
            home = grid.loc[((grid.centroid_lat - lat) ** 2 + (grid.centroid_lon - lon) ** 2).idxmin()]
        outline = [[round(p_lon, 6), round(p_lat, 6)] for p_lat, p_lon in h3.cell_to_boundary(cell)]
        geojson = json.dumps({"type": "Polygon", "coordinates": [outline + outline[:1]]})
        rows.append(
            (cell, h3.get_resolution(cell), home.district_code, home.district_name, home.street_code, home.street_name, lat, lon, geojson)
        )
    return pd.DataFrame(rows, columns=columns)


def _create_quarantined_view(db, settings: Settings) -> None:
    """ops.quarantined: every quarantine table's refused records (without the raw record), with the table's name."""
    parts = []
    for name in all_contracts():
        if name.startswith("quarantine.") and lake.exists(settings, name):
            entity = name.split(".")[1]
            served = [c for c in get_contract(name).columns if c.name in QUARANTINE_SERVED_COLUMNS]
            parts.append(
                f"SELECT '{entity}' AS entity, {_safe_columns(served, _table_columns(settings, name))} FROM {_scan(settings, name)}"
            )
    if not parts:
        some = next(n for n in all_contracts() if n.startswith("quarantine."))
        parts.append(f"SELECT CAST(NULL AS VARCHAR) AS entity, {', '.join(QUARANTINE_SERVED_COLUMNS)} FROM ({_empty_select(some)})")
    db.execute(f"CREATE VIEW ops.quarantined AS {' UNION ALL '.join(parts)}")


def _check_views(path: Path) -> dict[str, int]:
    """Read every view once through a read-only connection, as Superset will; a broken view fails the build here."""
    counts, broken = {}, []
    with connect(path) as db:
        views = db.execute("SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        for (view,) in views:
            try:
                counts[view] = db.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
            except Exception as error:  # noqa: BLE001 - every broken view is reported together
                broken.append(f"{view}: {str(error).splitlines()[0]}")
    if broken:
        raise ServingError("serving views that cannot be read (the previous serving file is kept): " + "; ".join(broken))
    return counts
