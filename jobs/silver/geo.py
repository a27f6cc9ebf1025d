"""Locate records on the city's grid: unit grid, community, street, district and H3 cells.

Every silver job with a place in it calls ``locate``. The grid registry (``silver.grid``,
about 12,000 polygons) is collected once into a ``GridIndex``; the records never leave
Spark: ``locate`` runs as ``mapInArrow`` and places each Arrow batch at once with a
shapely 2 ``STRtree`` query over all of the batch's points.

How a record is placed (``location_method``):

* ``point`` — its own coordinates fall on a unit grid;
* ``point_swapped`` — they do not, but swapping longitude and latitude puts them on one
  (a common export slip);
* ``community`` — the coordinates are missing, not numbers or off the city, but the
  record names a community the registry knows: it is placed at that community's
  population-weighted centroid;
* null — it could not be placed; ``location_issue`` says why and the caller quarantines it.

``location_issue`` is null exactly when the record's own point was used.

There is no Sedona and no H3 in Spark SQL (on Sail or on a JVM Spark), so the spatial
work is Python inside ``mapInArrow``; only standard PySpark APIs are used.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from citybrain import h3cells
from citybrain.settings import Settings

H3_RESOLUTIONS = (7, 8, 9)

#: Columns ``locate`` adds, with their Spark types.
LOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("grid_code", "string"),
    ("community_code", "string"),
    ("street_code", "string"),
    ("district_code", "string"),
    ("h3_r7", "string"),
    ("h3_r8", "string"),
    ("h3_r9", "string"),
    ("located_lon", "double"),
    ("located_lat", "double"),
    ("location_method", "string"),
    ("location_issue", "string"),
)

CRS = ("wgs84", "gcj02")


# --- GCJ-02 ("Mars" coordinates) -------------------------------------------------------
# Chinese map APIs (AMap, Tencent, Baidu before its own BD-09 shift) publish GCJ-02
# coordinates. The WGS84 -> GCJ-02 transform below is the well-known public formula
# (Krasovsky 1940 ellipsoid constants); GCJ-02 -> WGS84 is its inverse by fixed-point
# iteration. It is written here only because no package in the pinned environment
# provides it (h3, shapely and pyproj have no GCJ-02); replace it if one is pinned.

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_dlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _gcj_dlon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 -> GCJ-02 (vectorised; points outside China are returned unchanged)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlat = _gcj_dlat(lon - 105.0, lat - 35.0)
    dlon = _gcj_dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def gcj02_to_wgs84(lon, lat, *, tolerance_deg: float = 1e-9, max_iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS84 by iterating the forward transform (converges to ~1e-9 degrees, < 1 mm)."""
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iterations):
        c_lon, c_lat = wgs84_to_gcj02(w_lon, w_lat)
        d_lon, d_lat = c_lon - g_lon, c_lat - g_lat
        w_lon, w_lat = w_lon - d_lon, w_lat - d_lat
        finite = np.isfinite(d_lon) & np.isfinite(d_lat)
        if not finite.any() or max(np.abs(d_lon[finite]).max(), np.abs(d_lat[finite]).max()) < tolerance_deg:
            break
    return w_lon, w_lat


# --- the grid index ---------------------------------------------------------------------


@dataclass(frozen=True)
class CommunityPlace:
    """Where a record known only by its community is placed: a point on one of its grids."""

    lon: float
    lat: float
    grid_row: int  # row of the grid the point falls on, in GridIndex order


