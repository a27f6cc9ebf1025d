"""Petitions (信访): one CSV row per petition registered that day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .city import City
from .common import id_numbers, mobiles, names, pick
from .plan import RunCalendar
from .rows import Rows

COLUMNS = [
    "信访件编号",
    "登记日期",
    "信访形式",
    "访别",
    "人数",
    "是否重复访",
    "是否越级访",
    "信访人姓名",
    "证件号码",
    "联系电话",
    "区县",
    "街道",
    "社区",
    "问题类别",
    "反映内容",
    "到访层级",
    "办理状态",
    "办结日期",
]
PETITIONS_PER_DAY = 20.0
CATEGORIES = {  # category: (weight, content)
    "征地拆迁": (10, "反映房屋征收补偿标准过低，安置房迟迟未交付"),
    "劳动社保": (15, "反映用人单位拖欠工资、未缴纳社会保险"),
    "城乡建设": (15, "反映小区周边违规建设影响采光和出行"),
    "涉法涉诉": (12, "对法院判决结果不服，要求重新处理"),
    "环境保护": (7, "反映周边企业排放异味和噪声，影响居民健康"),
    "食品药品安全": (3, "反映超市销售过期食品，处理不到位"),
    "医疗卫生": (6, "反映医疗纠纷处理不公"),
    "教育": (6, "反映子女入学划片不合理"),
    "物业管理": (14, "反映物业公司服务差、擅自提高物业费，业委会选举不规范"),
    "其他": (12, "反映其他民生问题，要求协调解决"),
}
FORMS = (["来信", "来访", "网上信访", "电话"], [0.15, 0.30, 0.45, 0.10])
LEVELS = ["街道", "区", "市", "省", "国家"]


def generate(
    rng: np.random.Generator,
    city: City,
    rc: RunCalendar,
    day_types: np.ndarray,
    scale: float,
    stab: list[dict],
    stab_rates: list[np.ndarray],
) -> Rows:
    days = rc.days
    comms = city.communities
    cw = comms["population"].to_numpy(float)
    cats = list(CATEGORIES)
    catw = np.array([CATEGORIES[c][0] for c in cats], dtype=float)
    lam = PETITIONS_PER_DAY * scale * np.where(day_types == "workday", 1.15, 0.6)
    nd = rng.poisson(lam)
    day = [np.repeat(np.arange(days), nd)]
    comm = [rng.choice(len(comms), size=day[0].size, p=cw / cw.sum())]
    cat = [rng.choice(len(cats), size=day[0].size, p=catw / catw.sum())]
    risky = [np.zeros(day[0].size, bool)]
    for s, extra in zip(stab, stab_rates, strict=False):
        d = np.repeat(np.arange(days), rng.poisson(extra))
        day.append(d), comm.append(np.full(d.size, s["comm_idx"]))
        cat.append(np.full(d.size, cats.index(s["drivers"]["petitions"]))), risky.append(np.ones(d.size, bool))
    day, comm, cat, risky = map(np.concatenate, (day, comm, cat, risky))
    o = np.lexsort((comm, day))
    day, comm, cat, risky = day[o], comm[o], cat[o], risky[o]
    n = day.size
    collective = rng.random(n) < np.where(risky, 0.5, 0.07)
    people = np.where(collective, rng.integers(5, 40, n), rng.choice([1, 1, 1, 1, 2, 3, 4], n))
    repeat = rng.random(n) < np.where(risky, 0.6, 0.18)
    skip = rng.random(n) < np.where(risky, 0.4, 0.07)
    level = pick(rng, LEVELS[:2], [0.45, 0.55], n)
    level[skip] = pick(rng, LEVELS[2:], [0.7, 0.25, 0.05], int(skip.sum()))
    form = pick(rng, *FORMS, n)
    form[collective] = "来访"
    status = pick(rng, ["已受理", "办理中", "已办结"], [0.55, 0.30, 0.15], n)
    dates = np.array([d.isoformat() for d in rc.dates], dtype=object)[day]
    c = comms.iloc[comm]
    seq = np.arange(n) - np.searchsorted(day, day) + 1
    dcode = c["district_code"].to_numpy(dtype=object)
    ids = np.array(
        [f"XF{a}{b.replace('-', '')}{s:04d}" for a, b, s in zip(dcode.tolist(), dates.tolist(), seq.tolist(), strict=False)], dtype=object
    )
    content = np.array([CATEGORIES[cats[k]][1] for k in cat.tolist()], dtype=object)
    content = np.where(collective, np.array([f"{p}名群众集体" for p in people.tolist()], dtype=object) + content, content)
    df = pd.DataFrame(
        {
            "信访件编号": ids,
            "登记日期": dates,
            "信访形式": form,
            "访别": np.where(collective, "集体访", "个体访").astype(object),
            "人数": people.astype(str).astype(object),
            "是否重复访": np.where(repeat, "是", "否").astype(object),
            "是否越级访": np.where(skip, "是", "否").astype(object),
            "信访人姓名": names(rng, n),
            "证件号码": id_numbers(rng, n),
            "联系电话": mobiles(rng, n),
            "区县": c["district_name"].to_numpy(dtype=object),
            "街道": c["street_name"].to_numpy(dtype=object),
            "社区": c["community_name"].to_numpy(dtype=object),
            "问题类别": np.array(cats, dtype=object)[cat],
            "反映内容": content,
            "到访层级": level,
            "办理状态": status,
            "办结日期": np.where(status == "已办结", dates, "").astype(object),
        }
    )
    df["_drop"] = day
    df["_event_day"] = day
    df["_ord"] = np.arange(n, dtype=float)
    df["_key"] = df["信访件编号"]
    return Rows.from_frame(df)
