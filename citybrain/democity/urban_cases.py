"""Digital urban management (数字城管) cases: one JSONL line per case event."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .city import City
from .common import DAY, HOUR, MINUTE, day_seconds, fmt_times, names, pick
from .plan import RunCalendar

KEYS = [
    "case_no",
    "event_seq",
    "event_type",
    "event_time",
    "source",
    "category",
    "major_type",
    "minor_type",
    "description",
    "grid_code",
    "address",
    "lon",
    "lat",
    "reporter_id",
    "reporter_name",
    "handler_unit",
    "deadline",
    "is_urgent",
    "is_overdue",
    "remark",
]
CASES_PER_DAY = 150.0
# category, major, minor, weight, time limit (hours), handler template, finding
TYPES = [
    ("事件", "市容环境", "违规张贴小广告", 20, 24, "{s}环卫所", "墙面、电线杆上有违规张贴的小广告"),
    ("事件", "市容环境", "乱堆物料", 12, 24, "{s}城管执法中队", "有人在人行道乱堆建筑材料和杂物"),
    ("事件", "市容环境", "暴露垃圾", 10, 4, "{s}环卫所", "路边有暴露垃圾未及时清理"),
    ("事件", "市容环境", "道路不洁", 8, 4, "{s}环卫所", "路面有油污和垃圾，保洁不到位"),
    ("事件", "街面秩序", "占道经营", 10, 2, "{s}城管执法中队", "有流动摊贩占道经营"),
    ("事件", "街面秩序", "店外经营", 6, 4, "{s}城管执法中队", "沿街商铺超出门窗店外经营"),
    ("事件", "施工管理", "施工占道", 3, 48, "{d}建设工程管理站", "施工围挡占用人行道"),
    ("事件", "施工管理", "渣土洒漏", 3, 4, "{d}渣土管理所", "渣土车运输洒漏污染路面"),
    ("事件", "突发事件", "道路积水", 2, 2, "市排水管理处", "路面积水较深影响通行"),
    ("事件", "广告招牌", "广告牌匾破损", 2, 72, "{s}城管执法中队", "店招牌匾破损存在坠落隐患"),
    ("部件", "公用设施", "雨水井盖", 5, 4, "市排水管理处", "雨水井盖破损"),
    ("部件", "公用设施", "污水井盖", 4, 4, "市排水管理处", "污水井盖缺失"),
    ("部件", "公用设施", "路灯", 4, 48, "市路灯管理所", "路灯不亮"),
    ("部件", "市容环境", "垃圾箱", 8, 48, "{s}环卫所", "垃圾箱破损"),
    ("部件", "道路交通", "交通标志", 2, 72, "市交警支队设施大队", "交通标志牌倾斜损坏"),
    ("部件", "道路交通", "护栏", 2, 72, "{d}市政工程管理处", "道路护栏损坏"),
    ("部件", "园林绿化", "行道树", 2, 72, "{d}园林绿化管理所", "行道树倒伏或枯死"),
]
SOURCES = (["监督员上报", "公众举报(微信)", "视频监控", "12345转办"], [0.91, 0.04, 0.03, 0.02])
N_INSPECTORS = 140
REMARKS = {
    "作废": "经核实不属于城管职责范围，不予立案",
    "延期": "需协调多个部门处置，申请延期",
    "返工": "核查未通过：处置不彻底，退回重新处置",
    "结案": "核查通过，予以结案",
    "处置": "已处置完毕",
}


def generate(rng: np.random.Generator, city: City, rc: RunCalendar, day_types: np.ndarray, scale: float) -> pd.DataFrame:
    days = rc.days
    pts = city.points
    w = 0.5 * pts["w_pop"].to_numpy() / pts["w_pop"].sum() + 0.5 * pts["w_com"].to_numpy() / pts["w_com"].sum()
    lam = CASES_PER_DAY * scale * np.where(day_types == "workday", 1.0, 0.6)
    nday = rng.poisson(lam)
    n = int(nday.sum())
    day = np.repeat(np.arange(days), nday)
    cw = np.cumsum(w)
    pt = np.minimum(np.searchsorted(cw, rng.uniform(0, cw[-1], n), side="right"), len(cw) - 1)
    src = pick(rng, *SOURCES, n)
    insp = src == "监督员上报"
    hour = np.where(insp, rng.integers(8, 18, n), rng.integers(7, 22, n))
    t0 = day_seconds(rc.start) + day * DAY + hour * HOUR + rng.integers(0, HOUR, n)
    order = np.lexsort((pt, t0))
    day, pt, src, insp, t0 = day[order], pt[order], src[order], insp[order], t0[order]
    ty = rng.choice(len(TYPES), size=n, p=np.array([t[3] for t in TYPES]) / sum(t[3] for t in TYPES))
    urgent = (rng.random(n) < 0.04) | ((np.isin(ty, [10, 11])) & (rng.random(n) < 0.3))
    limit = np.where(urgent, 2 * HOUR, np.array([t[4] for t in TYPES])[ty] * HOUR)

    t1 = t0 + rng.integers(5 * MINUTE, 60 * MINUTE, n)  # 核实
    void = rng.random(n) < 0.03
    t_void = t1 + rng.integers(5 * MINUTE, 30 * MINUTE, n)
    t2 = t1 + rng.integers(5 * MINUTE, 30 * MINUTE, n)  # 立案
    t3 = t2 + rng.integers(5 * MINUTE, 40 * MINUTE, n)  # 派遣
    deadline = t3 + limit
    postpone = ~void & (rng.random(n) < 0.008)
    t_post = t3 + (rng.uniform(0.3, 0.8, n) * limit).astype(np.int64)
    deadline2 = np.where(postpone, deadline + limit, deadline)
    stuck = ~void & (rng.random(n) < 0.015)
    ontime = rng.random(n) < 0.91
    t4 = np.where(
        ontime,
        t3 + (rng.uniform(0.1, 0.95, n) * (deadline2 - t3)).astype(np.int64),
        deadline2 + (rng.uniform(0.05, 1.5, n) * limit).astype(np.int64),
    )
    t5 = t4 + rng.integers(20 * MINUTE, 4 * HOUR, n)  # 核查
    rework = ~void & ~stuck & (rng.random(n) < 0.012)
    t5r = t5 + rng.integers(5 * MINUTE, 20 * MINUTE, n)  # 返工
    t6 = t5r + (rng.uniform(0.1, 0.5, n) * limit).astype(np.int64)
    t7 = t6 + rng.integers(20 * MINUTE, 4 * HOUR, n)
    t_close = np.where(rework, t7, t5) + rng.integers(5 * MINUTE, 60 * MINUTE, n)

    live = ~void
    done = live & ~stuck
    stages = [  # (event type, mask, time, has deadline, deadline)
        ("上报", np.ones(n, bool), t0, False, deadline),
        ("核实", np.ones(n, bool), t1, False, deadline),
        ("作废", void, t_void, False, deadline),
        ("立案", live, t2, True, deadline),
        ("派遣", live, t3, True, deadline),
        ("延期", postpone, t_post, True, deadline2),
        ("处置", done, t4, True, deadline2),
        ("核查", done, t5, True, deadline2),
        ("返工", rework, t5r, True, deadline2),
        ("处置", rework, t6, True, deadline2),
        ("核查", rework, t7, True, deadline2),
        ("结案", done, t_close, True, deadline2),
    ]
    ci, et, tt, dl = [], [], [], []
    for name, m, t, has_dl, dline in stages:
        idx = np.flatnonzero(m)
        ci.append(idx), et.append(np.full(idx.size, name, dtype=object)), tt.append(t[idx])
        dl.append(dline[idx] if has_dl else np.full(idx.size, -1))
    ci, et, tt, dl = map(np.concatenate, (ci, et, tt, dl))
    o = np.lexsort((tt, ci))
    ci, et, tt, dl = ci[o], et[o], tt[o], dl[o]
    seq = np.arange(ci.size) - np.searchsorted(ci, ci) + 1
    eday = (tt - day_seconds(rc.start)) // DAY
    keep = eday < days
    ci, et, tt, dl, seq, eday = ci[keep], et[keep], tt[keep], dl[keep], seq[keep], eday[keep]

    # case attributes
    g = city.grids.iloc[pts["grid"].to_numpy()[pt]]
    district = g["district_name"].to_numpy(dtype=object)
    street = g["street_name"].to_numpy(dtype=object)
    address = district + street.astype(str).astype(object) + pts["address"].to_numpy(dtype=object)[pt]
    dstr = np.array([d.strftime("%Y%m%d") for d in rc.dates], dtype=object)[day]
    cseq = np.arange(n) - np.searchsorted(day, day) + 1
    case_no = np.array([f"CG{a}{b:05d}" for a, b in zip(dstr.tolist(), cseq.tolist(), strict=False)], dtype=object)
    insp_id = np.array([f"JD{k:04d}" for k in range(1, N_INSPECTORS + 1)], dtype=object)
    insp_name = names(rng, N_INSPECTORS)
    k = rng.integers(0, N_INSPECTORS, n)
    rid = insp_id[k].copy()
    rname = insp_name[k].copy()
    pub = src == "公众举报(微信)"
    rid[pub] = np.array([f"WX{v:09d}" for v in rng.integers(0, 10**9, pub.sum()).tolist()], dtype=object)
    rname[pub] = names(rng, int(pub.sum()))
    cam = src == "视频监控"
    rid[cam] = np.array([f"SP{v:05d}" for v in rng.integers(0, 2000, cam.sum()).tolist()], dtype=object)
    rname[cam] = "视频智能识别"
    hot = src == "12345转办"
    rid[hot] = np.array(
        [f"12345-{a}-{v:06d}" for a, v in zip(dstr[hot].tolist(), rng.integers(1, 600, hot.sum()).tolist(), strict=False)], dtype=object
    )
    rname[hot] = "市民热线服务中心"
    unit = np.array(
        [TYPES[t][5].format(s=s, d=d) for t, s, d in zip(ty.tolist(), street.tolist(), district.tolist(), strict=False)], dtype=object
    )
    desc = pts["address"].to_numpy(dtype=object)[pt] + "附近" + np.array([t[6] for t in TYPES], dtype=object)[ty]

    dl_str = fmt_times(np.maximum(dl, 0), dl < 0)
    df = pd.DataFrame(
        {
            "case_no": case_no[ci],
            "event_seq": seq,
            "event_type": et,
            "event_time": fmt_times(tt),
            "source": src[ci],
            "category": np.array([t[0] for t in TYPES], dtype=object)[ty][ci],
            "major_type": np.array([t[1] for t in TYPES], dtype=object)[ty][ci],
            "minor_type": np.array([t[2] for t in TYPES], dtype=object)[ty][ci],
            "description": desc[ci],
            "grid_code": g["grid_code"].to_numpy(dtype=object)[ci],
            "address": address[ci],
            "lon": pts["lon"].to_numpy()[pt][ci],
            "lat": pts["lat"].to_numpy()[pt][ci],
            "reporter_id": rid[ci],
            "reporter_name": rname[ci],
            "handler_unit": np.where(np.isin(et, ["上报", "核实", "作废", "立案"]), None, unit[ci]),
            "deadline": np.where(dl < 0, None, dl_str).astype(object),
            "is_urgent": urgent[ci],
            "is_overdue": (dl >= 0) & (tt > dl),
            "remark": np.array([REMARKS.get(e, "") for e in et.tolist()], dtype=object),
        }
    )
    df["_drop"] = eday
    df["_event_day"] = eday
    df["_ord"] = np.lexsort((seq, tt)).argsort().astype(float)
    df["_key"] = df["case_no"] + "#" + df["event_seq"].astype(str)
    df = df.sort_values("_ord", kind="stable").reset_index(drop=True)
    return df


def jsonl_bytes(df: pd.DataFrame) -> bytes:
    from .common import json_dumps

    recs = df[KEYS].to_dict("records")
    lines = []
    for r in recs:
        r["event_seq"] = int(r["event_seq"])
        r["is_urgent"] = bool(r["is_urgent"])
        r["is_overdue"] = bool(r["is_overdue"])
        lines.append(json_dumps(r))
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")
