"""110 police incidents (接处警): one JSON document per day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .city import City
from .common import DAY, HOUR, MINUTE, day_seconds, draw_mobiles, draw_names, fmt_ints, fmt_names, fmt_times, json_dumps, mobiles, names
from .plan import RunCalendar, escalation_probability, stability_multiplier
from .rows import Rows, concat, internal_frame

KEYS = [
    "incident_no",
    "call_time",
    "alarm_phone",
    "caller_name",
    "type_code",
    "type_name",
    "severity",
    "lon",
    "lat",
    "address",
    "district",
    "street",
    "dispatch_unit",
    "arrive_time",
    "closed_time",
    "disposal_result",
]
INCIDENTS_PER_DAY = 250.0
# name, code, weight, severity probabilities (1..4), unit kind, disposal results
TYPES = [
    ("治安纠纷", "0301", 10, (0.35, 0.45, 0.17, 0.03), "pcs", ["调解成功", "当事人协商解决", "移交派出所进一步处理"]),
    ("家庭纠纷", "0302", 7, (0.45, 0.40, 0.13, 0.02), "pcs", ["调解成功", "劝解后双方离开", "告知诉讼途径"]),
    ("邻里纠纷", "0303", 6, (0.55, 0.38, 0.07, 0), "pcs", ["调解成功", "移交社区调解", "告知诉讼途径"]),
    ("盗窃", "0201", 7, (0.10, 0.50, 0.35, 0.05), "pcs", ["已受案登记", "已立案侦查", "现场勘查完毕"]),
    ("诈骗", "0202", 6, (0.05, 0.45, 0.40, 0.10), "pcs", ["已受案登记", "已立案侦查", "指导止付"]),
    ("交通事故", "0401", 20, (0.50, 0.35, 0.12, 0.03), "traffic", ["当事人自行协商", "简易程序处理", "移交事故处理中队"]),
    ("噪音扰民", "0304", 7, (0.80, 0.20, 0, 0), "pcs", ["现场劝解，噪音停止", "告知相关部门"]),
    ("求助", "0501", 22, (0.70, 0.25, 0.05, 0), "pcs", ["救助完毕", "已联系家属", "移交相关部门"]),
    ("火警", "0601", 2, (0, 0.30, 0.50, 0.20), "fire", ["明火已扑灭", "无人员伤亡，现场处置完毕", "误报"]),
    ("斗殴", "0305", 2, (0, 0.20, 0.55, 0.25), "pcs", ["已控制当事人", "已立案侦查", "调解成功"]),
    ("可疑情况", "0306", 5, (0.60, 0.35, 0.05, 0), "pcs", ["现场查看无异常", "已盘查", "持续关注"]),
]
TYPE_INDEX = {t[0]: i for i, t in enumerate(TYPES)}
# the escalation outcome: planted per community-week (escalation_probability), not in the daily mix
MASS_INCIDENT = ("群体性事件", "0701", "现场处置完毕，聚集人员已疏散")
HOUR_P = np.array([3, 2.2, 1.6, 1.1, 0.9, 1, 1.6, 3, 4, 4.5, 4.6, 4.8, 4.6, 4.4, 4.5, 4.7, 5, 5.5, 5.8, 6, 6.1, 5.8, 5, 4])
HOUR_P = HOUR_P / HOUR_P.sum()


def generate(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    day_types: np.ndarray,
    scale: float,
    stab: list[dict],
    stab_rates: list[np.ndarray],
) -> Rows:
    """The day's incidents as numbers, drawn as they always were, and how to format them."""
    days = rc.days
    pts = city.points
    w = 0.6 * pts["w_pop"].to_numpy() / pts["w_pop"].sum() + 0.4 * pts["w_com"].to_numpy() / pts["w_com"].sum()
    lam = INCIDENTS_PER_DAY * scale * np.where(day_types == "workday", 1.0, 1.1)
    dd, pp, tt = [], [], []

    def draw(lam_day, ids, weights, types):
        nd = rng.poisson(lam_day)
        d = np.repeat(np.arange(days), nd)
        c = np.cumsum(weights)
        k = np.minimum(np.searchsorted(c, rng.uniform(0, c[-1], d.size), side="right"), len(c) - 1)
        dd.append(d), pp.append(ids[k]), tt.append(types(d.size))

    wt = np.array([t[2] for t in TYPES], dtype=float)
    draw(lam, np.arange(len(pts)), w, lambda m: rng.choice(len(TYPES), size=m, p=wt / wt.sum()))
    for s, extra in zip(stab, stab_rates, strict=False):
        ids = np.flatnonzero(pts["comm_idx"].to_numpy() == s["comm_idx"])
        kinds = [TYPE_INDEX[x] for x in s["drivers"]["police"]]
        draw(extra, ids, w[ids] + 1e-12, lambda m, kinds=kinds: np.array(kinds)[rng.integers(0, len(kinds), m)])
    day, pt, ty = map(np.concatenate, (dd, pp, tt))
    n = day.size
    t0 = day_seconds(rc.start) + day * DAY + rng.choice(24, size=n, p=HOUR_P) * HOUR + rng.integers(0, HOUR, n)
    o = np.lexsort((pt, t0))
    day, pt, ty, t0 = day[o], pt[o], ty[o], t0[o]
    sev = np.array([rng.choice(4, p=np.array(TYPES[t][3]) / sum(TYPES[t][3])) + 1 for t in ty.tolist()])
    t_arr = t0 + rng.integers(3 * MINUTE, 18 * MINUTE, n) - (sev - 1) * MINUTE
    t_close = t_arr + rng.integers(15 * MINUTE, 3 * HOUR, n)
    result = rng.integers(0, 6, n)
    caller = draw_names(rng, n)
    anonymous = rng.random(n) < 0.12
    phone = draw_mobiles(rng, n)

    grid = pts["grid"].to_numpy()[pt]
    district = city.grids["district_name"].to_numpy(dtype=object)
    street = city.grids["street_name"].to_numpy(dtype=object)
    address = pts["address"].to_numpy(dtype=object)
    lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
    dstr = rc.day_codes
    first_of_day = np.searchsorted(day, np.arange(days))
    code, name = (np.array([t[j] for t in TYPES], dtype=object) for j in (1, 0))
    export = day_seconds(rc.start) + (day + 1) * DAY - 1
    closed = t_close > export

    def incident_no(r):
        seq = r - first_of_day[day[r]] + 1
        return np.array([f"J{a}{b:05d}" for a, b in zip(dstr[day[r]], seq.tolist(), strict=False)], dtype=object)

    def caller_name(r):
        out = fmt_names(caller[r])
        out[anonymous[r]] = "匿名"
        return out

    def unit(r):
        d, kind = district[grid[r]], np.array([TYPES[t][4] for t in ty[r].tolist()], dtype=object)
        pcs = np.array([x[:2] for x in street[grid[r]].tolist()], dtype=object)
        return np.where(kind == "traffic", d + "交警大队", np.where(kind == "fire", d + "消防救援大队", d + "公安分局" + pcs + "派出所"))

    def disposal(r):
        res = np.array([TYPES[t][5][k % len(TYPES[t][5])] for t, k in zip(ty[r].tolist(), result[r].tolist(), strict=False)], dtype=object)
        return np.where(closed[r], "处置中", res).astype(object)

    columns = {
        "incident_no": incident_no,
        "call_time": lambda r: fmt_times(t0[r]),
        "alarm_phone": lambda r: fmt_ints(phone[r]),
        "caller_name": caller_name,
        "type_code": lambda r: code[ty[r]],
        "type_name": lambda r: name[ty[r]],
        "severity": lambda r: sev[r],
        "lon": lambda r: lon[pt[r]],
        "lat": lambda r: lat[pt[r]],
        "address": lambda r: district[grid[r]] + street[grid[r]] + address[pt[r]],
        "district": lambda r: district[grid[r]],
        "street": lambda r: street[grid[r]],
        "dispatch_unit": unit,
        "arrive_time": lambda r: fmt_times(t_arr[r], t_arr[r] > export[r]),
        "closed_time": lambda r: fmt_times(t_close[r], closed[r]),
        "disposal_result": disposal,
    }
    return Rows(internal_frame(day), columns, incident_no)


