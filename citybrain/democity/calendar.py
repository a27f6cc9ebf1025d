"""Calendar drop: workdays and holidays, weather, large events.

Holidays follow the State Council's 2026 arrangement (国办发明电〔2025〕7号) as known to
the authors; the table below is the single place to correct it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from .city import to_lonlat

# date -> holiday name (days off); makeup working days (调休上班) listed separately
HOLIDAYS_2026: dict[dt.date, str] = {}
for _name, _a, _b in [
    ("元旦", dt.date(2026, 1, 1), dt.date(2026, 1, 3)),
    ("春节", dt.date(2026, 2, 15), dt.date(2026, 2, 23)),
    ("清明节", dt.date(2026, 4, 4), dt.date(2026, 4, 6)),
    ("劳动节", dt.date(2026, 5, 1), dt.date(2026, 5, 5)),
    ("端午节", dt.date(2026, 6, 19), dt.date(2026, 6, 21)),
    ("中秋节", dt.date(2026, 9, 25), dt.date(2026, 9, 27)),
    ("国庆节", dt.date(2026, 10, 1), dt.date(2026, 10, 7)),
]:
    for _k in range((_b - _a).days + 1):
        HOLIDAYS_2026[_a + dt.timedelta(days=_k)] = _name
MAKEUP_WORKDAYS_2026 = {
    dt.date(2026, 1, 4),
    dt.date(2026, 2, 14),
    dt.date(2026, 2, 28),
    dt.date(2026, 5, 9),
    dt.date(2026, 9, 20),
    dt.date(2026, 10, 10),
}

WEATHERS = ["晴", "多云", "阴", "小雨", "中雨", "大雨"]
RAIN_MM = {"晴": (0, 0), "多云": (0, 0), "阴": (0, 0.5), "小雨": (0.5, 9.9), "中雨": (10, 24.9), "大雨": (25, 49.9)}

# venue name, local x/y (m), kind
VENUES = {
    "示范市奥体中心": (5_300.0, 2_300.0),
    "东湖体育场": (9_300.0, 7_400.0),
    "示范国际博览中心": (11_000.0, 1_500.0),
}
EVENT_KINDS = [
    # name template, venue, start hour, duration h, attendance range, days
    ("{y}示范城市足球联赛主场比赛", "东湖体育场", 19.5, 2.0, (18_000, 28_000), 1),
    ("{y}星光巡回演唱会(示范站)", "示范市奥体中心", 19.5, 3.0, (35_000, 50_000), 1),
    ("{y}示范国际消费博览会", "示范国际博览中心", 9.0, 8.0, (20_000, 35_000), 3),
    ("{y}示范城市足球联赛主场比赛", "东湖体育场", 15.5, 2.0, (15_000, 25_000), 1),
    ("{y}示范马拉松嘉年华音乐节", "示范市奥体中心", 18.5, 3.5, (25_000, 40_000), 1),
    ("{y}秋季汽车博览会", "示范国际博览中心", 9.0, 8.0, (15_000, 25_000), 2),
]

CAL_COLUMNS = [
    "date",
    "weekday",
    "is_workday",
    "holiday_name",
    "weather",
    "temp_max_c",
    "temp_min_c",
    "precipitation_mm",
    "aqi",
    "event_name",
    "event_lon",
    "event_lat",
    "event_attendance",
]


def build_calendar(rng: np.random.Generator, start: dt.date, days: int) -> tuple[pd.DataFrame, list[dict]]:
    """One row per day (typed), and the list of events (with hour-level timing)."""
    dates = [start + dt.timedelta(days=d) for d in range(days)]
    weekday = np.array([d.isoweekday() for d in dates])
    holiday = np.array([HOLIDAYS_2026.get(d, "") for d in dates], dtype=object)
    makeup = np.array([d in MAKEUP_WORKDAYS_2026 for d in dates])
    workday = ((weekday <= 5) & (holiday == "")) | makeup
    # weather: a first-order Markov chain over the six states
    trans = np.array(
        [
            [0.55, 0.25, 0.08, 0.09, 0.02, 0.01],
            [0.25, 0.40, 0.15, 0.15, 0.04, 0.01],
            [0.15, 0.30, 0.25, 0.20, 0.07, 0.03],
            [0.20, 0.30, 0.20, 0.20, 0.07, 0.03],
            [0.20, 0.25, 0.20, 0.20, 0.10, 0.05],
            [0.25, 0.25, 0.20, 0.15, 0.10, 0.05],
        ]
    )
    state = np.zeros(days, dtype=int)
    for d in range(1, days):
        state[d] = rng.choice(6, p=trans[state[d - 1]])
    weather = np.array(WEATHERS, dtype=object)[state]
    doy = np.array([d.timetuple().tm_yday for d in dates], dtype=float)
    seasonal = 22.0 + 10.0 * np.cos(2 * np.pi * (doy - 205) / 365.0)  # warm summer, cool autumn
    rainy = state >= 3
    tmax = np.round(seasonal + 4.5 - 3.0 * rainy - 1.5 * (state == 2) + rng.normal(0, 1.3, days)).astype(int)
    tmin = np.round(seasonal - 4.0 - 0.5 * rainy + rng.normal(0, 1.0, days)).astype(int)
    lo = np.array([RAIN_MM[w][0] for w in weather])
    hi = np.array([RAIN_MM[w][1] for w in weather])
    precip = np.round(lo + (hi - lo) * rng.uniform(0, 1, days), 1)
    aqi = np.clip(np.round(45 + 0.35 * (doy - 243) + rng.gamma(2.0, 12.0, days) - 20 * rainy), 18, 260).astype(int)

    # events: about one per two weeks, at least one; on weekend days (or Fri/Sat evenings)
    n_events = max(1, round(days / 14))
    cand = [d for d in range(days) if weekday[d] in (5, 6, 7) and d + 3 <= days]
    cand = cand or list(range(days))
    chosen: list[int] = []
    for d in rng.permutation(cand):
        if len(chosen) >= n_events:
            break
        if all(abs(int(d) - c) >= 4 for c in chosen):
            chosen.append(int(d))
    chosen.sort()
    events = []
    for i, d0 in enumerate(chosen):
        tmpl, venue, h0, dur, (a, b), ndays = EVENT_KINDS[i % len(EVENT_KINDS)]
        ndays = min(ndays, days - d0)
        att = int(rng.integers(a, b) // 100 * 100)
        vx, vy = VENUES[venue]
        lon, lat = to_lonlat(vx, vy)
        events.append(
            {
                "name": tmpl.format(y=dates[d0].year),
                "venue": venue,
                "first_day": d0,
                "days": ndays,
                "start_hour": h0,
                "duration_h": dur,
                "attendance": att,
                "lon": round(float(lon), 6),
                "lat": round(float(lat), 6),
                "x": vx,
                "y": vy,
                "date": dates[d0].isoformat(),
            }
        )
    ev_name = np.full(days, "", dtype=object)
    ev_lon = np.full(days, "", dtype=object)
    ev_lat = np.full(days, "", dtype=object)
    ev_att = np.full(days, "", dtype=object)
    for e in events:
        for k in range(e["days"]):
            d = e["first_day"] + k
            ev_name[d], ev_lon[d], ev_lat[d] = e["name"], f"{e['lon']:.6f}", f"{e['lat']:.6f}"
            ev_att[d] = str(e["attendance"])
    cal = pd.DataFrame(
        {
            "date": [d.isoformat() for d in dates],
            "weekday": weekday,
            "is_workday": workday.astype(int),
            "holiday_name": holiday,
            "weather": weather,
            "temp_max_c": np.maximum(tmax, tmin + 2),
            "temp_min_c": tmin,
            "precipitation_mm": precip,
            "aqi": aqi,
            "event_name": ev_name,
            "event_lon": ev_lon,
            "event_lat": ev_lat,
            "event_attendance": ev_att,
        }
    )
    return cal, events


def day_type(cal: pd.DataFrame) -> np.ndarray:
    """'workday' | 'weekend' | 'holiday' per day."""
    hol = cal["holiday_name"].to_numpy() != ""
    work = cal["is_workday"].to_numpy() == 1
    return np.where(hol, "holiday", np.where(work, "workday", "weekend"))