class GridIndex:
    """The city's unit grids, ready for point-in-polygon lookups and community look-ups.

    Picklable (it is shipped inside the ``mapInArrow`` function): polygons travel as WKB,
    the shapely geometries and the STRtree are rebuilt lazily where it is used.
    """

    def __init__(self, grids: pd.DataFrame) -> None:
        grids = grids.sort_values("grid_code", kind="stable").reset_index(drop=True)
        self.grid_code = grids["grid_code"].to_numpy(object)
        self.community_code = grids["community_code"].to_numpy(object)
        self.street_code = grids["street_code"].to_numpy(object)
        self.district_code = grids["district_code"].to_numpy(object)
        self._wkb = [bytes(b) for b in _shapely().to_wkb(_shapely().from_wkt(grids["geometry_wkt"].to_numpy(object)))]
        self._polygons = None
        self._tree = None
        minx, miny, maxx, maxy = _shapely().total_bounds(self.polygons)
        self.bbox = (float(minx), float(miny), float(maxx), float(maxy))
        self.communities: dict[tuple[str, str, str], CommunityPlace] = {}
        self.by_community_name: dict[str, list[tuple[str, str, str]]] = {}
        self._build_communities(grids)

    def __len__(self) -> int:
        return len(self.grid_code)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_polygons": None, "_tree": None}

    @property
    def polygons(self) -> np.ndarray:
        if self._polygons is None:
            self._polygons = _shapely().from_wkb(np.array(self._wkb, dtype=object))
        return self._polygons

    @property
    def tree(self):
        if self._tree is None:
            self._tree = _shapely().STRtree(self.polygons)
        return self._tree

    def _build_communities(self, grids: pd.DataFrame) -> None:
        shapely = _shapely()
        names = grids[["district_name", "street_name", "community_name"]].fillna("").map(str.strip)
        population = pd.to_numeric(grids["population"], errors="coerce").fillna(0).clip(lower=0).to_numpy(float)
        cx = grids["centroid_lon"].to_numpy(float)
        cy = grids["centroid_lat"].to_numpy(float)
        for key, rows in names.groupby(["district_name", "street_name", "community_name"], sort=True).indices.items():
            if not key[2]:
                continue
            weights = population[rows] if population[rows].sum() > 0 else np.ones(len(rows))
            lon = float(np.average(cx[rows], weights=weights))
            lat = float(np.average(cy[rows], weights=weights))
            point = shapely.points(lon, lat)
            distance = shapely.distance(self.polygons[rows], point)
            nearest = int(rows[int(np.argmin(distance))])
            if distance.min() > 0:
                # the weighted centroid of an odd-shaped community can fall outside it:
                # place the record at the centre of the community's grid nearest to it
                lon, lat = float(cx[nearest]), float(cy[nearest])
            self.communities[key] = CommunityPlace(lon, lat, nearest)
            self.by_community_name.setdefault(key[2], []).append(key)

    def find_community(
        self, community: str | None, street: str | None = None, district: str | None = None
    ) -> tuple[CommunityPlace | None, str]:
        """The place of a community named by the record, or None and why not."""
        community, street, district = (_clean(v) for v in (community, street, district))
        if not community:
            return None, "community missing"
        keys = self.by_community_name.get(community, [])
        if street:
            keys = [k for k in keys if k[1] == street]
        if district:
            keys = [k for k in keys if k[0] == district]
        if len(keys) == 1:
            return self.communities[keys[0]], ""
        where = "".join(f" in {level} {name!r}" for level, name in (("street", street), ("district", district)) if name)
        if not keys:
            return None, f"unknown community {community!r}{where}"
        return None, f"community {community!r}{where} is ambiguous: {len(keys)} communities have that name"

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Row of the grid each point falls on (edges count; the lowest grid_code wins), -1 for none."""
        shapely = _shapely()
        out = np.full(len(lon), -1, dtype=np.int64)
        where, codes, u_lon, u_lat = _unique_points(lon, lat)
        if not len(where):
            return out
        hits = self.tree.query(shapely.points(u_lon, u_lat), predicate="intersects")
        best = np.full(len(u_lon), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, hits[0], hits[1])
        best[best == np.iinfo(np.int64).max] = -1
        out[where] = best[codes]
        return out

    def in_bbox(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        minx, miny, maxx, maxy = self.bbox
        return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def _unique_points(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows with a finite point, each such row's index into the uniques, unique lon, unique lat).

    Records repeat coordinates (address points, stations), so the lookups and H3 cells are
    computed once per distinct point.
    """
    where = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    codes, uniques = pd.factorize(lon[where] + 1j * lat[where])
    uniques = np.asarray(uniques, dtype=complex)
    return where, codes, uniques.real.copy(), uniques.imag.copy()


