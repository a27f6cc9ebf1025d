"""The report's sentences on hand-computed numbers: rising, falling, about the same, no data; both languages."""

import re
import string

import pytest
from report_samples import sample_document

from citybrain.jobs.report import interpret
from citybrain.jobs.report.i18n import RULE_PATTERNS, STRINGS, rule_label, text
from citybrain.schemas.gold.report_index import ReportParams

PARAMS = ReportParams(steady_count_pct=2.0, steady_rate_points=0.3)


@pytest.mark.parametrize(
    ("value", "previous", "direction", "diff", "pct"),
    [
        (110, 100, "up", 10, 10.0),
        (90, 100, "down", -10, -10.0),
        (101, 100, "steady", 1, 1.0),  # 1 % < 2 %
        (98, 100, "down", -2, -2.0),  # exactly 2 %: no longer steady
        (5, 0, "up", 5, None),  # from zero: no percentage
        (0, 0, "steady", 0, None),
        (7, None, "no_previous", None, None),
        (None, 7, "no_data", None, None),
    ],
)
def test_count_change(value, previous, direction, diff, pct):
    change = interpret.count_change(value, previous, PARAMS.steady_count_pct)
    assert (change.direction, change.diff) == (direction, diff)
    assert change.pct == (None if pct is None else pytest.approx(pct))


@pytest.mark.parametrize(
    ("value", "previous", "direction", "points"),
    [
        (0.962, 0.950, "up", 1.2),
        (0.940, 0.950, "down", -1.0),
        (0.952, 0.950, "steady", 0.2),  # 0.2 points < 0.3
        (0.9, None, "no_previous", None),
    ],
)
def test_rate_change_in_points(value, previous, direction, points):
    change = interpret.rate_change(value, previous, PARAMS.steady_rate_points)
    assert change.direction == direction
    assert change.diff == (None if points is None else pytest.approx(points))


def _headline(received, previous_received, rates, previous_rates, others=(944, 1814, 143), previous_others=(947, 1778, 134)):
    metrics = [{"metric": "received", "kind": "count", "value": received, "previous": previous_received}]
    for name, v, p in zip(("timely_acceptance_rate", "on_time_completion_rate", "satisfaction_rate"), rates, previous_rates, strict=True):
        metrics.append({"metric": name, "kind": "rate", "value": v, "previous": p})
    for name, v, p in zip(("urban_cases", "police_incidents", "petitions"), others, previous_others, strict=True):
        metrics.append({"metric": name, "kind": "count", "value": v, "previous": p})
    return {"metrics": metrics, "history": []}


def test_headline_rising_complaints_and_the_rate_that_moved_most():
    numbers = _headline(4400, 4000, (0.99, 0.95, 0.955), (0.99, 0.96, 0.956))
    zh = interpret.headline_sentences(numbers, "zh", PARAMS)
    # 4,400 against 4,000: +400, +10.0 %; on-time completion fell 1.0 point, satisfaction only 0.1 (steady)
    assert zh[0] == "本周共受理12345诉求4,400件，比上周增加400件（+10.0%）。"
    assert zh[1] == "三率：及时签收率99.0%，按时办结率95.0%，回访满意率95.5%。"
    assert zh[2] == "其中按时办结率变化最大，比上周下降1.0个百分点。"
    assert zh[3] == "同期城管案件944件、110警情1,814起、信访143件。"
    assert zh[4] == "信访比上周增加9件（+6.7%）。"  # 143 vs 134 is the largest relative move of the three
    en = interpret.headline_sentences(numbers, "en", PARAMS)
    assert en[0] == "The 12345 hotline received 4,400 complaints this week, up 400 (+10.0%) on the week before."
    assert en[2] == "On-time completion moved most: down 1.0 points on the week before."


def test_headline_falling_and_steady():
    falling = interpret.headline_sentences(_headline(3600, 4000, (0.99, 0.95, 0.95), (0.99, 0.95, 0.95)), "zh", PARAMS)
    assert falling[0] == "本周共受理12345诉求3,600件，比上周减少400件（−10.0%）。"
    assert falling[2] == "三率均与上周基本持平。"
    steady = interpret.headline_sentences(_headline(4010, 4000, (0.99, 0.95, 0.95), (0.99, 0.95, 0.95)), "en", PARAMS)
    assert steady[0] == "The 12345 hotline received 4,010 complaints this week, about the same as the week before (4,000)."


