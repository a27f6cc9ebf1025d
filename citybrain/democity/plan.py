"""The planted scenario shared by all sources: run calendar, hotspots, stability risk.

Everything here is chosen once per seed from its own random stream, before any source
draws events, so each source sees the same planted world.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import h3
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
# escalation outcome (群体性事件 in the police data): chance per community-week is
# 1 - exp(-ESCALATION_RATE * (multiplier - 1)), plus a background chance anywhere
ESCALATION_RATE = 0.8
ESCALATION_BACKGROUND = 0.0005
# named escalation strengths (peak multiplier ranges) for detection studies; moderate = default
ESCALATION_STRENGTHS = {"weak": (1.8, 2.6), "moderate": (3.0, 6.0), "strong": (6.0, 9.0)}


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

    @property
    def day_codes(self) -> np.ndarray:
        """'YYYYMMDD' of each run day (object array): the date part of the sources' record numbers."""
        return np.array([d.strftime("%Y%m%d") for d in self.dates], dtype=object)

    def first_day_of_week(self, w: int) -> int:
        return int(np.argmax(self.week_of_day >= w)) if w < self.n_weeks else self.days


def week_index_spread(n_weeks: int, k: int, lo: float, hi: float) -> list[int]:
    """k week indices spread over [lo, hi] of the run (fractions), with one week before."""
    idx = [int(round(f * n_weeks)) for f in np.linspace(lo, hi, k)]
    top = max(n_weeks - 1, 1)
    return [min(max(i, 1), top) for i in idx]


@dataclass(frozen=True)
class HotspotScenario:
    """Scenario knobs for the planted complaint hotspots (the default is the standard city).

    * ``count``: number of hotspots; 0 = a city with none. Hotspot ``i`` uses category
      ``HOTSPOT_L2[i % 6]``, so above 6 the categories cycle. Two hotspots never share a
      centre cell and no cell gets the same category twice (so single-cell hotspots are in
      distinct cells; rings of different categories may overlap).
    * ``multiplier``: (lo, hi) the intensity is drawn from (uniform, rounded to 2 decimals);
      ``(m, m)`` fixes it.
    * ``base_rate``: None = a random free cell among the 12 cells with the category's
      highest share (today's choice); or (lo, hi) = a random free cell whose base weekly
      rate of the category (tickets a week at the run's scale, as in hotspots.csv
      ``base_weekly_rate``) lies in [lo, hi]. For a ring it applies to the centre cell.
    * ``shape``: "cell" (one H3 res-8 cell) or "ring" (the centre and its 6 neighbours,
      ``h3.grid_disk(centre, 1)``; neighbours without address points are left out). Every
      member cell gets ``multiplier`` x its own base rate of the category, drawn inside its
      own main community, and has its own row in hotspots.csv (centre first).
    """

    count: int = 6
    multiplier: tuple[float, float] = (3.0, 6.0)
    base_rate: tuple[float, float] | None = None
    shape: Literal["cell", "ring"] = "cell"

    def __post_init__(self) -> None:
        # tuples of floats, so equal knobs compare (and hash) equal however they were written
        object.__setattr__(self, "multiplier", tuple(float(v) for v in self.multiplier))
        if self.base_rate is not None:
            object.__setattr__(self, "base_rate", tuple(float(v) for v in self.base_rate))
        if self.count < 0:
            raise ValueError(f"hotspot count must be >= 0, got {self.count}")
        lo, hi = self.multiplier
        if not 0 < lo <= hi:
            raise ValueError(f"hotspot multiplier range must satisfy 0 < lo <= hi, got {self.multiplier}")
        if self.base_rate is not None and not 0 <= self.base_rate[0] <= self.base_rate[1]:
            raise ValueError(f"hotspot base_rate range must satisfy 0 <= lo <= hi, got {self.base_rate}")
        if self.shape not in ("cell", "ring"):
            raise ValueError(f"hotspot shape must be 'cell' or 'ring', got {self.shape!r}")


DEFAULT_HOTSPOTS = HotspotScenario()


@dataclass(frozen=True)
class StabilityScenario:
    """Scenario knobs for the communities sliding towards social-stability risk.

    * ``count``: number of escalating communities (drawn from the more populous half,
      never a hotspot's community); their driver themes cycle through STABILITY_DRIVERS.
    * ``peak_multiplier``: (lo, hi) the peak risk multiplier is drawn from; the escalation
      strength (``ESCALATION_STRENGTHS`` names weak / moderate / strong ranges).
    """

    count: int = 4
    peak_multiplier: tuple[float, float] = (3.0, 6.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "peak_multiplier", tuple(float(v) for v in self.peak_multiplier))
        if self.count < 0:
            raise ValueError(f"escalating community count must be >= 0, got {self.count}")
        lo, hi = self.peak_multiplier
        if not 1 < lo <= hi:
            raise ValueError(f"peak multiplier range must satisfy 1 < lo <= hi, got {self.peak_multiplier}")


DEFAULT_STABILITY = StabilityScenario()


def main_community(points: pd.DataFrame, cell: str) -> int:
    """The community holding most of the cell's population (most commerce if it has none)."""
    in_cell = points[points["h3_8"] == cell]
    by_comm = in_cell.groupby("comm_idx")[["w_pop", "w_com"]].sum()
    col = "w_pop" if by_comm["w_pop"].sum() > 0 else "w_com"
    return int(by_comm[col].idxmax())