def _shapely():
    import shapely

    return shapely


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


GRID_INDEX_COLUMNS = (
    "grid_code",
    "community_code",
    "community_name",
    "street_code",
    "street_name",
    "district_code",
    "district_name",
    "population",
    "geometry_wkt",
    "centroid_lon",
    "centroid_lat",
)


def grid_index(grid_df) -> GridIndex:
    """A GridIndex from a DataFrame shaped like ``silver.grid`` (collects ~12k small rows, as Arrow:
    Row objects would cost 0.15 s more)."""
    grids = grid_df.select(*GRID_INDEX_COLUMNS).toArrow().to_pandas()
    if grids.empty:
        raise ValueError("the grid registry is empty: run the silver grid job first")
    return GridIndex(grids)


#: the last index built, by (location, table id, version) of silver.grid
_LOADED: dict[tuple[str, str, int], GridIndex] = {}


def load_grid_index(spark, settings: Settings) -> GridIndex:
    """The index of ``silver.grid`` as it is in the lake.

    Kept for the next refine in the same process while the table stays at the same version
    (collecting and parsing 12,000 polygons takes most of a second); a new version, or a
    table created anew at the same place (another id), builds it again.
    """
    from deltalake import DeltaTable

    from citybrain import lake

    location = lake.table_location(settings, "silver.grid")
    if not lake.exists(settings, "silver.grid"):
        return grid_index(lake.read(spark, settings, "silver.grid"))  # says the table is missing
    table = DeltaTable(location)
    state = (location, table.metadata().id, table.version())
    if state not in _LOADED:
        index = grid_index(lake.read(spark, settings, "silver.grid"))
        _LOADED.clear()
        _LOADED[state] = index
    return _LOADED[state]


# --- locate -------------------------------------------------------------------------------


def locate(
    df,
    index: GridIndex,
    *,
    lon: str,
    lat: str,
    community: str | None = None,
    street: str | None = None,
    district: str | None = None,
    crs: str = "wgs84",
):
    """``df`` with the LOCATION_COLUMNS added (see the module docstring for the rules).

    ``lon``/``lat`` may be text (bronze: possibly empty or garbage) or numbers; ``crs``
    says what they are in (``wgs84`` or ``gcj02``). ``community``/``street``/``district``
    name text columns used when the point itself cannot be used.
    """
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    if crs not in CRS:
        raise ValueError(f"crs must be one of {', '.join(CRS)}, not {crs!r}")
    names = set(df.columns)
    missing = [c for c in (lon, lat, community, street, district) if c is not None and c not in names]
    if missing:
        raise ValueError(f"locate: no column(s) {', '.join(missing)} in the DataFrame (it has {', '.join(df.columns)})")
    clash = [c for c, _ in LOCATION_COLUMNS if c in names]
    if clash:
        raise ValueError(f"locate would add column(s) the DataFrame already has: {', '.join(clash)}; rename them first")
    types = {"string": StringType(), "double": DoubleType()}
    schema = StructType([*df.schema.fields, *(StructField(c, types[t], True) for c, t in LOCATION_COLUMNS)])
    columns = {"lon": lon, "lat": lat, "community": community, "street": street, "district": district}

    def locate_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield locate_batch(batch, index, crs=crs, **columns)

    return df.mapInArrow(locate_batches, schema)


