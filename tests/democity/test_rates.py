"""The generated departments perform like real cities' do (see /work/shared/DOMAIN.md)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def tickets(mid_drops) -> pd.DataFrame:
    """Latest state of every hotline ticket, as the pipeline would keep it."""
    rows = mid_drops.frame("hotline")
    return rows.sort_values(["工单编号", "更新时间"], kind="stable").drop_duplicates("工单编号", keep="last")


def test_hotline_direct_answer_share(tickets):
    share = (tickets["办理方式"] == "直接答复").mean()
    assert 0.45 <= share <= 0.55, share


def test_hotline_channel_mix(tickets):
    mix = tickets["来源渠道"].value_counts(normalize=True)
    assert 0.57 <= mix["电话"] <= 0.63, mix
    assert 0.28 <= mix["督查/巡查"] <= 0.34, mix
    assert 0.035 <= mix["微信"] <= 0.056, mix
    assert 0.017 <= mix["省平台转办"] <= 0.033, mix
    for small in ("APP", "网站", "视频", "邮件"):
        assert mix.get(small, 0.0) < 0.01, (small, mix)


def test_hotline_callback_satisfaction(tickets):
    called = tickets[tickets["满意度"].isin(["满意", "基本满意", "不满意"])]
    sat = called["满意度"].isin(["满意", "基本满意"]).mean()
    assert 0.93 <= sat <= 0.975, sat
    assert 0.85 <= len(called) / (tickets["满意度"] != "").sum() <= 0.97


def test_hotline_on_time_completion_and_timely_acceptance(tickets):
    done = tickets[tickets["办结时间"] != ""]
    on_time = (done["办结时间"] <= done["办结时限"]).mean()
    assert 0.93 <= on_time <= 0.985, on_time
    signed = tickets[tickets["签收时间"] != ""]
    lag = pd.to_datetime(signed["签收时间"]) - pd.to_datetime(signed["派单时间"])
    assert (lag <= pd.Timedelta(hours=2)).mean() >= 0.99


def test_urban_case_closure_and_on_time_rates(mid_drops):
    ev = mid_drops.frame("urban_cases")
    end = mid_drops.manifest["end"]
    filed = ev[ev["event_type"] == "立案"].drop_duplicates("case_no")
    last_deadline = ev.dropna(subset=["deadline"]).groupby("case_no")["deadline"].max()
    due = filed[filed["case_no"].map(last_deadline) < str(dt.date.fromisoformat(end) - dt.timedelta(days=3))]
    closed = set(ev.loc[ev["event_type"] == "结案", "case_no"])
    closure = due["case_no"].isin(closed).mean()
    assert 0.95 <= closure <= 0.99, closure
    handled = ev[ev["event_type"] == "处置"].drop_duplicates("case_no", keep="last").set_index("case_no")
    closed_due = handled.loc[handled.index.isin(closed) & handled.index.isin(due["case_no"])]
    on_time = (~closed_due["is_overdue"].astype(bool)).mean()
    assert 0.85 <= on_time <= 0.95, on_time
    reported = ev[ev["event_type"] == "上报"].drop_duplicates("case_no")
    assert (reported["source"] == "监督员上报").mean() >= 0.88
    voided = ev.loc[ev["event_type"] == "作废", "case_no"].nunique() / reported["case_no"].nunique()
    assert 0.01 <= voided <= 0.06
    rework = ev.loc[ev["event_type"] == "返工", "case_no"].nunique() / len(filed)
    assert 0.005 <= rework <= 0.02, rework


def test_ridehailing_compliance_and_cancellations(mid_drops):
    orders = mid_drops.frame("ridehailing").drop_duplicates("order_id")
    both = (orders["driver_cert_valid"] == "1") & (orders["vehicle_cert_valid"] == "1")
    assert 0.75 <= both.mean() <= 0.90, both.mean()
    by_platform = both.groupby(orders["platform_name"]).mean()
    assert by_platform.min() < by_platform.max() - 0.1  # compliance varies by platform
    status = orders["order_status"].value_counts(normalize=True)
    assert 0.82 <= status["completed"] <= 0.88
    cancelled = orders[orders["order_status"] != "completed"]
    assert (cancelled["pickup_time"] == "").all() and (cancelled["dropoff_time"] == "").all()
    fare = cancelled["fare_yuan"].where(cancelled["fare_yuan"].notna() & (cancelled["fare_yuan"] != ""), cancelled["fare_amount"])
    assert (fare.astype(float) == 0).all()