def test_headline_without_the_week_before_or_without_data():
    first_week = _headline(4000, None, (0.99, 0.95, 0.95), (None, None, None), previous_others=(None, None, None))
    zh = interpret.headline_sentences(first_week, "zh", PARAMS)
    assert zh[0] == "本周共受理12345诉求4,000件，上周无可比数据。"
    assert not any("变化最大" in s or "基本持平" in s for s in zh)
    nothing = _headline(None, 4000, (None, None, None), (0.99, 0.95, 0.95))
    assert interpret.headline_sentences(nothing, "zh", PARAMS) == ["本周没有热线数据。"]


def _alert(cell, street, category, complaints, expected, confidence=99, trend="none", is_new=False):
    return {
        "h3_cell": cell,
        "street": street,
        "category": category,
        "category_l1": "城市管理",
        "complaints": complaints,
        "expected": expected,
        "confidence": confidence,
        "window_weeks": 1,
        "trend": trend,
        "is_new": is_new,
        "top_subcategories": None,
        "example_text": None,
    }


def test_hotspot_sentences():
    none = {"alerts": 0, "alerts_last_week": 3, "new_alerts": 0, "intensifying": 0, "alerts_by_group": [], "top": [], "cells": []}
    assert interpret.hotspot_sentences(none, "zh", PARAMS) == ["本周没有诉求热点预警（上周3个）。"]
    some = {
        "alerts": 2,
        "alerts_last_week": 1,
        "new_alerts": 1,
        "intensifying": 1,
        "alerts_by_group": [["城市管理", 2]],
        "top": [_alert("88aa", "松涛街道", "噪声扰民", 16, 7.44, is_new=True), _alert("88bb", None, "占道经营", 12, 5.5, 95)],
        "cells": [],
    }
    zh = interpret.hotspot_sentences(some, "zh", PARAMS)
    assert zh == [
        "本周共有2个诉求热点预警（上周1个），其中1个为本周新出现，1个呈新出现或加剧的热点趋势。",
        "最突出的是松涛街道的“噪声扰民”：16件，按历史预期约7.4件（99%置信）。",
        "预警最多的诉求大类是“城市管理”（2个）。",
    ]
    assert interpret.place("en", some["top"][1]) == "cell 88bb"  # no registry street: the cell id


def _street(name, rank, change, score):
    return {"unit_code": name, "unit_name": name, "rank": rank, "rank_change": change, "composite_score": score, "units_ranked": 3}


def test_performance_sentences_movers_and_none():
    a, b, c = _street("甲街道", 1, 2, 99.0), _street("乙街道", 2, 0, 97.5), _street("丙街道", 3, -2, 90.25)
    numbers = {"units_ranked": 3, "streets": [a, b, c], "best": [a], "worst": [c], "movers_up": [a], "movers_down": [c]}
    assert interpret.performance_sentences(numbers, "zh", PARAMS) == [
        "本周3个街道参与排名，综合得分最高的是甲街道（99.0分），最低的是丙街道（90.2分）。",
        "排名上升最多的是甲街道（上升2位，至第1名），下降最多的是丙街道（下降2位，至第3名）。",
    ]
    still = {**numbers, "movers_up": [], "movers_down": []}
    assert interpret.performance_sentences(still, "en", PARAMS)[1] == "No street changed its rank since the week before."


def test_stability_sentences_name_communities_and_their_reasons():
    numbers = sample_document()["sections"]["stability"]
    assert interpret.stability_sentences(numbers, "zh", PARAMS) == [
        "本周评估106个社区：极高风险1个、高风险1个、中风险4个、低风险100个。",
        "风险最高的是华坊社区（松涛街道，80.5分，极高风险），主要因素：集体访（每万人）（16.2分）、越级访（每万人）（15.2分）、重复访（每万人）（11.6分）。",
        "1个社区因人口或事件数过少标记为“数据不足”，未评分。",
        "只评估社区、街道和区县，不对任何个人评分或点名。",
    ]
    en = interpret.stability_sentences(numbers, "en", PARAMS)
    assert en[1] == (
        "The riskiest is 华坊社区 (松涛街道, score 80.5, very high risk), mainly because of Collective petitions per 10k residents"
        " (16.2 points), Skip-level petitions per 10k residents (15.2 points), Repeat petitions per 10k residents (11.6 points)."
    )
    calm = {**numbers, "red_list_is_alert": False, "insufficient": 0, "risers": [numbers["red_list"][1] | {"score_change": 3.25}]}
    assert interpret.stability_sentences(calm, "en", PARAMS)[1:3] == [
        "No community reached high or very high risk this week.",
        "The biggest riser is 华苑社区 (湖滨街道, up 3.2 points to 54.7).",
    ]