def _numbers(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, pa.Array]:
    """(values with NaN where unusable, empty mask, not-a-number mask, the raw column)."""
    import pyarrow.compute as pc

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        text = pc.utf8_trim_whitespace(column)
        empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
        try:  # fast path: every non-empty text is a number
            values = pc.cast(pc.if_else(empty, pa.scalar(None, text.type), text), pa.float64())
            values = values.to_numpy(zero_copy_only=False).astype(float)
        except pa.ArrowInvalid:
            series = pd.Series(text.to_pandas(), dtype=object)
            values = pd.to_numeric(series.where(~empty), errors="coerce").to_numpy(float)
        bad = ~empty & ~np.isfinite(values)
    else:
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float)
        empty = np.isnan(values)
        bad = np.isinf(values)
    return np.where(empty | bad, np.nan, values), empty, bad, column


def _h3_cells(lon: np.ndarray, lat: np.ndarray) -> dict[int, pa.Array]:
    """H3 cells of each finite point (null elsewhere), computed once per distinct point."""
    where, codes, u_lon, u_lat = _unique_points(lon, lat)
    index = np.full(len(lon), -1, dtype=np.int64)
    index[where] = codes
    rows = pa.array(index, mask=index < 0)  # each row's distinct point, null for none
    return {r: h3cells.cells(u_lat, u_lon, r).take(rows) for r in H3_RESOLUTIONS}


def _fmt(value: float) -> str:
    return repr(float(value))