def _members(cell: str, shape: str, cells_with_points: pd.Index) -> list[str]:
    """Cells planted for a hotspot centred on ``cell``: itself, plus its ring neighbours."""
    if shape == "cell":
        return [cell]
    ring = sorted(c for c in h3.grid_disk(cell, 1) if c != cell and c in cells_with_points)
    return [cell, *ring]


def _candidates(l2: str, scenario: HotspotScenario, weight: pd.Series, base_weekly: dict[str, pd.Series] | None) -> list[str]:
    """Centre cells a hotspot of ``l2`` may use, before removing taken ones."""
    ranked = weight.sort_values(ascending=False, kind="stable")
    if scenario.base_rate is None:
        return list(ranked.index[:12])
    if base_weekly is None:
        raise ValueError("base_rate needs the base weekly rates per cell")
    lo, hi = scenario.base_rate
    rate = base_weekly[l2].reindex(ranked.index)
    fits = [c for c, r in rate.items() if r > 0 and lo <= r <= hi]
    if not fits:
        raise ValueError(
            f"no cell has a base weekly rate of {l2} in [{lo}, {hi}] "
            f"(rates at this scale run from {rate[rate > 0].min():.4f} to {rate.max():.4f})"
        )
    return fits


def plan_hotspots(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    l2_cell_weight: dict[str, pd.Series],
    scenario: HotspotScenario = DEFAULT_HOTSPOTS,
    base_weekly: dict[str, pd.Series] | None = None,
) -> list[dict]:
    """Hotspots emerging over weeks 4–10 of 12: one dict per planted cell (ring members too).

    Per hotspot the draws are one integer (the centre among the free candidates, at most
    6 of the top 12 with the default ``base_rate``) and one uniform (the multiplier).
    ``base_weekly`` (``hotline.base_weekly_rates``) is needed when ``scenario.base_rate`` is set.
    """
    comms = city.communities
    emerge = week_index_spread(rc.n_weeks, scenario.count, 3 / 12, 9 / 12)
    centres: set[str] = set()
    planted: dict[str, set[str]] = {l2: set() for l2 in HOTSPOT_L2}  # cells per category
    out = []
    for i in range(scenario.count):
        l2 = HOTSPOT_L2[i % len(HOTSPOT_L2)]
        weight = l2_cell_weight[l2]
        free = [
            c
            for c in _candidates(l2, scenario, weight, base_weekly)
            if c not in centres and planted[l2].isdisjoint(_members(c, scenario.shape, weight.index))
        ]
        if scenario.base_rate is None:
            free = free[:6]
        if not free:
            where = "in the base_rate range" if scenario.base_rate else "among the category's top 12 cells"
            raise ValueError(f"no free {scenario.shape} centre left {where} for hotspot {i + 1} ({l2}); lower count or widen base_rate")
        centre = free[int(rng.integers(0, len(free)))]
        centres.add(centre)
        multiplier = round(float(rng.uniform(*scenario.multiplier)), 2)
        for cell in _members(centre, scenario.shape, weight.index):
            planted[l2].add(cell)
            ci = main_community(city.points, cell)
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
                    "multiplier": multiplier,
                }
            )
    return out


def plan_stability(
    rng: np.random.Generator, city: City, rc: RunCalendar, avoid: set[int], scenario: StabilityScenario = DEFAULT_STABILITY
) -> list[dict]:
    comms = city.communities
    pop = comms["population"].to_numpy()
    cand = [i for i in np.argsort(-pop, kind="stable")[: len(comms) // 2] if int(i) not in avoid]
    if scenario.count > len(cand):
        raise ValueError(f"{scenario.count} escalating communities asked for, only {len(cand)} candidates")
    chosen = sorted(int(i) for i in rng.choice(cand, size=scenario.count, replace=False))
    starts = week_index_spread(rc.n_weeks, scenario.count, 0.12, 0.45)
    out = []
    for k, ci in enumerate(chosen):
        s = starts[k]
        peak = min(s + int(rng.integers(2, 5)), max(rc.n_weeks - 2, s))
        drv = STABILITY_DRIVERS[k % len(STABILITY_DRIVERS)]
        out.append(
            {
                "comm_idx": ci,
                "community_code": comms.loc[ci, "community_code"],
                "community_name": comms.loc[ci, "community_name"],
                "start_week_index": s,
                "peak_week_index": peak,
                "start_week": rc.week_labels[min(s, rc.n_weeks - 1)],
                "peak_week": rc.week_labels[min(peak, rc.n_weeks - 1)],
                "peak_multiplier": round(float(rng.uniform(*scenario.peak_multiplier)), 2),
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


def escalation_probability(mult: np.ndarray) -> np.ndarray:
    """Chance of a mass incident (群体性事件) in a community-week at risk multiplier ``mult``."""
    planted = 1.0 - np.exp(-ESCALATION_RATE * (np.asarray(mult, dtype=float) - 1.0))
    return 1.0 - (1.0 - ESCALATION_BACKGROUND) * (1.0 - planted)


def risk_level(mult: np.ndarray) -> np.ndarray:
    return np.select([mult >= 4.0, mult >= 2.5, mult >= 1.5], ["red", "orange", "yellow"], "blue")


def stability_extra_rate(stab: list[dict], rc: RunCalendar, source: str, scale: float) -> list[np.ndarray]:
    """Per risk community: extra expected events per day for ``source``."""
    return [STABILITY_UNIT_RATE[source] * scale * (stability_multiplier(s, rc.week_of_day) - 1.0) for s in stab]
