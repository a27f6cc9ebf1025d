"""The planted scenario shared by all sources: run calendar, hotspots, stability risk.

Everything here is chosen once per seed from its own random stream, before any source
draws events, so each source sees the same planted world.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .city import City

HOTSPOT_L2 = ["噪声扰民", "占道经营", "油烟污染", "物业管理", "施工扰民", "停车管理"]

# driver templates for communities sliding towards social-stability risk
STABILITY_DRIVERS = [
    {"theme": "征地拆迁", "petitions": "征地拆迁", "police": ["治安纠纷", "斗殴"], "hotline": "违章搭建"},
    {"theme": "物业矛盾", "petitions": "物业管理", "police": ["邻里纠纷", "治安纠纷"], "hotline": "物业管理"},
    {"theme": "欠薪讨薪", "petitions": "劳动社保", "police": ["治安纠纷", "求助"], "hotline": "拖欠工资"},
    {"theme": "环境邻避", "petitions": "环境保护", "police": ["邻里纠纷", "可疑情况"], "hotline": "异味污染"},
]
# extra events per day at scale 1 per unit of (multiplier - 1)
STABILITY_UNIT_RATE = {"petitions": 0.25, "police": 0.6, "hotline": 0.8}


@dataclass
class RunCalendar:
    start: dt.date
    days: int
    dates: list[dt.date] = field(init=False)
    week_of_day: np.ndarray = field(init=False)  # 0-based run week of each day (ISO weeks)
    week_labels: list[str] = field(init=False)  # ISO 'YYYY-Www' per run week

    def __post_init__(self) -> None:
        self.dates = [self.start + dt.timedelta(days=d) for d in range(self.days)]
        self.week_of_day = np.array([(d + self.start.weekday()) // 7 for d in range(self.days)])
        labels: list[str] = []
        for d in self.dates:
            y, w, _ = d.isocalendar()
            lab = f"{y}-W{w:02d}"
            if not labels or labels[-1] != lab:
                labels.append(lab)
        self.week_labels = labels

    @property
    def n_weeks(self) -> int:
        return len(self.week_labels)

    def first_day_of_week(self, w: int) -> int:
        return int(np.argmax(self.week_of_day >= w)) if w < self.n_weeks else self.days


def week_index_spread(n_weeks: int, k: int, lo: float, hi: float) -> list[int]:
    """k week indices spread over [lo, hi] of the run (fractions), with one week before."""
    idx = [int(round(f * n_weeks)) for f in np.linspace(lo, hi, k)]
    top = max(n_weeks - 1, 1)
    return [min(max(i, 1), top) for i in idx]


def plan_hotspots(rng: np.random.Generator, city: City, rc: RunCalendar, l2_cell_weight: dict[str, pd.Series]) -> list[dict]:
    """~6 (cell, community, category) hotspots emerging over weeks 4–10 of 12."""
    pts = city.points
    comms = city.communities
    emerge = week_index_spread(rc.n_weeks, 6, 3 / 12, 9 / 12)
    used: set[str] = set()
    out = []
    for i, l2 in enumerate(HOTSPOT_L2):
        w = l2_cell_weight[l2].sort_values(ascending=False, kind="stable")
        top = [c for c in w.index[:12] if c not in used][:6]
        cell = top[int(rng.integers(0, len(top)))]
        used.add(cell)
        in_cell = pts[pts["h3_8"] == cell]
        ci = int(in_cell.groupby("comm_idx")["w_pop"].sum().idxmax())
        out.append(
            {
                "h3_8": cell,
                "comm_idx": ci,
                "community_code": comms.loc[ci, "community_code"],
                "community_name": comms.loc[ci, "community_name"],
                "category_l2": l2,
                "emerge_week_index": emerge[i],
                "emerge_week": rc.week_labels[min(emerge[i], rc.n_weeks - 1)],
                "emerge_day": rc.first_day_of_week(emerge[i]),
                "multiplier": round(float(rng.uniform(3.0, 6.0)), 2),
            }
        )
    return out


def plan_stability(rng: np.random.Generator, city: City, rc: RunCalendar, avoid: set[int]) -> list[dict]:
    comms = city.communities
    pop = comms["population"].to_numpy()
    cand = [i for i in np.argsort(-pop, kind="stable")[: len(comms) // 2] if int(i) not in avoid]
    chosen = sorted(int(i) for i in rng.choice(cand, size=4, replace=False))
    starts = week_index_spread(rc.n_weeks, 4, 0.12, 0.45)
    out = []
    for k, ci in enumerate(chosen):
        s = starts[k]
        peak = min(s + int(rng.integers(2, 5)), max(rc.n_weeks - 2, s))
        drv = STABILITY_DRIVERS[k]
        out.append(
            {
                "comm_idx": ci,
                "community_code": comms.loc[ci, "community_code"],
                "community_name": comms.loc[ci, "community_name"],
                "start_week_index": s,
                "peak_week_index": peak,
                "start_week": rc.week_labels[min(s, rc.n_weeks - 1)],
                "peak_week": rc.week_labels[min(peak, rc.n_weeks - 1)],
                "peak_multiplier": round(float(rng.uniform(3.0, 6.0)), 2),
                "drivers": drv,
            }
        )
    return out


def stability_multiplier(s: dict, week: np.ndarray) -> np.ndarray:
    """Risk intensity per run week: 1 before start, linear rise to the peak, then decays."""
    w = np.asarray(week, dtype=float)
    a, p, m = s["start_week_index"], s["peak_week_index"], s["peak_multiplier"]
    rise = 1 + (m - 1) * np.clip((w - a + 1) / (p - a + 1), 0, 1)
    fall = 1 + (m - 1) * 0.5 ** ((w - p) / 1.5)
    return np.where(w < a, 1.0, np.where(w <= p, rise, fall))


def risk_level(mult: np.ndarray) -> np.ndarray:
    return np.select([mult >= 4.0, mult >= 2.5, mult >= 1.5], ["red", "orange", "yellow"], "blue")


def stability_extra_rate(stab: list[dict], rc: RunCalendar, source: str, scale: float) -> list[np.ndarray]:
    """Per risk community: extra expected events per day for ``source``."""
    return [STABILITY_UNIT_RATE[source] * scale * (stability_multiplier(s, rc.week_of_day) - 1.0) for s in stab]
