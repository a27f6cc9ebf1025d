"""The demo city's geometry and registry: districts, streets, communities, unit grids.

The urban core is a 12.2 km x 9.9 km rectangle of 100 m x 100 m unit grids (万米单元网格,
CJ/T 213) in a local equirectangular metric projection anchored at (118.70 E, 32.00 N);
grid edges are therefore straight lines of constant lon / lat and tile the city exactly.
Every grid carries ``POINTS_PER_GRID`` fixed "address points" (building entrances):
events are located on them, so each event's true coordinates — and the H3 cell used by
the planted truth — are known exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd

CITY_NAME = "示范市"
CITY_BBOX = (118.70, 32.00, 118.83, 32.09)  # min_lon, min_lat, max_lon, max_lat
LON0, LAT0 = 118.70, 32.00
GRID_M = 100.0
NCOLS, NROWS = 122, 99
POINTS_PER_GRID = 6
TOTAL_POPULATION = 1_000_000

_phi = math.radians(32.045)
M_PER_DEG_LAT = 111_132.92 - 559.82 * math.cos(2 * _phi) + 1.175 * math.cos(4 * _phi)
M_PER_DEG_LON = 111_412.84 * math.cos(_phi) - 93.5 * math.cos(3 * _phi)

# code, name, (col0, col1, row0, row1) — cols west->east, rows south->north, half-open
DISTRICTS = [
    ("329901", "东湖区", (82, 122, 0, 99)),
    ("329902", "西岭区", (0, 40, 0, 99)),
    ("329903", "南塘区", (40, 82, 0, 50)),
    ("329904", "北山区", (40, 82, 50, 99)),
]
STREET_NAMES = [
    "湖滨",
    "望江",
    "翠屏",
    "凤凰",
    "梧桐",
    "锦绣",
    "长乐",
    "安澜",
    "清源",
    "云台",
    "新桥",
    "金沙",
    "龙山",
    "柳营",
    "松涛",
    "白鹭",
]
_COMM_A = list("金银翠锦华兴安康和福瑞祥新丰泰宁庆嘉德永春秋明清")
_COMM_B = list("苑园庭湾坊里城居桥岸港林湖山泉溪")
EW_ROADS = ["长江路", "中山路", "建设路", "人民路", "解放路", "和平路", "北京路", "湖滨路", "新华路", "朝阳路", "北山路"]
NS_ROADS = ["西岭大道", "文昌路", "青年路", "胜利路", "工农路", "育才路", "光明路", "民主路", "友谊路", "东湖大道", "环城东路"]

LAKE = (10_300.0, 6_200.0, 900.0, 600.0)  # 东湖: centre x, y and semi-axes (m)
PARKS = [(2_500.0, 7_800.0, 350.0), (6_400.0, 3_000.0, 300.0), (5_200.0, 8_700.0, 450.0), (8_900.0, 1_800.0, 250.0)]
CENTRES = [
    (6_100.0, 4_950.0, 2_600.0, 1.0),
    (2_200.0, 3_500.0, 1_500.0, 0.5),
    (10_000.0, 3_200.0, 1_500.0, 0.45),
    (6_500.0, 8_000.0, 1_400.0, 0.4),
]
COMMERCE = [
    (6_100.0, 5_000.0, 900.0, 1.0),
    (2_400.0, 3_300.0, 600.0, 0.5),
    (9_800.0, 3_000.0, 700.0, 0.6),
    (4_300.0, 1_200.0, 300.0, 0.7),
]  # last: railway station
STATION = (4_300.0, 1_200.0)


def to_lonlat(x, y):
    """Local metres -> (lon, lat)."""
    return LON0 + np.asarray(x) / M_PER_DEG_LON, LAT0 + np.asarray(y) / M_PER_DEG_LAT


def to_xy(lon, lat):
    return (np.asarray(lon) - LON0) * M_PER_DEG_LON, (np.asarray(lat) - LAT0) * M_PER_DEG_LAT


def _splits(lo: int, hi: int, k: int) -> list[tuple[int, int]]:
    edges = np.linspace(lo, hi, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=False)]


@dataclass
class City:
    grids: pd.DataFrame  # one row per grid (registry columns + col,row,x,y,landuse,commerce)
    communities: pd.DataFrame  # community_code, names, street/district, population
    points: pd.DataFrame  # address points: grid index, lon, lat, h3_8, address, weights


def build_city(rng: np.random.Generator) -> City:
    col = np.tile(np.arange(NCOLS), NROWS)
    row = np.repeat(np.arange(NROWS), NCOLS)
    n = col.size
    comm_idx = np.full(n, -1)
    comm_rows = []
    street_no = 0
    stems = [a + b for a in _COMM_A for b in _COMM_B]
    stem_order = rng.permutation(len(stems))
    for dcode, dname, (c0, c1, r0, r1) in DISTRICTS:
        sdefs = [(a, b, c, d) for (c, d) in _splits(r0, r1, 2)[::-1] for (a, b) in _splits(c0, c1, 2)]
        for k, (a, b, c, d) in enumerate(sdefs):
            scode = f"{dcode}{k + 1:03d}"
            sname = STREET_NAMES[street_no] + "街道"
            street_no += 1
            nx, ny = [(2, 3), (2, 4), (3, 3), (3, 2)][rng.integers(0, 4)]
            blocks = [(ca, cb, ra, rb) for (ra, rb) in _splits(c, d, ny)[::-1] for (ca, cb) in _splits(a, b, nx)]
            for j, (ca, cb, ra, rb) in enumerate(blocks):
                ccode = f"{scode}{j + 1:03d}"
                cname = stems[stem_order[len(comm_rows)]] + "社区"
                mask = (col >= ca) & (col < cb) & (row >= ra) & (row < rb)
                comm_idx[mask] = len(comm_rows)
                comm_rows.append((ccode, cname, scode, sname, dcode, dname))
    assert (comm_idx >= 0).all()
    comms = pd.DataFrame(
        comm_rows, columns=["community_code", "community_name", "street_code", "street_name", "district_code", "district_name"]
    )
    x = (col + 0.5) * GRID_M
    y = (row + 0.5) * GRID_M

    # land use: water (lake), park, hill (north-west edge), built
    lake = ((x - LAKE[0]) / LAKE[2]) ** 2 + ((y - LAKE[1]) / LAKE[3]) ** 2 <= 1.0
    park = np.zeros(n, dtype=bool)
    for px, py, pr in PARKS:
        park |= (x - px) ** 2 + (y - py) ** 2 <= pr**2
    hill = (y > 9_000 - 0.25 * x) & (x < 3_600)
    landuse = np.where(lake, "water", np.where(park, "park", np.where(hill, "hill", "built")))
    dens = np.zeros(n)
    for cx, cy, s, a in CENTRES:
        dens += a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
    dens = (0.08 + dens) * rng.lognormal(0.0, 0.45, n)
    dens[landuse == "water"] = 0.0
    dens[landuse == "park"] = 0.0
    dens[landuse == "hill"] *= 0.05
    raw = dens / dens.sum() * TOTAL_POPULATION
    pop = np.floor(raw).astype(np.int64)
    short = TOTAL_POPULATION - pop.sum()
    pop[np.argsort(-(raw - pop), kind="stable")[:short]] += 1
    com = np.zeros(n)
    for cx, cy, s, a in COMMERCE:
        com += a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s**2))
    com = (0.02 + com) * rng.lognormal(0.0, 0.35, n)
    com[landuse == "water"] = 0.0
    com[landuse == "park"] *= 0.3

    # registry columns; grid number inside its community, north-west first
    order = np.lexsort((col, -row, comm_idx))
    gno = np.empty(n, dtype=np.int64)
    counts = np.bincount(comm_idx)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    gno[order] = np.arange(n) - np.repeat(starts, counts) + 1
    c = comms.iloc[comm_idx].reset_index(drop=True)
    grids = pd.DataFrame(
        {
            "grid_code": c["community_code"].to_numpy(dtype=object) + np.array([f"{g:03d}" for g in gno], dtype=object),
            "grid_name": c["community_name"].to_numpy(dtype=object) + np.array([f"第{g:03d}单元网格" for g in gno], dtype=object),
            "community_code": c["community_code"],
            "community_name": c["community_name"],
            "street_code": c["street_code"],
            "street_name": c["street_name"],
            "district_code": c["district_code"],
            "district_name": c["district_name"],
            "population": pop,
            "households": np.round(pop / 2.62).astype(np.int64),
            "area_m2": np.full(n, int(GRID_M * GRID_M)),
            "col": col,
            "row": row,
            "x": x,
            "y": y,
            "landuse": landuse,
            "commerce": com,
            "comm_idx": comm_idx,
        }
    )
    grids = grids.iloc[order].reset_index(drop=True)  # registry order: by community, NW first
    comms["population"] = grids.groupby("comm_idx")["population"].sum().reindex(range(len(comms))).to_numpy()
    return City(grids=grids, communities=comms, points=_address_points(rng, grids))


def _address_points(rng: np.random.Generator, grids: pd.DataFrame) -> pd.DataFrame:
    k = POINTS_PER_GRID
    gi = np.repeat(np.arange(len(grids)), k)
    px = (grids["col"].to_numpy()[gi] * GRID_M) + rng.uniform(6, 94, gi.size)
    py = (grids["row"].to_numpy()[gi] * GRID_M) + rng.uniform(6, 94, gi.size)
    lon, lat = to_lonlat(px, py)
    lon, lat = np.round(lon, 6), np.round(lat, 6)
    px, py = to_xy(lon, lat)
    cells = np.array([h3.latlng_to_cell(a, b, 8) for a, b in zip(lat, lon, strict=False)], dtype=object)
    # nearest road line: east-west roads every 900 m, north-south roads every 1,100 m
    ew = np.clip(np.round(py / 900.0), 0, len(EW_ROADS) - 1).astype(int)
    ns = np.clip(np.round(px / 1_100.0), 0, len(NS_ROADS) - 1).astype(int)
    d_ew = np.abs(py - ew * 900.0)
    d_ns = np.abs(px - ns * 1_100.0)
    on_ew = d_ew <= d_ns
    road = np.where(on_ew, np.array(EW_ROADS, dtype=object)[ew], np.array(NS_ROADS, dtype=object)[ns])
    along = np.where(on_ew, px, py)
    side = np.where(on_ew, py > ew * 900.0, px > ns * 1_100.0).astype(int)
    num = (np.floor(along / 24.0).astype(int) * 2 + 1 + side).astype(int)
    pop = grids["population"].to_numpy(dtype=float)[gi] / k
    com = grids["commerce"].to_numpy(dtype=float)[gi] / k
    return pd.DataFrame(
        {
            "grid": gi,
            "lon": lon,
            "lat": lat,
            "x": px,
            "y": py,
            "h3_8": cells,
            "road": road,
            "address": road + np.array([f"{v}号" for v in num], dtype=object),
            "w_pop": pop,
            "w_com": com,
            "comm_idx": grids["comm_idx"].to_numpy()[gi],
        }
    )


def registry_geojson(city: City) -> tuple[bytes, int]:
    """The registry drop: one Feature per grid, one feature per line."""
    g = city.grids
    x0 = g["col"].to_numpy() * GRID_M
    y0 = g["row"].to_numpy() * GRID_M
    lon0, lat0 = to_lonlat(x0, y0)
    lon1, lat1 = to_lonlat(x0 + GRID_M, y0 + GRID_M)
    props = [
        "grid_code",
        "grid_name",
        "community_code",
        "community_name",
        "street_code",
        "street_name",
        "district_code",
        "district_name",
        "population",
        "households",
        "area_m2",
    ]
    recs = g[props].to_dict("records")
    lines = []
    for i, p in enumerate(recs):
        a, b, c, d = (f"{lon0[i]:.6f}", f"{lat0[i]:.6f}", f"{lon1[i]:.6f}", f"{lat1[i]:.6f}")
        ring = f"[[{a},{b}],[{c},{b}],[{c},{d}],[{a},{d}],[{a},{b}]]"
        pj = ",".join(f'"{k}":' + (f'"{p[k]}"' if isinstance(p[k], str) else str(int(p[k]))) for k in props)
        lines.append('{"type":"Feature","geometry":{"type":"Polygon","coordinates":[' + ring + ']},"properties":{' + pj + "}}")
    text = '{"type":"FeatureCollection","name":"grid_registry","features":[\n' + ",\n".join(lines) + "\n]}\n"
    return text.encode("utf-8"), len(lines)