def locate_batch(
    batch: pa.RecordBatch,
    index: GridIndex,
    *,
    lon: str,
    lat: str,
    community: str | None = None,
    street: str | None = None,
    district: str | None = None,
    crs: str = "wgs84",
) -> pa.RecordBatch:
    """Locate one Arrow batch (the work of ``locate``; usable on its own)."""
    n = batch.num_rows
    x, x_empty, x_bad, x_raw = _numbers(batch.column(lon))
    y, y_empty, y_bad, y_raw = _numbers(batch.column(lat))
    not_numbers = x_bad | y_bad
    missing = ~not_numbers & (x_empty | y_empty)
    numeric = ~(not_numbers | missing)

    def to_wgs84(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return gcj02_to_wgs84(a, b) if crs == "gcj02" else (a, b)

    px, py = to_wgs84(x, y)
    row = index.lookup(px, py)
    method = np.full(n, None, dtype=object)
    issue = np.full(n, None, dtype=object)
    out_x = np.full(n, np.nan)
    out_y = np.full(n, np.nan)

    on_grid = row >= 0
    method[on_grid] = "point"
    out_x[on_grid], out_y[on_grid] = px[on_grid], py[on_grid]

    off = np.flatnonzero(numeric & ~on_grid)
    if len(off):
        sx, sy = to_wgs84(y[off], x[off])
        swapped_row = index.lookup(sx, sy)
        hit = swapped_row >= 0
        rows = off[hit]
        row[rows] = swapped_row[hit]
        method[rows] = "point_swapped"
        out_x[rows], out_y[rows] = sx[hit], sy[hit]
        inside = index.in_bbox(px[off], py[off])
        for i, h, ins in zip(off, hit, inside, strict=True):
            where = f"lon={_fmt(x[i])} lat={_fmt(y[i])}"
            if h:
                issue[i] = f"lon/lat swapped: {where}"
            elif ins:
                issue[i] = f"coordinates on no grid of the city: {where}"
            else:
                issue[i] = f"coordinates outside the city: {where}"
    issue[missing] = "coordinates missing"
    for i in np.flatnonzero(not_numbers):
        bad = [raw[i].as_py() for raw, b in ((x_raw, x_bad[i]), (y_raw, y_bad[i])) if b]
        issue[i] = "coordinates not numbers: " + ", ".join(repr(v) for v in bad)

    unplaced = np.flatnonzero(row < 0)
    if len(unplaced) and community is not None:
        take = pa.array(unplaced)

        def texts(name: str | None) -> list:
            return batch.column(name).take(take).to_pylist() if name else [None] * len(unplaced)

        found: dict[tuple, tuple[CommunityPlace | None, str]] = {}
        for i, *key in zip(unplaced, texts(community), texts(street), texts(district), strict=True):
            key = tuple(key)
            if key not in found:
                found[key] = index.find_community(*key)
            place, why = found[key]
            if place is None:
                issue[i] = f"{issue[i]}; {why}"
            else:
                row[i] = place.grid_row
                method[i] = "community"
                out_x[i], out_y[i] = place.lon, place.lat

    placed = row >= 0
    codes = {
        "grid_code": index.grid_code,
        "community_code": index.community_code,
        "street_code": index.street_code,
        "district_code": index.district_code,
    }
    new: dict[str, pa.Array] = {}
    for name, values in codes.items():
        new[name] = pa.array(np.where(placed, values[np.where(placed, row, 0)], None), type=pa.string())
    cells = _h3_cells(np.where(placed, out_x, np.nan), np.where(placed, out_y, np.nan))
    for r in H3_RESOLUTIONS:
        new[f"h3_r{r}"] = cells[r]
    new["located_lon"] = pa.array(out_x, type=pa.float64(), mask=~placed)
    new["located_lat"] = pa.array(out_y, type=pa.float64(), mask=~placed)
    new["location_method"] = pa.array(method, type=pa.string())
    new["location_issue"] = pa.array(issue, type=pa.string())
    return pa.RecordBatch.from_arrays(
        [*batch.columns, *(new[c] for c, _ in LOCATION_COLUMNS)],
        names=[*batch.schema.names, *(c for c, _ in LOCATION_COLUMNS)],
    )


def locate_without_registry(df, *, bbox: tuple[float, float, float, float], lon: str, lat: str, crs: str = "wgs84"):
    """``df`` with the LOCATION_COLUMNS added for a city that has no grid registry here.

    Records inside ``bbox`` (min_lon, min_lat, max_lon, max_lat) get their H3 cells and
    ``location_method = 'h3_only'``; grid and administrative codes stay null. Records
    outside it, or without usable coordinates, stay unplaced with the reason.
    """
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    if crs not in CRS:
        raise ValueError(f"crs must be one of {', '.join(CRS)}, not {crs!r}")
    types = {"string": StringType(), "double": DoubleType()}
    schema = StructType([*df.schema.fields, *(StructField(c, types[t], True) for c, t in LOCATION_COLUMNS)])
    min_lon, min_lat, max_lon, max_lat = bbox

    def place(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x, x_empty, x_bad, _ = _numbers(batch.column(lon))
            y, y_empty, y_bad, _ = _numbers(batch.column(lat))
            if crs == "gcj02":
                x, y = gcj02_to_wgs84(x, y)
            with np.errstate(invalid="ignore"):
                inside = (x >= min_lon) & (x <= max_lon) & (y >= min_lat) & (y <= max_lat)
            issue = np.full(batch.num_rows, None, dtype=object)
            for i in np.flatnonzero(~inside):
                if x_bad[i] or y_bad[i]:
                    issue[i] = "coordinates not numbers"
                elif x_empty[i] or y_empty[i]:
                    issue[i] = "coordinates missing"
                else:
                    issue[i] = f"coordinates outside the city: lon={_fmt(x[i])} lat={_fmt(y[i])}"
            cells = _h3_cells(np.where(inside, x, np.nan), np.where(inside, y, np.nan))
            nothing = pa.nulls(batch.num_rows, pa.string())
            new = {
                "grid_code": nothing,
                "community_code": nothing,
                "street_code": nothing,
                "district_code": nothing,
                **{f"h3_r{r}": cells[r] for r in H3_RESOLUTIONS},
                "located_lon": pa.array(x, type=pa.float64(), mask=~inside),
                "located_lat": pa.array(y, type=pa.float64(), mask=~inside),
                "location_method": pa.array(np.where(inside, "h3_only", None), type=pa.string()),
                "location_issue": pa.array(issue, type=pa.string()),
            }
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *(new[c] for c, _ in LOCATION_COLUMNS)],
                names=[*batch.schema.names, *(c for c, _ in LOCATION_COLUMNS)],
            )

    return df.mapInArrow(place, schema)
