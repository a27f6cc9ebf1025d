"""Digital urban management (数字城管) cases: one JSONL line per case event."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .city import City
from .common import DAY, HOUR, MINUTE, day_seconds, draw_names, fmt_ints, fmt_names, fmt_times, names, pick_index
from .plan import RunCalendar
from .rows import Rows, internal_frame

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
STAGES = ["上报", "核实", "作废", "立案", "派遣", "延期", "处置", "核查", "返工", "结案"]
REMARKS = {
    "作废": "经核实不属于城管职责范围，不予立案",
    "延期": "需协调多个部门处置，申请延期",
    "返工": "核查未通过：处置不彻底，退回重新处置",
    "结案": "核查通过，予以结案",
    "处置": "已处置完毕",
}


def generate(rng: np.random.Generator, city: City, rc: RunCalendar, day_types: np.ndarray, scale: float) -> Rows:
    """Every case's numbers and its events, drawn as they always were, and how to format
    them per drop file (a case's strings are formatted on each of its ~7 event lines)."""
    days = rc.days
    pts = city.points
    w = 0.5 * pts["w_pop"].to_numpy() / pts["w_pop"].sum() + 0.5 * pts["w_com"].to_numpy() / pts["w_com"].sum()
    lam = CASES_PER_DAY * scale * np.where(day_types == "workday", 1.0, 0.6)
    nday = rng.poisson(lam)
    n = int(nday.sum())
    day = np.repeat(np.arange(days), nday)
    cw = np.cumsum(w)
    pt = np.minimum(np.searchsorted(cw, rng.uniform(0, cw[-1], n), side="right"), len(cw) - 1)
    src = pick_index(rng, SOURCES[1], n)
    insp = src == 0  # 监督员上报
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
        ci.append(idx), et.append(np.full(idx.size, STAGES.index(name), np.int8)), tt.append(t[idx])
        dl.append(dline[idx] if has_dl else np.full(idx.size, -1))
    ci, et, tt, dl = map(np.concatenate, (ci, et, tt, dl))
    o = np.lexsort((tt, ci))
    ci, et, tt, dl = ci[o], et[o], tt[o], dl[o]
    seq = np.arange(ci.size) - np.searchsorted(ci, ci) + 1
    eday = (tt - day_seconds(rc.start)) // DAY
    keep = eday < days
    ci, et, tt, dl, seq, eday = ci[keep], et[keep], tt[keep], dl[keep], seq[keep], eday[keep]

    # the reporter: an inspector, or a citizen, a camera or a hotline ticket
    insp_id = np.array([f"JD{k:04d}" for k in range(1, N_INSPECTORS + 1)], dtype=object)
    insp_name = names(rng, N_INSPECTORS)
    inspector = rng.integers(0, N_INSPECTORS, n)
    number = np.zeros(n, dtype=np.int64)  # of the citizen, camera or hotline ticket
    citizen = np.zeros((n, 3), dtype=np.int16)  # the citizen's name draws
    pub, cam, hot = src == 1, src == 2, src == 3
    number[pub] = rng.integers(0, 10**9, pub.sum())
    citizen[pub] = draw_names(rng, int(pub.sum()))
    number[cam] = rng.integers(0, 2000, cam.sum())
    number[hot] = rng.integers(1, 600, hot.sum())

    o = np.lexsort((seq, tt))  # file order: by time, then a case's own order
    cases = {"day": day, "pt": pt, "src": src, "ty": ty, "urgent": urgent, "inspector": inspector, "number": number, "citizen": citizen}
    columns = _columns(rc, city, insp_id, insp_name, cases, ci[o], et[o], tt[o], dl[o], seq[o])
    return Rows(internal_frame(eday[o]), columns, lambda r: columns["case_no"](r) + "#" + fmt_ints(columns["event_seq"](r)))


def _columns(rc, city, insp_id, insp_name, x: dict, ci, et, tt, dl, seq) -> dict:
    """Formatters of the JSON keys; row r is event ``et[r]`` (a ``STAGES`` index) of case ``ci[r]``."""
    grids, pts = city.grids, city.points
    gi = pts["grid"].to_numpy()[x["pt"]]
    district = grids["district_name"].to_numpy(dtype=object)
    street = grids["street_name"].to_numpy(dtype=object)
    grid_code = grids["grid_code"].to_numpy(dtype=object)
    address = pts["address"].to_numpy(dtype=object)
    lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
    dstr = rc.day_codes
    cseq = np.arange(x["day"].size) - np.searchsorted(x["day"], x["day"]) + 1
    sources = np.array(SOURCES[0], dtype=object)
    category, major, minor, finding = (np.array([t[j] for t in TYPES], dtype=object) for j in (0, 1, 2, 6))
    stages = np.array(STAGES, dtype=object)
    remarks = np.array([REMARKS.get(e, "") for e in STAGES], dtype=object)
    no_handler = np.isin(stages, ["上报", "核实", "作废", "立案"])

    def case(f):
        """A case-level key: the same value on every event of the case."""
        return lambda r: f(ci[r])

    def reporter_id(i):
        out = insp_id[x["inspector"][i]]
        src, v, days = x["src"][i], x["number"][i], dstr[x["day"][i]]
        for code, fmt in ((1, "WX{v:09d}"), (2, "SP{v:05d}"), (3, "12345-{d}-{v:06d}")):
            m = src == code
            out[m] = [fmt.format(v=a, d=b) for a, b in zip(v[m].tolist(), days[m], strict=False)]
        return out

    def reporter_name(i):
        out = insp_name[x["inspector"][i]]
        src = x["src"][i]
        out[src == 1] = fmt_names(x["citizen"][i][src == 1])
        out[src == 2] = "视频智能识别"
        out[src == 3] = "市民热线服务中心"
        return out

    def handler(r):
        i = ci[r]
        t, s, d = x["ty"][i].tolist(), street[gi[i]].tolist(), district[gi[i]].tolist()
        unit = np.array([TYPES[a][5].format(s=b, d=c) for a, b, c in zip(t, s, d, strict=False)], dtype=object)
        unit[no_handler[et[r]]] = None
        return unit

    def deadline(r):
        out = np.full(r.size, None, dtype=object)
        has = dl[r] >= 0
        out[has] = fmt_times(dl[r][has])
        return out

    return {
        "case_no": case(
            lambda i: np.array([f"CG{a}{b:05d}" for a, b in zip(dstr[x["day"][i]], cseq[i].tolist(), strict=False)], dtype=object)
        ),
        "event_seq": lambda r: seq[r],
        "event_type": lambda r: stages[et[r]],
        "event_time": lambda r: fmt_times(tt[r]),
        "source": case(lambda i: sources[x["src"][i]]),
        "category": case(lambda i: category[x["ty"][i]]),
        "major_type": case(lambda i: major[x["ty"][i]]),
        "minor_type": case(lambda i: minor[x["ty"][i]]),
        "description": case(lambda i: address[x["pt"][i]] + "附近" + finding[x["ty"][i]]),
        "grid_code": case(lambda i: grid_code[gi[i]]),
        "address": case(lambda i: district[gi[i]] + street[gi[i]] + address[x["pt"][i]]),
        "lon": case(lambda i: lon[x["pt"][i]]),
        "lat": case(lambda i: lat[x["pt"][i]]),
        "reporter_id": case(reporter_id),
        "reporter_name": case(reporter_name),
        "handler_unit": handler,
        "deadline": deadline,
        "is_urgent": case(lambda i: x["urgent"][i]),
        "is_overdue": lambda r: (dl[r] >= 0) & (tt[r] > dl[r]),
        "remark": lambda r: remarks[et[r]],
    }


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