def test_scorecard_compares_with_the_month_before():
    numbers = {
        "month": "2026-11",
        "month_complete": False,
        "previous_month": "2026-10",
        "city": {"on_time_closure_rate": 0.894, "closure_rate": 0.977, "rework_rate": 0.011},
        "city_previous": {"on_time_closure_rate": 0.888},
        "streets": [{"unit_name": "龙山街道", "on_time_closure_rate": 0.835, "overdue_open_at_period_end": 3}],
    }
    zh = interpret.scorecard_sentences(numbers, "zh", PARAMS)
    assert zh[0] == "2026-11（本月至今）数字城管按期结案率89.4%，比上月上升0.6个百分点；结案率97.7%，返工率1.1%。"
    assert zh[1] == "按期结案率最低的街道是龙山街道（83.5%），月末超期未结案3件。"


def test_demand_sentences_change_busiest_cell_and_anomalies():
    numbers = {
        "orders": 56_000,
        "orders_previous": 50_000,
        "cancel_share": 0.15,
        "busiest_cell": "883091560bfffff",
        "busiest_cell_orders": 1234,
        "anomalies": [{"h3_cell": "8830915653fffff", "local_hour": "2026-11-20 22:00", "actual": 41, "forecast": 3.24}],
        "anomaly_count": 2,
    }
    zh = interpret.demand_sentences(numbers, "zh", PARAMS)
    assert zh[0] == "本周网约车订单56,000单，较上周+12.0%；取消率15.0%。订单最多的网格单元是883091560bfffff（1,234单）。"
    assert zh[1] == "需求预测标出2个异常时段，如2026-11-20 22:00在8830915653fffff实际41单，预测3.2单。"
    en = interpret.demand_sentences({**numbers, "orders_previous": None, "anomalies": [], "anomaly_count": 0}, "en", PARAMS)
    assert en[0].startswith("Ride-hailing orders this week: 56,000, no previous week to compare")
    assert en[1] == "No cell-hour fell outside its forecast interval improbably this week."


def _drops(source, missing=(), late=(), lag=10.0):
    return {"source": source, "expected_days": 7, "missing": list(missing), "late": list(late), "max_lag_hours": lag}


def test_quality_sentences_quarantine_missing_late_and_checks():
    numbers = {
        "quarantined_rows": 160,
        "quarantine": [
            {
                "source": "ridehailing",
                "entity": "ride_trip",
                "rule": "located",
                "reason": "the record could not be placed on the city's grid",
                "rows": 105,
            },
            {"source": "ridehailing", "entity": "ride_trip", "rule": "ordered_at_present", "reason": "ordered_at is missing", "rows": 55},
        ],
        "drops": [_drops("hotline", missing=["2026-11-18", "2026-11-19"]), _drops("police", late=["2026-11-20"], lag=60.0)],
        "batches": {"refined": 2, "unbalanced": 0},
        "failed_checks": [{"table": "silver.complaint", "rule": "volume_within_band", "level": "table", "unexpected": None}],
    }
    assert interpret.quality_sentences(numbers, "zh", PARAMS) == [
        "本周共有160条记录未通过校验被隔离（未丢弃），最多的是ridehailing的“无法定位到城市网格”（105条）。",
        "hotline有文件未到达，共缺2天（11-18、11-19）。",
        "1个文件在其日期结束36小时后才入湖（最迟约2天）。",
        "1项表级检查未通过，相关批次被拦截：silver.complaint volume_within_band。",
    ]
    clean = {
        "quarantined_rows": 0,
        "quarantine": [],
        "drops": [_drops("hotline")],
        "batches": {"refined": 1, "unbalanced": 0},
        "failed_checks": [],
    }
    assert interpret.quality_sentences(clean, "en", PARAMS) == [
        "No records were quarantined this week.",
        "All 1 daily sources delivered a file for each of the 7 days expected.",
        "Every quality check passed.",
    ]


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_has_every_string_with_the_same_placeholders():
    zh, en = STRINGS["zh"], STRINGS["en"]
    assert set(zh) == set(en)
    assert {k: _fields(zh[k]) for k in zh} == {k: _fields(en[k]) for k in en}
    for _, labels in RULE_PATTERNS:
        assert set(labels) == set(STRINGS)


def test_rule_labels_and_unknown_language():
    assert rule_label("zh", "ordered_at_present", "x") == "ordered_at 缺失或无法识别"
    assert rule_label("en", "located", "x") == "could not be placed on the city's grid"
    assert rule_label("zh", "some_new_rule", "as the gate said") == "as the gate said"
    with pytest.raises(ValueError, match="speaks zh, en"):
        text("fr", "title")
    assert re.search(r"[\u4e00-\u9fff]", text("zh", "title"))
