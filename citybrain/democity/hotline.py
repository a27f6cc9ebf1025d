"""12345 hotline: tickets, their life cycle, and the daily status-change export."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .city import City
from .common import (
    DAY,
    HOUR,
    MINUTE,
    draw_id_numbers,
    draw_mobiles,
    draw_names,
    fmt_fixed,
    fmt_id_numbers,
    fmt_ints,
    fmt_names,
    fmt_times,
    pick_index,
)
from .plan import RunCalendar
from .rows import Rows, internal_frame

COLUMNS = [
    "工单编号",
    "受理时间",
    "更新时间",
    "来源渠道",
    "诉求类型",
    "一级分类",
    "二级分类",
    "诉求内容",
    "来电人姓名",
    "来电号码",
    "身份证号",
    "诉求地址",
    "区县",
    "街道",
    "社区",
    "经度",
    "纬度",
    "办理方式",
    "承办单位",
    "派单时间",
    "签收时间",
    "办结时限",
    "办结时间",
    "回访时间",
    "满意度",
    "工单状态",
]
TICKETS_PER_DAY = 600.0  # ~1.0M residents: ~17-18 requests per 1,000 residents per month
DAY_FACTOR = {"workday": 1.0, "weekend": 0.8, "holiday": 0.7}
COM_SHARE = 0.2  # share of tickets driven by commerce rather than residents

# l1, l2, residential weight, commercial weight, issue phrase, topic
CATEGORIES = [
    ("城市管理", "噪声扰民", 6, 5, "夜间噪声较大，严重影响休息", "噪声扰民处理"),
    ("城市管理", "占道经营", 2, 10, "有商贩长期占道经营，影响通行", "占道经营管理"),
    ("城市管理", "违章搭建", 3, 1, "有人违规搭建构筑物", "违章搭建认定"),
    ("城市管理", "市容环境", 3, 5, "环境卫生脏乱，垃圾堆放", "市容环境整治"),
    ("城市管理", "垃圾清运", 3, 3, "垃圾清运不及时，气味较大", "垃圾分类和清运"),
    ("城市管理", "施工扰民", 3, 3, "工地夜间施工，噪声和扬尘扰民", "夜间施工审批"),
    ("环境保护", "油烟污染", 2, 6, "餐饮店油烟直排，影响周边住户", "餐饮油烟治理"),
    ("环境保护", "异味污染", 1.5, 1, "经常闻到刺鼻异味", "异味污染监测"),
    ("环境保护", "水体污染", 0.5, 0.5, "河道水体发黑发臭", "河道水质"),
    ("环境保护", "大气污染", 1, 1, "有露天焚烧现象，空气很差", "大气污染防治"),
    ("住房保障", "物业管理", 8, 1, "物业服务不到位，电梯经常故障", "物业服务标准"),
    ("住房保障", "房屋质量", 2, 0, "新房出现渗水开裂问题", "房屋质量保修"),
    ("住房保障", "燃气服务", 2, 1, "燃气表故障无人维修", "燃气开户和维修"),
    ("住房保障", "公租房", 1, 0, "公租房维修申请长期无人处理", "公租房申请条件"),
    ("交通出行", "网约车", 2, 3, "网约车司机绕路多收费", "网约车投诉渠道"),
    ("交通出行", "出租车", 1, 2, "出租车拒载议价", "出租车服务"),
    ("交通出行", "公交线路", 2, 2, "公交班次间隔过长", "公交线路调整"),
    ("交通出行", "交通设施", 2, 2, "红绿灯故障，路口通行混乱", "交通设施维护"),
    ("交通出行", "停车管理", 4, 4, "车辆乱停乱放堵塞消防通道", "停车收费和管理"),
    ("市场监管", "食品安全", 2, 6, "餐馆卫生条件差，疑似使用过期食材", "食品安全监管"),
    ("市场监管", "价格投诉", 1, 4, "商家明码标价不规范", "价格监管"),
    ("市场监管", "消费维权", 2, 7, "预付卡商家关门无法退费", "消费维权途径"),
    ("市场监管", "无证经营", 0.5, 2, "有店铺无证照经营", "营业执照办理"),
    ("社会保障", "医保社保", 5, 2, "医保报销迟迟未到账", "医保社保政策"),
    ("社会保障", "拖欠工资", 2, 4, "公司拖欠工资多月未发", "劳动保障监察"),
    ("社会保障", "就业创业", 1.5, 1, "希望获得就业帮扶", "就业创业补贴"),
    ("社会保障", "养老服务", 2, 0, "社区养老服务站长期关闭", "养老服务补贴"),
    ("公共安全", "消防隐患", 1.5, 2, "楼道堆放杂物存在消防隐患", "消防安全检查"),
    ("公共安全", "安全生产", 0.5, 1, "小作坊存在安全生产隐患", "安全生产监管"),
    ("公共安全", "电动车充电", 2, 0.5, "有人在楼道内给电动车充电", "电动车集中充电设施"),
    ("教育卫生", "学校管理", 2, 0.5, "学校周边接送秩序混乱", "入学政策"),
    ("教育卫生", "医疗服务", 2, 2, "医院挂号难，服务态度差", "医疗服务"),
    ("教育卫生", "疫苗接种", 0.5, 0, "疫苗接种点排队时间过长", "疫苗接种安排"),
    ("水电气", "停水", 3, 1, "小区突然停水没有通知", "停水检修安排"),
    ("水电气", "停电", 2, 1, "频繁停电影响生活", "停电检修计划"),
    ("水电气", "水费电费", 2, 1, "水费电费计费异常", "水电费缴纳"),
    ("政务服务", "办事流程", 3, 3, "办事材料要求反复变化", "办事流程"),
    ("政务服务", "工作人员作风", 1, 1, "窗口工作人员态度生硬", "服务监督"),
    ("政务服务", "政策咨询", 4, 2, "相关政策不清楚", "惠民政策"),
]
L1 = np.array([c[0] for c in CATEGORIES], dtype=object)
L2 = np.array([c[1] for c in CATEGORIES], dtype=object)
L2_INDEX = {c[1]: i for i, c in enumerate(CATEGORIES)}
W_RES = np.array([c[2] for c in CATEGORIES], dtype=float)
W_COM = np.array([c[3] for c in CATEGORIES], dtype=float)
P_RES, P_COM = W_RES / W_RES.sum(), W_COM / W_COM.sum()

CHANNELS = (
    ["电话", "督查/巡查", "微信", "省平台转办", "APP", "网站", "视频", "邮件"],
    [0.60, 0.31, 0.045, 0.025, 0.008, 0.006, 0.003, 0.003],
)
TYPES = ["咨询", "求助", "投诉", "举报", "建议", "表扬"]
TYPE_P = [0.33, 0.22, 0.28, 0.08, 0.06, 0.03]
DIRECT_P = np.array([0.88, 0.35, 0.20, 0.12, 0.60, 0.95])
LIMIT_DAYS = np.array([2, 5, 5, 7, 10, 3])
TEMPLATES = {
    "投诉": "来电人反映{a}{i}，影响正常生活，要求尽快处理。",
    "举报": "来电人举报{a}{i}，请相关部门核查处理。",
    "求助": "来电人称{a}{i}，请求帮助协调解决。",
    "咨询": "来电人咨询{t}相关政策，联系地址：{a}。",
    "建议": "来电人建议加强{a}周边{t}方面的管理。",
    "表扬": "来电人表扬相关部门及时处理{a}{t}问题，表示感谢。",
}
UNIT = {
    "城市管理": "{d}城市管理局",
    "环境保护": "{d}生态环境分局",
    "住房保障": "{d}住房和城乡建设局",
    "交通出行": "市交通运输局",
    "市场监管": "{d}市场监督管理局",
    "社会保障": "{d}人力资源和社会保障局",
    "公共安全": "{d}应急管理局",
    "教育卫生": "{d}教育和卫生健康局",
    "水电气": "市水务集团",
    "政务服务": "{d}政务服务中心",
}
HOUR_P = np.array([0.4, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 2.5, 6.5, 9, 9, 8, 5.5, 6.5, 8.5, 8.5, 8, 7.5, 5, 4.2, 3.6, 3, 2, 1])
HOUR_P = HOUR_P / HOUR_P.sum()


def base_rates(city: City, cal: pd.DataFrame | None, day_types: np.ndarray, scale: float):
    """Daily total of the residential / commercial processes and their point weights."""
    lam = TICKETS_PER_DAY * scale * np.array([DAY_FACTOR[t] for t in day_types])
    pts = city.points
    wp = pts["w_pop"].to_numpy() / pts["w_pop"].sum()
    wc = pts["w_com"].to_numpy() / pts["w_com"].sum()
    return lam * (1 - COM_SHARE), lam * COM_SHARE, wp, wc


def l2_cell_weight(city: City) -> dict[str, pd.Series]:
    """Expected share of all base tickets per (l2, cell) — for choosing hotspots."""
    pts = city.points
    wp = pts["w_pop"] / pts["w_pop"].sum()
    wc = pts["w_com"] / pts["w_com"].sum()
    out = {}
    for l2, j in L2_INDEX.items():
        w = (1 - COM_SHARE) * P_RES[j] * wp + COM_SHARE * P_COM[j] * wc
        out[l2] = w.groupby(pts["h3_8"]).sum()
    return out


def category_base(lam_r: np.ndarray, lam_c: np.ndarray, wp: np.ndarray, wc: np.ndarray, idx: np.ndarray, l2: str) -> np.ndarray:
    """Base tickets per day of category ``l2`` at the points ``idx`` (positions in city.points)."""
    j = L2_INDEX[l2]
    return lam_r * P_RES[j] * wp[idx].sum() + lam_c * P_COM[j] * wc[idx].sum()


def weekly_rate(base: np.ndarray) -> float:
    """Mean base tickets a week over the run, as written in hotspots.csv ``base_weekly_rate``."""
    return round(float(base.mean() * 7), 4)


def base_weekly_rates(city: City, day_types: np.ndarray, scale: float, l2s: list[str]) -> dict[str, pd.Series]:
    """Base weekly rate per cell (with address points) of each category in ``l2s``."""
    lam_r, lam_c, wp, wc = base_rates(city, None, day_types, scale)
    cells = city.points.groupby("h3_8").indices
    return {l2: pd.Series({c: weekly_rate(category_base(lam_r, lam_c, wp, wc, idx, l2)) for c, idx in cells.items()}) for l2 in l2s}


def generate(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    cal: pd.DataFrame,
    day_types: np.ndarray,
    scale: float,
    hotspots: list[dict],
    stab: list[dict],
    stab_rates: list[np.ndarray],
):
    """Returns (rows DataFrame with _drop/_ord/_key, truth rates per (h3_8, day))."""
    days = rc.days
    pts = city.points
    lam_r, lam_c, wp, wc = base_rates(city, cal, day_types, scale)
    parts_day, parts_pt, parts_cat = [], [], []

    def draw(lam_day: np.ndarray, weights: np.ndarray, point_ids: np.ndarray, cat):
        n = rng.poisson(lam_day)
        dd = np.repeat(np.arange(days), n)
        cw = np.cumsum(weights)
        pi = point_ids[np.minimum(np.searchsorted(cw, rng.uniform(0, cw[-1], dd.size), side="right"), len(cw) - 1)]
        cats = rng.choice(len(CATEGORIES), size=dd.size, p=cat) if not isinstance(cat, int) else np.full(dd.size, cat)
        parts_day.append(dd), parts_pt.append(pi), parts_cat.append(cats)

    all_pts = np.arange(len(pts))
    draw(lam_r, wp, all_pts, P_RES)
    draw(lam_c, wc, all_pts, P_COM)
    truth = [pd.DataFrame({"h3_8": pts["h3_8"], "wp": wp, "wc": wc}).groupby("h3_8").sum()]
    cell_rates = np.outer(truth[0]["wp"].to_numpy(), lam_r) + np.outer(truth[0]["wc"].to_numpy(), lam_c)
    truth_df = pd.DataFrame(cell_rates, index=truth[0].index)
    for h in hotspots:
        j = L2_INDEX[h["category_l2"]]
        in_cell = (pts["h3_8"] == h["h3_8"]).to_numpy()
        base = category_base(lam_r, lam_c, wp, wc, np.flatnonzero(in_cell), h["category_l2"])
        extra = np.where(np.arange(days) >= h["emerge_day"], (h["multiplier"] - 1) * base, 0.0)
        h["base_weekly_rate"] = weekly_rate(base)
        locus = np.flatnonzero(in_cell & (pts["comm_idx"].to_numpy() == h["comm_idx"]))
        w = P_RES[j] * wp[locus] + P_COM[j] * wc[locus]
        draw(extra, w, locus, j)
        truth_df.loc[h["h3_8"]] += extra
    for s, extra in zip(stab, stab_rates, strict=False):
        locus = np.flatnonzero((pts["comm_idx"].to_numpy() == s["comm_idx"]) & (pts["w_pop"].to_numpy() > 0))
        w = wp[locus]
        draw(extra, w, locus, L2_INDEX[s["drivers"]["hotline"]])
        share = pd.Series(w / w.sum()).groupby(pts["h3_8"].to_numpy()[locus]).sum()
        for cell, sh in share.items():
            truth_df.loc[cell] += sh * extra

    day = np.concatenate(parts_day)
    pt = np.concatenate(parts_pt)
    cat = np.concatenate(parts_cat)
    t0 = rc_day0(rc) + day * DAY + rng.choice(24, size=day.size, p=HOUR_P) * HOUR + rng.integers(0, HOUR, day.size)
    order = np.lexsort((pt, t0))
    day, pt, cat, t0 = day[order], pt[order], cat[order], t0[order]
    rows = _lifecycle(rng, city, rc, day, pt, cat, t0)
    truth_long = truth_df.stack().rename("expected").reset_index()
    truth_long.columns = ["h3_8", "day", "expected"]
    return rows, truth_long


def rc_day0(rc: RunCalendar) -> int:
    from .common import day_seconds

    return day_seconds(rc.start)


def _lifecycle(rng, city: City, rc: RunCalendar, day, pt, cat, t0) -> Rows:
    """Every ticket's numbers, its export rows (one per status change) and how to format
    them; the draws are the ones the strings were always drawn from, in the same order."""
    n = day.size
    days = rc.days
    pts = city.points
    grid = pts["grid"].to_numpy()[pt]
    grids = city.grids
    typ = rng.choice(len(TYPES), size=n, p=TYPE_P)
    direct = rng.random(n) < DIRECT_P[typ]
    street_office = (L1[cat] == "城市管理") & (rng.random(n) < 0.5)
    idno = draw_id_numbers(rng, n)
    no_id = rng.random(n) < 0.25
    no_coord = rng.random(n) < 0.05
    # life cycle (seconds); -1 = never
    t1 = t0 + rng.integers(3 * MINUTE, 90 * MINUTE, n)
    street_code = grids["street_code"].to_numpy(dtype=object)[grid]
    codes, sidx = np.unique(street_code, return_inverse=True)
    late_mult = rng.lognormal(0, 0.5, codes.size)[sidx]
    sign_late = rng.random(n) < 0.006 * late_mult
    t2 = t1 + np.where(
        sign_late, rng.integers(125 * MINUTE, 20 * HOUR, n), np.minimum(rng.exponential(25 * MINUTE, n).astype(np.int64) + 60, 115 * MINUTE)
    )
    limit = LIMIT_DAYS[typ] * DAY
    deadline = t1 + limit
    late = rng.random(n) < 0.04 * late_mult
    t3 = np.where(late, deadline + rng.integers(2 * HOUR, 3 * DAY, n), t2 + (rng.beta(2, 3, n) * (deadline - t2)).astype(np.int64))
    called = rng.random(n) < 0.92
    t4 = t3 + rng.integers(6 * HOUR, 60 * HOUR, n)
    worst = np.zeros(codes.size)
    worst[rng.integers(0, codes.size)] = 0.15  # one street office serves its residents badly
    unhappy_p = 0.035 * late_mult + worst[sidx]
    sat = np.where(rng.random(n) < unhappy_p, 0, np.where(rng.random(n) < 0.86, 1, 2))
    sat = np.where(called, sat, 3).astype(np.int8)
    t_direct = t0 + rng.integers(2 * MINUTE, 15 * MINUTE, n)
    channel = pick_index(rng, CHANNELS[1], n).astype(np.int8)
    caller = draw_names(rng, n)
    phone = draw_mobiles(rng, n)
    del street_code, sidx, late_mult, sign_late, limit, late, unhappy_p

    # export rows: answered directly (stage 5) or one per status change seen at a day's end
    ev_times = [t0, t1, t2, t3, t4]
    day0 = rc_day0(rc)
    tk, stage, drop, t_row = [], [], [], []

    def add(m, k, dk, t):
        idx = np.flatnonzero(m)
        tk.append(idx), stage.append(np.full(idx.size, k, np.int8)), drop.append(dk[idx]), t_row.append(t[idx])

    for k in range(5):
        dk = (ev_times[k] - day0) // DAY
        nxt = (ev_times[k + 1] - day0) // DAY if k < 4 else np.full(n, days + 10)
        if k == 0:
            dd = (t_direct - day0) // DAY
            add(direct & (dd < days), 5, dd, t_direct)
        add((~direct) & (dk < days) & ((nxt != dk) | (k == 4)), k, dk, ev_times[k])
    tk, stage, drop, t_row = map(np.concatenate, (tk, stage, drop, t_row))
    if n and np.bincount(day).max() >= 10**6:
        raise ValueError("a million hotline tickets a day: 工单编号 would outgrow its 6-digit sequence")
    o = np.lexsort((tk, t_row, drop))  # by ticket index = by 工单编号 (receive day, sequence)
    tickets = {
        "day": day,
        "seq": np.arange(n) - np.searchsorted(day, day) + 1,
        "pt": pt,
        "grid": grid,
        "cat": cat,
        "typ": typ,
        "direct": direct,
        "street_office": street_office,
        "idno": idno,
        "no_id": no_id,
        "no_coord": no_coord,
        "channel": channel,
        "caller": caller,
        "phone": phone,
        "sat": sat,
        "called": called,
        "times": (t0, t1, t2, deadline, t3, t4),
    }
    columns = _columns(rc, city, tickets, tk[o].astype(np.int32), stage[o], t_row[o])
    return Rows(internal_frame(drop[o]), columns, columns["工单编号"])


def _columns(rc: RunCalendar, city: City, tickets: dict, tk: np.ndarray, stage: np.ndarray, t_row: np.ndarray) -> dict:
    """Formatters of the export columns; row r shows ticket ``tk[r]`` at ``stage[r]``
    (0-4 已受理 .. 已回访, 5 answered directly) as of time ``t_row[r]``."""
    x = tickets
    t0, t1, t2, deadline, t3, t4 = x["times"]
    grids, pts = city.grids, city.points
    district = grids["district_name"].to_numpy(dtype=object)
    street = grids["street_name"].to_numpy(dtype=object)
    community = grids["community_name"].to_numpy(dtype=object)
    address = pts["address"].to_numpy(dtype=object)
    lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
    dstr = rc.day_codes
    channels, tnames = np.array(CHANNELS[0], dtype=object), np.array(TYPES, dtype=object)
    issues = np.array([c[4] for c in CATEGORIES], dtype=object)
    topics = np.array([c[5] for c in CATEGORIES], dtype=object)
    satisfaction = np.array(["不满意", "满意", "基本满意", "未回访"], dtype=object)
    status = np.array(["已受理", "已派单", "已签收", "已办结", "已回访", "已直接答复"], dtype=object)

    def ticket(f):
        """A ticket-level column: the same value on every row of the ticket."""
        return lambda r: f(tk[r])

    def after(f, k):
        """A time set from stage ``k`` on (stage 5, answered directly, has none)."""
        return lambda r: _blank(fmt_times(f[tk[r]]), (stage[r] < k) | (stage[r] == 5))

    def content(i):
        a, t = address[x["pt"][i]], tnames[x["typ"][i]]
        return np.array(
            [
                TEMPLATES[ty].format(a=aa, i=ii, t=tp)
                for ty, aa, ii, tp in zip(t, a, issues[x["cat"][i]], topics[x["cat"][i]], strict=False)
            ],
            dtype=object,
        )

    def unit(i):
        d, l1 = district[x["grid"][i]], L1[x["cat"][i]]
        out = np.array([UNIT[a].format(d=dd) for a, dd in zip(l1, d, strict=False)], dtype=object)
        office = x["street_office"][i]
        out[office] = street[x["grid"][i][office]] + "办事处"
        out[x["direct"][i]] = "市民热线服务中心"
        return out

    def callback(r):
        return _blank(fmt_times(t4[tk[r]]), (stage[r] != 4) | ~x["called"][tk[r]])

    def state(r):
        st = status[stage[r]]
        st[(stage[r] == 4) & ~x["called"][tk[r]]] = "已办结"  # no callback reached
        return st

    return {
        "工单编号": ticket(
            lambda i: np.array([f"12345-{a}-{b:06d}" for a, b in zip(dstr[x["day"][i]], x["seq"][i].tolist(), strict=False)], dtype=object)
        ),
        "受理时间": ticket(lambda i: fmt_times(t0[i])),
        "更新时间": lambda r: fmt_times(t_row[r]),
        "来源渠道": ticket(lambda i: channels[x["channel"][i]]),
        "诉求类型": ticket(lambda i: tnames[x["typ"][i]]),
        "一级分类": ticket(lambda i: L1[x["cat"][i]]),
        "二级分类": ticket(lambda i: L2[x["cat"][i]]),
        "诉求内容": ticket(content),
        "来电人姓名": ticket(lambda i: fmt_names(x["caller"][i])),
        "来电号码": ticket(lambda i: fmt_ints(x["phone"][i])),
        "身份证号": ticket(lambda i: _blank(fmt_id_numbers(x["idno"][i]), x["no_id"][i])),
        "诉求地址": ticket(lambda i: district[x["grid"][i]] + address[x["pt"][i]]),
        "区县": ticket(lambda i: district[x["grid"][i]]),
        "街道": ticket(lambda i: street[x["grid"][i]]),
        "社区": ticket(lambda i: community[x["grid"][i]]),
        "经度": ticket(lambda i: _blank(fmt_fixed(lon[x["pt"][i]], 6), x["no_coord"][i])),
        "纬度": ticket(lambda i: _blank(fmt_fixed(lat[x["pt"][i]], 6), x["no_coord"][i])),
        "办理方式": ticket(lambda i: np.where(x["direct"][i], "直接答复", "派单").astype(object)),
        "承办单位": ticket(unit),
        "派单时间": after(t1, 1),
        "签收时间": after(t2, 2),
        "办结时限": after(deadline, 1),
        "办结时间": after(t3, 3),
        "回访时间": callback,
        "满意度": lambda r: _blank(satisfaction[x["sat"][tk[r]]], stage[r] != 4),
        "工单状态": state,
    }


def _blank(values: np.ndarray, empty: np.ndarray) -> np.ndarray:
    values[empty] = ""
    return values
