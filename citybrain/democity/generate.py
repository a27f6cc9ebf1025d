"""Orchestration: build the city, draw every source, plant dirt, write drops, truth, manifest."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import calendar as calmod
from . import hotline, petitions, police, ridehailing, truth, urban_cases
from .city import CITY_BBOX, City, build_city, registry_geojson
from .common import csv_bytes, write_bytes, write_json
from .dirt import Dirt, Spec
from .plan import (
    DEFAULT_HOTSPOTS,
    DEFAULT_STABILITY,
    HOTSPOT_L2,
    HotspotScenario,
    RunCalendar,
    StabilityScenario,
    plan_hotspots,
    plan_stability,
    stability_extra_rate,
)
from .rows import Rows

# one independent random stream per purpose; the order of this list is part of the contract
STREAMS = [
    "city",
    "calendar",
    "plan",
    "hotline",
    "urban_cases",
    "ridehailing",
    "police",
    "petitions",
    "dirt_hotline",
    "dirt_urban_cases",
    "dirt_ridehailing",
    "dirt_police",
    "dirt_petitions",
    "escalation",
]
SPECS = {
    "hotline": Spec("hotline", "受理时间", coords=("经度", "纬度"), pii=("来电人姓名", "来电号码", "身份证号")),
    "urban_cases": Spec("urban_cases", "event_time", coords=("lon", "lat"), numeric_coords=True, late=True, pii=("reporter_name",)),
    "ridehailing": Spec(
        "ridehailing",
        "order_time",
        coords=("pickup_lon", "pickup_lat"),
        late=True,
        pii=("driver_name", "driver_phone", "driver_cert_no", "plate_no", "passenger_phone"),
    ),
    "police": Spec("police", "call_time", coords=("lon", "lat"), numeric_coords=True, pii=("caller_name", "alarm_phone")),
    "petitions": Spec("petitions", "登记日期", date_only=True, pii=("信访人姓名", "证件号码", "联系电话")),
}
FILE = {
    "hotline": "hotline/hotline_{d}.csv",
    "urban_cases": "urban_cases/urban_cases_{d}.jsonl",
    "ridehailing": "ridehailing/ridehailing_{d}.csv",
    "police": "police/police_{d}.json",
    "petitions": "petitions/petitions_{d}.csv",
    "calendar": "calendar/calendar_{d}.csv",
    "registry": "registry/grid_registry_{d}.geojson",
}
ALWAYS = ("registry", "calendar")  # written in every run, whatever ``sources`` says
#: the sources whose drops the demo city writes (other mappings, such as boston311 and
#: chicago_tnp, take real open-data exports)
DEMO_SOURCES = tuple(FILE)
# truth files written only with their source (the others are always written)
TRUTH_SOURCE = {
    "complaint_rates.csv": "hotline",
    "hotspots.csv": "hotline",
    "ride_rates.csv": "ridehailing",
    "demand_params.json": "ridehailing",
    "escalations.csv": "police",
}


def schema_change_day(days: int) -> int:
    """Drop-day index where ride-hailing switches export version (56 = day 57 by default)."""
    return 56 if days > 56 else max(1, (2 * days) // 3)


def gbk_day(days: int) -> int:
    """Drop-day index of the one hotline file written in GBK (29 = day 30 by default)."""
    return 29 if days > 40 else days // 2


def generate(
    out_dir: Path,
    *,
    seed: int = 20260831,
    days: int = 84,
    scale: float = 1.0,
    start: dt.date = dt.date(2026, 8, 31),
    hotspots: HotspotScenario = DEFAULT_HOTSPOTS,
    stability: StabilityScenario = DEFAULT_STABILITY,
    sources: Iterable[str] | None = None,
    rides: ridehailing.RideScenario = ridehailing.DEFAULT_RIDES,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write the demo city's drops, truth and manifest under ``out_dir``; return the manifest.

    ``hotspots`` sets the planted complaint hotspots (see ``HotspotScenario``); ``stability``
    the escalating communities and their strength (see ``StabilityScenario``); ``sources``
    limits the event sources drawn (registry and calendar are always written; None = all);
    ``rides`` sets the ride-hailing knobs (event surge size, rain uplift; see ``RideScenario``).
    Every source has its own random streams, so leaving one out changes no other file, and
    the hotspot knobs change only the hotspots: the stability plan is drawn after the
    default hotspot plan whatever the knobs say.
    """
    if days < 7:
        raise ValueError("days must be at least 7")
    wanted = _wanted_sources(sources)
    out_dir = Path(out_dir)
    say = progress or (lambda _msg: None)
    rngs = dict(zip(STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STREAMS))), strict=False))
    rc = RunCalendar(start, days)
    dstr = rc.day_codes

    def rel(source: str, d: int) -> str:
        return "drops/" + FILE[source].format(d=dstr[d])

    city = build_city(rngs["city"])
    cal, events = calmod.build_calendar(rngs["calendar"], start, days)
    day_types = calmod.day_type(cal)
    hs, stab = _plan(rngs["plan"], city, rc, day_types, scale, hotspots, stability)
    mass = police.mass_incidents(rngs["escalation"], city, rc, stab)
    manifest: dict = {
        "generator": "citybrain.democity",
        "format_version": 1,
        "seed": seed,
        "days": days,
        "scale": scale,
        "start": start.isoformat(),
        "end": rc.dates[-1].isoformat(),
        "city_bbox": list(CITY_BBOX),
        **_scenario_entry(hotspots, stability, wanted),
        "sources": {},
        "truth": {},
        "totals": {},
    }

    def record(source: str, files: list[dict]) -> None:
        rows = sum(f["rows"] for f in files)
        manifest["sources"][source] = {"files": files, "file_count": len(files), "rows": rows}
        say(f"{source}: {rows:,} rows in {len(files)} files")

    # registry and calendar
    data, n = registry_geojson(city)
    record("registry", [{"path": rel("registry", 0), "rows": n, **write_bytes(out_dir / rel("registry", 0), data)}])
    files = []
    for d in range(days):
        files.append(
            {"path": rel("calendar", d), "rows": 1, **write_bytes(out_dir / rel("calendar", d), csv_bytes(cal.iloc[[d]], bom=False))}
        )
    record("calendar", files)

    dirt_entries: list[dict] = []
    frames = {
        "hotline": lambda: hotline.generate(
            rngs["hotline"], city, rc, cal, day_types, scale, hs, stab, stability_extra_rate(stab, rc, "hotline", scale)
        ),
        "urban_cases": lambda: urban_cases.generate(rngs["urban_cases"], city, rc, day_types, scale),
        "ridehailing": lambda: ridehailing.generate(rngs["ridehailing"], city, rc, cal, day_types, events, scale, rides),
        "police": lambda: police.with_mass_incidents(
            police.generate(rngs["police"], city, rc, day_types, scale, stab, stability_extra_rate(stab, rc, "police", scale)), mass
        ),
        "petitions": lambda: petitions.generate(
            rngs["petitions"], city, rc, day_types, scale, stab, stability_extra_rate(stab, rc, "petitions", scale)
        ),
    }
    truths = {}
    for source, make in frames.items():
        if source not in wanted:
            continue
        res = make()
        if isinstance(res, tuple):
            res, truths[source] = res
        spec = SPECS[source]
        dirt = Dirt(rngs["dirt_" + source], spec, days)
        if source == "hotline":
            miss = np.flatnonzero(~res.nonempty("经度"))
        df = dirt.apply(res)
        entries = dirt.resolve(df, res, lambda d, s=source: rel(s, d))
        if source == "hotline":  # the first rows' labels are their source rows
            entries += [
                {
                    "kind": "coordinates_missing",
                    "source": source,
                    "file": rel(source, d),
                    "key": str(key),
                    "detail": {"columns": ["经度", "纬度"], "社区": comm},
                }
                for d, key, comm in zip(
                    dirt.at(df, "_drop", miss).tolist(), res.key(miss).tolist(), res.column("社区", miss).tolist(), strict=True
                )
            ]
        entries.append(
            {
                "kind": "pii_in_clear",
                "source": source,
                "file": rel(source, int(df["_drop"].min())),
                "key": None,
                "detail": {"columns": list(spec.pii)},
            }
        )
        if source == "hotline":
            entries.append(
                {
                    "kind": "gbk_encoding",
                    "source": source,
                    "file": rel(source, gbk_day(days)),
                    "key": None,
                    "detail": {"encoding": "gbk", "bom": False},
                }
            )
        if source == "ridehailing":
            entries.append(
                {
                    "kind": "schema_change",
                    "source": source,
                    "file": rel(source, schema_change_day(days)),
                    "key": None,
                    "detail": {
                        "renamed": {"fare_yuan": "fare_amount"},
                        "added": ["surge_multiplier"],
                        "from_drop_day_index": schema_change_day(days),
                    },
                }
            )
        dirt_entries += entries
        record(source, _write_source(out_dir, source, df, res, start, days, rel))
        del res, df  # one source's rows in memory at a time

    # truth
    tdir = out_dir / "truth"
    dirt_entries.sort(key=lambda e: (e["source"], e["kind"], e["file"], e["key"] or ""))
    truth_files = {
        "complaint_rates.csv": lambda: truth.complaint_rates(truths["hotline"], rc),
        "hotspots.csv": lambda: truth.hotspots(hs),
        "ride_rates.csv": lambda: truth.ride_rates(truths["ridehailing"], rc),
        "stability_risk.csv": lambda: truth.stability(stab),
        "stability_weekly.csv": lambda: truth.stability_weekly(stab, city.communities, rc),
        "escalations.csv": lambda: truth.escalations(mass),
        "demand_params.json": lambda: _demand_params(events, cal, day_types, rides),
        "dirt.json": lambda: dirt_entries,
    }
    for name, make_truth in truth_files.items():
        if TRUTH_SOURCE.get(name, ALWAYS[0]) not in wanted:  # no source of its own: always written
            continue
        obj = make_truth()
        written = write_bytes(tdir / name, csv_bytes(obj, bom=False)) if name.endswith(".csv") else write_json(tdir / name, obj)
        manifest["truth"][name] = {"rows": len(obj), **written}
    say(f"truth: {len(manifest['truth'])} files, {len(dirt_entries):,} planted defects")
    manifest["totals"] = {
        "files": sum(s["file_count"] for s in manifest["sources"].values()),
        "rows": sum(s["rows"] for s in manifest["sources"].values()),
        "bytes": sum(f["bytes"] for s in manifest["sources"].values() for f in s["files"]),
        "dirt_entries": len(dirt_entries),
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def _wanted_sources(sources: Iterable[str] | None) -> set[str]:
    """The sources to write: registry and calendar always, plus the asked-for event sources."""
    if sources is None:
        return set(FILE)
    asked = set(sources)
    unknown = asked - set(FILE)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; choose from {list(FILE)}")
    return asked | set(ALWAYS)


def _scenario_entry(hotspots: HotspotScenario, stability: StabilityScenario, wanted: set[str]) -> dict:
    """Manifest entry naming the non-default knobs (none for a standard city)."""
    if hotspots == DEFAULT_HOTSPOTS and stability == DEFAULT_STABILITY and wanted == set(FILE):
        return {}
    knobs = {
        "count": hotspots.count,
        "multiplier": list(hotspots.multiplier),
        "base_rate": None if hotspots.base_rate is None else list(hotspots.base_rate),
        "shape": hotspots.shape,
    }
    entry = {"hotspots": knobs, "sources": [s for s in FILE if s in wanted]}
    if stability != DEFAULT_STABILITY:
        entry["stability"] = {"count": stability.count, "peak_multiplier": list(stability.peak_multiplier)}
    return {"scenario": entry}


def _plan(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    day_types: np.ndarray,
    scale: float,
    hotspots: HotspotScenario,
    stability: StabilityScenario = DEFAULT_STABILITY,
) -> tuple[list[dict], list[dict]]:
    """(hotspots, stability plan). The stability plan always follows the default hotspot plan
    (same draws, same avoided communities); other knobs replan the hotspots from the same
    starting state, so e.g. a fixed multiplier keeps the default's cells."""
    start = copy.deepcopy(rng)
    weight = hotline.l2_cell_weight(city)
    hs = plan_hotspots(rng, city, rc, weight)
    stab = plan_stability(rng, city, rc, {h["comm_idx"] for h in hs}, stability)
    if hotspots != DEFAULT_HOTSPOTS:
        base_weekly = hotline.base_weekly_rates(city, day_types, scale, HOTSPOT_L2) if hotspots.base_rate is not None else None
        hs = plan_hotspots(start, city, rc, weight, hotspots, base_weekly)
    return hs, stab


def _demand_params(events: list[dict], cal: pd.DataFrame, day_types: np.ndarray, rides=ridehailing.DEFAULT_RIDES) -> dict:
    params = ridehailing.demand_params(rides)
    params["events"] = [
        {k: e[k] for k in ("name", "venue", "date", "days", "start_hour", "duration_h", "attendance", "lon", "lat")} for e in events
    ]
    params["day_types"] = dict(zip(cal["date"], day_types.tolist(), strict=False))
    params["weather"] = dict(zip(cal["date"], cal["weather"], strict=False))
    return params


def _write_source(out_dir: Path, source: str, df: pd.DataFrame, rows: Rows, start: dt.date, days: int, rel) -> list[dict]:
    """Format and write one drop file at a time (``df`` is sorted by (_drop, _ord))."""
    drop = df["_drop"].to_numpy()
    shown = df["_row"].to_numpy()
    bounds = np.searchsorted(drop, np.arange(days + 1))
    files = []
    for d in range(days):
        part = shown[bounds[d] : bounds[d + 1]]
        if source == "hotline":
            data = csv_bytes(rows.render(part, hotline.COLUMNS), bom=d != gbk_day(days), encoding="gbk" if d == gbk_day(days) else "utf-8")
        elif source == "petitions":
            data = csv_bytes(rows.render(part, petitions.COLUMNS), bom=True)
        elif source == "ridehailing":
            columns = ridehailing.COLUMNS_V2 if d >= schema_change_day(days) else ridehailing.COLUMNS
            data = csv_bytes(rows.render(part, columns), bom=False)
        elif source == "urban_cases":
            data = urban_cases.jsonl_bytes(rows.render(part, urban_cases.KEYS))
        else:
            data = police.json_bytes(rows.render(part, police.KEYS), (start + dt.timedelta(days=d)).isoformat())
        files.append({"path": rel(source, d), "rows": len(part), **write_bytes(out_dir / rel(source, d), data)})
    return files
