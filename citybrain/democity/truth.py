"""Planted truth files (never read by the pipeline): what the generator drew from."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import fmt_fixed
from .hotline import L1, L2_INDEX
from .plan import RunCalendar, risk_level, stability_multiplier


def complaint_rates(truth_long: pd.DataFrame, rc: RunCalendar) -> pd.DataFrame:
    wk = np.array(rc.week_labels, dtype=object)[rc.week_of_day[truth_long["day"].to_numpy()]]
    t = truth_long.assign(iso_week=wk).groupby(["h3_8", "iso_week"], sort=True)["expected"].sum().reset_index()
    return pd.DataFrame({"h3_8": t["h3_8"], "iso_week": t["iso_week"], "expected_tickets": fmt_fixed(t["expected"], 6)})


def ride_rates(truth: pd.DataFrame, rc: RunCalendar) -> pd.DataFrame:
    hours = np.array([f"{d.isoformat()} {h:02d}:00" for d in rc.dates for h in range(24)], dtype=object)
    vals = truth.to_numpy()
    ci, hi = np.nonzero(vals > 0)
    return pd.DataFrame({"h3_8": truth.index.to_numpy(dtype=object)[ci], "hour": hours[hi], "expected_pickups": fmt_fixed(vals[ci, hi], 6)})


HOTSPOT_COLUMNS = [
    "h3_8",
    "community_code",
    "community_name",
    "category_l1",
    "category_l2",
    "emerge_week",
    "emerge_week_index",
    "multiplier",
    "base_weekly_rate",
]


def hotspots(hs: list[dict]) -> pd.DataFrame:
    """One row per planted cell (a ring hotspot has one per member); header only when none."""
    return pd.DataFrame(
        [
            {
                "h3_8": h["h3_8"],
                "community_code": h["community_code"],
                "community_name": h["community_name"],
                "category_l1": L1[L2_INDEX[h["category_l2"]]],
                "category_l2": h["category_l2"],
                "emerge_week": h["emerge_week"],
                "emerge_week_index": h["emerge_week_index"] + 1,
                "multiplier": f"{h['multiplier']:.2f}",
                "base_weekly_rate": f"{h['base_weekly_rate']:.4f}",
            }
            for h in hs
        ],
        columns=HOTSPOT_COLUMNS,
    )


def stability(stab: list[dict]) -> pd.DataFrame:
    rows = []
    for s in stab:
        d = s["drivers"]
        rows.append(
            {
                "community_code": s["community_code"],
                "community_name": s["community_name"],
                "theme": d["theme"],
                "start_week": s["start_week"],
                "peak_week": s["peak_week"],
                "start_week_index": s["start_week_index"] + 1,
                "peak_week_index": s["peak_week_index"] + 1,
                "peak_multiplier": f"{s['peak_multiplier']:.2f}",
                "drivers": f"petitions:{d['petitions']}(集体访/重复访/越级访上升);police:{'|'.join(d['police'])};hotline:{d['hotline']}",
            }
        )
    return pd.DataFrame(rows)


def stability_weekly(stab: list[dict], communities: pd.DataFrame, rc: RunCalendar) -> pd.DataFrame:
    weeks = np.arange(rc.n_weeks)
    mult = {s["comm_idx"]: stability_multiplier(s, weeks) for s in stab}
    rows = []
    for ci, code in enumerate(communities["community_code"].tolist()):
        m = mult.get(ci, np.ones(rc.n_weeks))
        lv = risk_level(m)
        for w in weeks.tolist():
            rows.append((code, rc.week_labels[w], f"{m[w]:.3f}", lv[w]))
    return pd.DataFrame(rows, columns=["community_code", "iso_week", "risk_multiplier", "risk_level"])


def escalations(mass: pd.DataFrame) -> pd.DataFrame:
    """The planted mass incidents (群体性事件): the early-warning label's outcomes."""
    out = mass[["_community_code", "_iso_week", "incident_no", "call_time"]].rename(
        columns={"_community_code": "community_code", "_iso_week": "iso_week"}
    )
    return out.reset_index(drop=True)
