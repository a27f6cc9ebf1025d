"""gold.stability_risk on tiny silver tables: the counts Spark takes, the rows written through the contract."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from citybrain import lake
from citybrain.jobs.gold import stability_risk as job
from citybrain.models import stability_index as index
from citybrain.schemas.gold.stability_risk import GOLD_STABILITY_RISK

PETITION_DDL = "community_code string, dt date, is_collective boolean, is_repeat boolean, is_skip_level boolean"
POLICE_DDL = "community_code string, dt date, is_dispute boolean, type_name string"
COMPLAINT_DDL = "community_code string, dt date, category_l2 string, satisfaction string, resolved_at timestamp, due_at timestamp"
GRID_DDL = (
    "community_code string, community_name string, street_code string, street_name string, district_code string,"
    " district_name string, population int"
)
A, B, C = "329901001001", "329901001002", "329901002001"
MON = dt.date(2026, 9, 7)  # 2026-W37


def _day(week: int, weekday: int = 0) -> dt.date:
    return MON + dt.timedelta(days=7 * week + weekday)


@pytest.fixture
def tables(spark):
    petitions = [(A, _day(0), True, False, True), (A, _day(0, 6), False, True, False), (B, _day(1), False, False, False)]
    petitions += [(None, _day(0), True, True, True)]  # not located: counted nowhere
    police = [(A, _day(0), True, "邻里纠纷"), (A, _day(1), False, "斗殴"), (B, _day(1), False, "诈骗"), (C, _day(1), False, "群体性事件")]
    late, on_time = dt.datetime(2026, 9, 9, 12), dt.datetime(2026, 9, 8, 12)
    due = dt.datetime(2026, 9, 8, 18)
    complaints = [
        (A, _day(0), "物业管理", "dissatisfied", late, due),
        (A, _day(0), "食品安全", "satisfied", on_time, due),
        (B, _day(0), "噪声扰民", "not_visited", on_time, due),
    ]
    return {
        "silver.petition": spark.createDataFrame(petitions, PETITION_DDL),
        "silver.police_incident": spark.createDataFrame(police, POLICE_DDL),
        "silver.complaint": spark.createDataFrame(complaints, COMPLAINT_DDL),
    }


def test_weekly_counts_apply_each_indicators_filter(tables):
    cfg = index.load_config()
    long = job.weekly_counts(tables, cfg)
    got = long.groupby(["community_code", "iso_week", "column"])["value"].sum()
    assert got[(A, "2026-W37", "n_petitions_per_10k")] == 2  # Monday and Sunday of the same ISO week
    assert got[(A, "2026-W37", "n_collective_petitions_per_10k")] == 1
    assert got[(A, "2026-W37", "n_skip_level_petitions_per_10k")] == 1
    assert got[(A, "2026-W37", "n_dispute_incidents_per_10k")] == 1
    assert got[(A, "2026-W38", "n_dispute_incidents_per_10k")] == 1  # 斗殴 counts as a dispute
    assert got[(B, "2026-W38", "n_fraud_incidents_per_10k")] == 1
    assert got[(C, "2026-W38", job.LABEL)] == 1
    assert got[(A, "2026-W37", "n_hotline_dissatisfaction_rate")] == 1 and got[(A, "2026-W37", "d_hotline_dissatisfaction_rate")] == 2
    assert got[(A, "2026-W37", "n_late_tickets_per_10k")] == 1
    assert got[(A, "2026-W37", "n_conflict_complaints_per_10k")] == 1 and got[(A, "2026-W37", "n_safety_complaints_per_10k")] == 1
    assert got[(A, "2026-W37", "events")] == 2 + 1 + 2  # petitions, incidents, tickets
    assert long["community_code"].notna().all()


def test_the_table_is_written_through_its_contract_with_places_not_people(spark, lake_settings, tables):
    cfg = dataclasses.replace(index.load_config(), min_events=1)  # a tiny city: a handful of events
    grid = spark.createDataFrame(
        [(A, "甲社区", "329901001", "一街道", "329901", "东湖区", 6000), (B, "乙社区", "329901001", "一街道", "329901", "东湖区", 4000),
         (C, "丙社区", "329901002", "二街道", "329901", "东湖区", 300)],
        GRID_DDL,
    )  # fmt: skip
    rows, _ = job.stability_risk(job.weekly_counts(tables, cfg), job.places_of(grid), cfg)
    lake.write(spark, lake_settings, GOLD_STABILITY_RISK.name, job.to_spark(spark, rows), mode="overwrite")
    back = lake.read(spark, lake_settings, GOLD_STABILITY_RISK.name).toPandas()
    assert len(back) == 2 * (3 + 2 + 1)  # two weeks x (communities + streets + district)
    assert set(back["unit_type"]) == {"community", "street", "district"}
    assert back["district_code"].eq("329901").all()  # the row-level security key is on every row
    c = back[back["unit_code"] == C]
    assert c["status"].eq(index.INSUFFICIENT).all() and c["score"].isna().all()  # 300 residents
    a = back[(back["unit_code"] == A) & (back["iso_week"] == "2026-W37")].iloc[0]
    parts = sum(a[f"{n}_contribution"] for n in cfg.names)
    assert a["score"] == pytest.approx(parts, abs=1e-9)
    assert a["unit_name"] == "甲社区" and a["street_name"] == "一街道" and a["week_start"] == MON
    person_columns = [c for c in back.columns if any(w in c for w in ("name_masked", "token", "phone", "petitioner", "caller"))]
    assert person_columns == []
    assert pd.isna(back[back["unit_type"] == "district"]["street_code"]).all()
