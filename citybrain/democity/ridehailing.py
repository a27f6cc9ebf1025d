"""Ride-hailing orders as exported by the transport regulator's exchange platform."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .city import STATION, City
from .common import HOUR, MINUTE, day_seconds, draw_mobiles, fmt_fixed, fmt_int, fmt_ints, fmt_times, id_numbers, mobiles, names
from .plan import RunCalendar
from .rows import Rows, internal_frame

COLUMNS = [
    "order_id",
    "platform_code",
    "platform_name",
    "driver_cert_no",
    "driver_name",
    "driver_phone",
    "plate_no",
    "vehicle_cert_no",
    "driver_cert_valid",
    "vehicle_cert_valid",
    "order_time",
    "pickup_time",
    "dropoff_time",
    "pickup_lon",
    "pickup_lat",
    "dropoff_lon",
    "dropoff_lat",
    "distance_km",
    "duration_min",
    "fare_yuan",
    "passenger_phone",
    "order_status",
    "upload_time",
]
COLUMNS_V2 = [c if c != "fare_yuan" else "fare_amount" for c in COLUMNS] + ["surge_multiplier"]
ORDERS_PER_DAY = 7_400.0  # ~8,000/day on average once weekends, holidays and rain are applied
# code, name, market share, order compliance rate (driver licence and vehicle certificate both valid)
PLATFORMS = [
    ("P3299001", "优途出行", 0.62, 0.86),
    ("P3299002", "快马约车", 0.12, 0.78),
    ("P3299003", "星程出行", 0.09, 0.82),
    ("P3299004", "和风打车", 0.07, 0.74),
    ("P3299005", "云驰专车", 0.06, 0.90),
    ("P3299006", "城际通约车", 0.04, 0.70),
]
DRIVERS = 6_000
DAY_FACTOR = {"workday": 1.0, "weekend": 1.08, "holiday": 1.15}
RAIN_UPLIFT = {"晴": 1.0, "多云": 1.0, "阴": 1.03, "小雨": 1.15, "中雨": 1.30, "大雨": 1.45}
PROFILE = {
    "workday": [1.2, 0.7, 0.45, 0.35, 0.4, 0.8, 2.6, 6.2, 7.6, 5.2, 4.2, 4.3, 4.6, 4.3, 4.2, 4.5, 5.3, 7.2, 7.4, 5.8, 4.9, 4.3, 3.4, 2.1],
    "weekend": [1.8, 1.2, 0.8, 0.55, 0.5, 0.6, 1.1, 2.2, 3.6, 4.6, 5.2, 5.4, 5.5, 5.4, 5.3, 5.4, 5.6, 5.9, 6.0, 5.6, 5.2, 4.8, 3.9, 2.7],
}
CANCEL_P = {"cancelled_by_passenger": 0.10, "cancelled_by_driver": 0.05}
EVENT_PRE_RATE = 0.008  # extra pickups (city-wide, towards the venue) per attendee, 2 h before start
EVENT_POST_RATE = 0.012  # extra pickups near the venue per attendee, 2 h after the end
EVENT_RADIUS_M = 1_200.0
STATION_RADIUS_M = 300.0


@dataclass(frozen=True)
class RideScenario:
    """Knobs of the planted ride-hailing demand (the defaults are the demo city's).

    event_surge   multiplies the extra pickups around every event (before and after it)
    rain_uplift   multiplies the weather uplift above 1 (0 = rain changes nothing; 2 = twice the uplift)
    """

    event_surge: float = 1.0
    rain_uplift: float = 1.0

    def __post_init__(self) -> None:
        if self.event_surge < 0 or self.rain_uplift < 0:
            raise ValueError(f"ride scenario knobs must be >= 0, got {self}")

    def weather_factor(self, weather: str) -> float:
        return 1.0 + (RAIN_UPLIFT[weather] - 1.0) * self.rain_uplift


DEFAULT_RIDES = RideScenario()


def demand_params(rides: RideScenario = DEFAULT_RIDES) -> dict:
    scenario = {} if rides == DEFAULT_RIDES else {"scenario": asdict(rides)}
    return {
        **scenario,
        "orders_per_day_at_scale_1": ORDERS_PER_DAY,
        "day_type_factor": DAY_FACTOR,
        "rain_uplift_by_weather": RAIN_UPLIFT if rides == DEFAULT_RIDES else {w: round(rides.weather_factor(w), 6) for w in RAIN_UPLIFT},
        "hour_profile_share": {k: list(np.round(np.array(v) / sum(v), 5)) for k, v in PROFILE.items()},
        "hour_profile_note": "holidays use the weekend profile; makeup working days the workday profile",
        "spatial_weight": "0.55 x residents share + 0.35 x commerce share + 0.10 railway station (points within 300 m)",
        "event_pre_pickups_per_attendee": EVENT_PRE_RATE * rides.event_surge,
        "event_post_pickups_per_attendee": EVENT_POST_RATE * rides.event_surge,
        "event_pre_hours": "the 2 hours before start (60%/40% split towards start), pickups city-wide, drop-offs at the venue",
        "event_post_hours": "the 2 hours from the end hour (60%/40%), pickups within 1.2 km of the venue",
        "cancel_probability": CANCEL_P,
        "platforms": [{"code": c, "name": n, "share": s, "compliance_rate": r} for c, n, s, r in PLATFORMS],
    }


def point_weights(city: City) -> np.ndarray:
    pts = city.points
    wp = pts["w_pop"].to_numpy() / pts["w_pop"].sum()
    wc = pts["w_com"].to_numpy() / pts["w_com"].sum()
    st = ((pts["x"] - STATION[0]) ** 2 + (pts["y"] - STATION[1]) ** 2 <= STATION_RADIUS_M**2).to_numpy(float)
    w = 0.55 * wp + 0.35 * wc + 0.10 * st / st.sum()
    return w / w.sum()


def hourly_totals(cal: pd.DataFrame, day_types: np.ndarray, scale: float, rides: RideScenario = DEFAULT_RIDES) -> np.ndarray:
    out = np.zeros((len(cal), 24))
    for d, t in enumerate(day_types):
        prof = np.array(PROFILE["workday" if t == "workday" else "weekend"])
        out[d] = ORDERS_PER_DAY * scale * DAY_FACTOR[t] * rides.weather_factor(cal["weather"].iloc[d]) * prof / prof.sum()
    return out


def event_components(city: City, events: list[dict], days: int, scale: float, surge: float = 1.0):
    """[(hourly extra rate array (days*24), point ids, point weights, venue index or -1 for pre)]."""
    pts = city.points
    comps = []
    for ei, e in enumerate(events):
        near = np.flatnonzero(((pts["x"] - e["x"]) ** 2 + (pts["y"] - e["y"]) ** 2 <= EVENT_RADIUS_M**2).to_numpy())
        pre = np.zeros(days * 24)
        post = np.zeros(days * 24)
        for k in range(e["days"]):
            d = e["first_day"] + k
            h0 = int(e["start_hour"])
            h1 = min(int(np.ceil(e["start_hour"] + e["duration_h"])), 23)
            for j, share in ((h0 - 2, 0.4), (h0 - 1, 0.6)):
                pre[d * 24 + j] += share * EVENT_PRE_RATE * surge * e["attendance"] * scale / e["days"]
            for j, share in ((h1, 0.6), (h1 + 1, 0.4)):
                if j < 24:
                    post[d * 24 + j] += share * EVENT_POST_RATE * surge * e["attendance"] * scale / e["days"]
        comps.append((pre, None, ei))
        comps.append((post, near, ei))
    return comps


def generate(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    cal: pd.DataFrame,
    day_types: np.ndarray,
    events: list[dict],
    scale: float,
    rides: RideScenario = DEFAULT_RIDES,
):
    days = rc.days
    pts = city.points
    w = point_weights(city)
    H = hourly_totals(cal, day_types, scale, rides).ravel()
    cells = pts["h3_8"].to_numpy()
    cell_w = pd.Series(w).groupby(cells).sum()
    cell_w = cell_w[cell_w > 0]
    rates = np.outer(cell_w.to_numpy(), H)
    cidx = pd.Index(cell_w.index)
    hrs, ptl, to_venue, surge_ev = [], [], [], []
    cw = np.cumsum(w)

    def place(n_per_hour, ids, weights):
        hh = np.repeat(np.arange(n_per_hour.size), n_per_hour)
        c = np.cumsum(weights)
        k = np.minimum(np.searchsorted(c, rng.uniform(0, c[-1], hh.size), side="right"), len(c) - 1)
        return hh, ids[k]

    hh, pp = place(rng.poisson(H), np.arange(len(pts)), w)
    hrs.append(hh), ptl.append(pp), to_venue.append(np.full(hh.size, -1)), surge_ev.append(np.zeros(hh.size, bool))
    for lam, near, ei in event_components(city, events, days, scale, rides.event_surge):
        if near is None:
            hh, pp = place(rng.poisson(lam), np.arange(len(pts)), w)
            rates += np.outer(cell_w.to_numpy(), lam)
            to_venue.append(np.full(hh.size, ei))
        else:
            nw = w[near] + 1e-9
            hh, pp = place(rng.poisson(lam), near, nw)
            share = pd.Series(nw / nw.sum()).groupby(cells[near]).sum()
            rows = cidx.get_indexer(share.index)
            rates[rows] += np.outer(share.to_numpy(), lam)
            to_venue.append(np.full(hh.size, -1))
        hrs.append(hh), ptl.append(pp), surge_ev.append(np.full(hh.size, near is not None))
    hour = np.concatenate(hrs)
    pick_pt = np.concatenate(ptl)
    venue = np.concatenate(to_venue)
    surge_flag = np.concatenate(surge_ev)
    n = hour.size
    t_order = day_seconds(rc.start) + hour * HOUR + rng.integers(0, HOUR, n)
    order = np.argsort(t_order, kind="stable")
    hour, pick_pt, venue, surge_flag, t_order = hour[order], pick_pt[order], venue[order], surge_flag[order], t_order[order]
    drop_pt = np.minimum(np.searchsorted(cw, rng.uniform(0, cw[-1], n), side="right"), len(cw) - 1)
    for ei, e in enumerate(events):  # arrivals for an event end near the venue
        m = venue == ei
        if m.any():
            d2 = (pts["x"].to_numpy() - e["x"]) ** 2 + (pts["y"].to_numpy() - e["y"]) ** 2
            near = np.flatnonzero(d2 <= (EVENT_RADIUS_M / 2) ** 2)
            drop_pt[m] = near[rng.integers(0, near.size, m.sum())]
    del venue, surge_ev, hrs, ptl, to_venue
    rows = _orders(rng, city, rc, cal, t_order, hour, pick_pt, drop_pt, surge_flag)
    truth = pd.DataFrame(rates, index=cidx)
    return rows, truth


def _orders(rng, city: City, rc: RunCalendar, cal, t_order, hour, pick_pt, drop_pt, surge_flag) -> Rows:
    """Every order's numbers, drawn as they always were, and how to format them: a ride
    order is ~70 bytes of numbers here against ~1 KB once formatted."""
    n = t_order.size
    pts = city.points
    day = hour // 24
    hod = hour % 24
    # driver pool
    pi_drv = rng.choice(len(PLATFORMS), size=DRIVERS, p=[p[2] for p in PLATFORMS])
    comp = np.array([p[3] for p in PLATFORMS])[pi_drv]
    ok = rng.random(DRIVERS) < comp
    kind = rng.choice(3, size=DRIVERS, p=[0.45, 0.4, 0.15])  # driver / vehicle / both invalid
    d_valid = fmt_int(np.where(ok | (kind == 1), 1, 0))
    v_valid = fmt_int(np.where(ok | (kind == 0), 1, 0))
    d_name, d_phone, d_cert = names(rng, DRIVERS), mobiles(rng, DRIVERS), id_numbers(rng, DRIVERS)
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ"), dtype=object)
    ev = rng.random(DRIVERS) < 0.55  # new-energy plates: 苏A·D12345
    plate = np.array(
        [
            f"苏A·D{a}{b % 10000:04d}" if e else f"苏A·{lt}{b % 10000:04d}"
            for e, a, b, lt in zip(
                ev,
                rng.integers(0, 10, DRIVERS),
                rng.integers(0, 100000, DRIVERS),
                letters[rng.integers(0, len(letters), DRIVERS)],
                strict=False,
            )
        ],
        dtype=object,
    )
    v_cert = np.array([f"329900{x:06d}" for x in rng.choice(1_000_000, DRIVERS, replace=False)], dtype=object)
    # orders: platform by market share, then a driver of that platform
    plat = rng.choice(len(PLATFORMS), size=n, p=[p[2] for p in PLATFORMS]).astype(np.int8)
    by_plat = [np.flatnonzero(pi_drv == k) for k in range(len(PLATFORMS))]
    drv = np.empty(n, dtype=np.int16)
    for k, ids in enumerate(by_plat):
        m = plat == k
        drv[m] = ids[rng.integers(0, ids.size, m.sum())]
    u = rng.random(n)
    status = np.where(u < CANCEL_P["cancelled_by_passenger"], 0, np.where(u < sum(CANCEL_P.values()), 1, 2)).astype(np.int8)
    del u
    done = status == 2
    px, py = pts["x"].to_numpy(), pts["y"].to_numpy()
    straight = np.hypot(px[pick_pt] - px[drop_pt], py[pick_pt] - py[drop_pt]) / 1000.0
    dist = np.round(np.maximum(1.0, straight * rng.uniform(1.2, 1.5, n) + rng.exponential(0.6, n)), 1)
    del straight
    peak = np.isin(hod, [7, 8, 17, 18])
    speed = np.where(peak, 18.0, np.where((hod >= 22) | (hod < 6), 35.0, 26.0)) * rng.uniform(0.8, 1.2, n)
    dur = np.maximum(3, np.round(dist / speed * 60)).astype(np.int64)
    del speed
    wet = np.isin(cal["weather"].to_numpy()[day], ["中雨", "大雨"]) & peak
    surge = np.where(
        surge_flag,
        rng.choice([1.5, 1.6, 1.8, 2.0], n),
        np.where(wet, rng.choice([1.2, 1.3, 1.4], n), np.where(rng.random(n) < 0.03, 1.1, 1.0)),
    )
    del wet, peak
    night = (hod >= 23) | (hod < 5)
    fare = (11.0 + 2.4 * np.maximum(dist - 3.0, 0) + 0.5 * dur) * np.where(night, 1.2, 1.0) * surge
    del night, hod
    t_pick = t_order + rng.integers(2 * MINUTE, 12 * MINUTE, n)
    t_up = np.where(done, t_pick + dur * MINUTE, t_order + rng.integers(MINUTE, 10 * MINUTE, n)) + rng.integers(MINUTE, 30 * MINUTE, n)
    phone = draw_mobiles(rng, n)
    # kept for formatting, as small as they go: times in seconds since the run's start
    t0 = day_seconds(rc.start)
    t_order, t_pick, t_up = ((t - t0).astype(np.int32) for t in (t_order, t_pick, t_up))
    day, dur = day.astype(np.int16), dur.astype(np.int16)
    pick_pt, drop_pt = pick_pt.astype(np.int32), drop_pt.astype(np.int32)

    first_of_day = np.searchsorted(day, np.arange(rc.days))
    dstr = rc.day_codes
    suffix = np.array([p[0][-3:] for p in PLATFORMS], dtype=object)
    pcode = np.array([p[0] for p in PLATFORMS], dtype=object)
    pname = np.array([p[1] for p in PLATFORMS], dtype=object)
    lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
    status_name = np.array(["cancelled_by_passenger", "cancelled_by_driver", "completed"], dtype=object)

    def order_id(r):
        seq = r - first_of_day[day[r]]
        return np.array([f"{c}{a}{b:07d}" for c, a, b in zip(suffix[plat[r]], dstr[day[r]], seq.tolist(), strict=False)], dtype=object)

    def seconds(t, r):  # back to local seconds since 1970
        return t[r].astype(np.int64) + t0

    def t_drop(r):
        return seconds(t_pick, r) + dur[r].astype(np.int64) * MINUTE

    fare_col = lambda r: fmt_fixed(np.where(done[r], fare[r], 0.0), 2)  # noqa: E731
    columns = {
        "order_id": order_id,
        "platform_code": lambda r: pcode[plat[r]],
        "platform_name": lambda r: pname[plat[r]],
        "driver_cert_no": lambda r: d_cert[drv[r]],
        "driver_name": lambda r: d_name[drv[r]],
        "driver_phone": lambda r: d_phone[drv[r]],
        "plate_no": lambda r: plate[drv[r]],
        "vehicle_cert_no": lambda r: v_cert[drv[r]],
        "driver_cert_valid": lambda r: d_valid[drv[r]],
        "vehicle_cert_valid": lambda r: v_valid[drv[r]],
        "order_time": lambda r: fmt_times(seconds(t_order, r)),
        "pickup_time": lambda r: fmt_times(seconds(t_pick, r), ~done[r]),
        "dropoff_time": lambda r: fmt_times(t_drop(r), ~done[r]),
        "pickup_lon": lambda r: fmt_fixed(lon[pick_pt[r]], 6),
        "pickup_lat": lambda r: fmt_fixed(lat[pick_pt[r]], 6),
        "dropoff_lon": lambda r: fmt_fixed(lon[drop_pt[r]], 6),
        "dropoff_lat": lambda r: fmt_fixed(lat[drop_pt[r]], 6),
        "distance_km": lambda r: fmt_fixed(np.where(done[r], dist[r], 0.0), 1),
        "duration_min": lambda r: fmt_int(np.where(done[r], dur[r], 0)),
        "fare_yuan": fare_col,
        "fare_amount": fare_col,  # export version 2 renames it ...
        "surge_multiplier": lambda r: fmt_fixed(surge[r], 1),  # ... and adds this
        "passenger_phone": lambda r: fmt_ints(phone[r]),
        "order_status": lambda r: status_name[status[r]],
        "upload_time": lambda r: fmt_times(seconds(t_up, r)),
    }
    return Rows(internal_frame(day), columns, order_id)