def mass_incidents(rng: np.random.Generator, city: City, rc: RunCalendar, stab: list[dict]) -> pd.DataFrame:
    """Mass incidents (群体性事件): at most one per community-week, drawn with escalation_probability
    of the community's planted risk multiplier that week (a small background chance everywhere).

    Rows have the police columns plus ``_community_code`` and ``_iso_week`` (truth); their
    incident numbers use the sequence block 90001+ of their day, so no daily number collides.
    """
    comms = city.communities
    weeks = np.arange(rc.n_weeks)
    mult = np.ones((len(comms), rc.n_weeks))
    for s in stab:
        mult[s["comm_idx"]] = stability_multiplier(s, weeks)
    hit = rng.random(mult.shape) < escalation_probability(mult)
    pts = city.points
    rows = []
    for ci, w in zip(*np.nonzero(hit), strict=False):
        days = np.flatnonzero(rc.week_of_day == w)
        day = int(rng.choice(days))
        ids = np.flatnonzero(pts["comm_idx"].to_numpy() == ci)
        if ids.size == 0:
            continue
        pt = int(rng.choice(ids))
        rows.append((day, pt, int(ci), int(w), int(rng.integers(8 * HOUR, 20 * HOUR)), int(rng.integers(3, 5))))
    rows.sort()
    n = len(rows)
    day = np.array([r[0] for r in rows], dtype=int)
    pt = np.array([r[1] for r in rows], dtype=int)
    t0 = day_seconds(rc.start) + day * DAY + np.array([r[4] for r in rows], dtype=int)
    t_arr = t0 + rng.integers(5 * MINUTE, 15 * MINUTE, n)
    t_close = t_arr + rng.integers(2 * HOUR, 6 * HOUR, n)
    export = day_seconds(rc.start) + (day + 1) * DAY - 1
    g = city.grids.iloc[pts["grid"].to_numpy()[pt]]
    district = g["district_name"].to_numpy(dtype=object)
    street = g["street_name"].to_numpy(dtype=object)
    dstr = rc.day_codes[day]
    seq = 90001 + np.arange(n) - np.searchsorted(day, day)
    caller = names(rng, n)
    caller[rng.random(n) < 0.3] = "匿名"
    df = pd.DataFrame(
        {
            "incident_no": np.array([f"J{a}{b:05d}" for a, b in zip(dstr.tolist(), seq.tolist(), strict=False)], dtype=object),
            "call_time": fmt_times(t0),
            "alarm_phone": mobiles(rng, n),
            "caller_name": caller,
            "type_code": MASS_INCIDENT[1],
            "type_name": MASS_INCIDENT[0],
            "severity": np.array([r[5] for r in rows], dtype=int),
            "lon": pts["lon"].to_numpy()[pt],
            "lat": pts["lat"].to_numpy()[pt],
            "address": district + street + pts["address"].to_numpy(dtype=object)[pt],
            "district": district,
            "street": street,
            "dispatch_unit": district + "公安分局" + np.array([s[:2] for s in street.tolist()], dtype=object) + "派出所",
            "arrive_time": fmt_times(t_arr, t_arr > export),
            "closed_time": fmt_times(t_close, t_close > export),
            "disposal_result": np.where(t_close > export, "处置中", MASS_INCIDENT[2]).astype(object),
        }
    )
    df["_drop"] = day
    df["_event_day"] = day
    df["_key"] = df["incident_no"]
    df["_community_code"] = comms["community_code"].to_numpy(dtype=object)[[r[2] for r in rows]]
    df["_iso_week"] = np.array(rc.week_labels, dtype=object)[[r[3] for r in rows]]
    return df


def with_mass_incidents(daily: Rows, mass: pd.DataFrame) -> Rows:
    """The day's incidents, then that day's mass incidents (the daily rows stay as they were)."""
    mass = mass.drop(columns=["_community_code", "_iso_week"]).assign(_ord=len(daily) + np.arange(len(mass), dtype=float))
    return concat([daily, Rows.from_frame(mass)])


def json_bytes(df: pd.DataFrame, drop_date: str) -> bytes:
    recs = df[KEYS].to_dict("records")
    for r in recs:
        r["severity"] = int(r["severity"])
    head = json_dumps({"export_time": f"{drop_date} 23:59:59", "system": "110接处警系统"})[:-1]
    body = ",\n".join(json_dumps(r) for r in recs)
    return (head + ', "records": [\n' + body + "\n]}\n").encode("utf-8")
