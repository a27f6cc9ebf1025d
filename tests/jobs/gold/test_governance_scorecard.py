"""gold.governance_scorecard on ten hand-computed cases, the backlog as of a month's end, Boston 311 and a tiny lake."""

import pytest
from performance_support import SHANGHAI, as_silver, boston_lake, local, reference_agrees, utc_text
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import governance_scorecard as job
from citybrain.jobs.silver.urban_case import CITIZEN_SOURCES
from citybrain.schemas import ContractViolation
from citybrain.schemas.gold.governance_scorecard import (
    GOLD_GOVERNANCE_SCORECARD,
    SUPPORTED_SEED_INDICATORS,
    UNSUPPORTED_SEED_INDICATORS,
)

CASE_DDL = (
    "case_no string, source string, is_citizen_report boolean, is_urgent boolean, reported_at timestamp, filed_at timestamp,"
    " dispatched_at timestamp, handled_at timestamp, closed_at timestamp, deadline timestamp, rework_count int,"
    " postponed boolean, voided boolean, is_overdue boolean, status string, minutes_to_dispatch double,"
    " minutes_to_close double, street_code string, updated_at timestamp, dt date"
)
TICKET_DDL = "source_system string, complaint_id string, category_l1 string, street_code string, dt date"
S1, S2 = "329901001", "329901002"
ZONE = "Asia/Shanghai"


def _t(month, day, hour, minute=0):
    return local(SHANGHAI, month, day, hour, minute)


def _minutes(start, end):
    return (end - start).total_seconds() / 60 if start and end else None


def _case(no, street, reported, *, source="监督员上报", urgent=False, filed=None, dispatched=None, handled=None, closed=None,
          deadline=None, rework=0, postponed=False, voided_at=None):  # fmt: skip
    """A silver.urban_case row, with is_overdue, status and durations as silver derives them."""
    latest = max(t for t in (reported, filed, dispatched, handled, closed, voided_at) if t)
    overdue = None if deadline is None else (handled or latest) > deadline
    status = "voided" if voided_at else "closed" if closed else "handled" if handled else "dispatched" if dispatched else "filed"
    return (
        no, source, source in CITIZEN_SOURCES, urgent, reported, filed, dispatched, handled, closed, deadline, rework, postponed,
        voided_at is not None, overdue, status, _minutes(filed, dispatched), _minutes(reported, closed), street,
        latest, reported.astimezone(SHANGHAI).date(),
    )  # fmt: skip


# Ten cases in September and October 2026, local times; the data ends with C10's closure on 6 October.
C1 = _case("C1", S1, _t(9, 1, 9), filed=_t(9, 1, 9, 30), dispatched=_t(9, 1, 10), deadline=_t(9, 3, 10),
           handled=_t(9, 2, 15), closed=_t(9, 2, 17))  # fmt: skip
C2 = _case("C2", S1, _t(9, 5, 10), source="公众举报(微信)", filed=_t(9, 5, 10, 20), dispatched=_t(9, 5, 10, 50),
           deadline=_t(9, 6, 10, 50), handled=_t(9, 6, 12), closed=_t(9, 6, 14))  # fmt: skip  # handled late
# dispatched and never handled; deadline 12 Sep; silver's is_overdue is False (no event after the deadline)
C3 = _case("C3", S1, _t(9, 10, 8), filed=_t(9, 10, 8, 10), dispatched=_t(9, 10, 8, 30), deadline=_t(9, 12, 8, 30))
# deadline 28 Sep, handled 2 Oct: open past its deadline as of September's end, closed in October
C4 = _case("C4", S1, _t(9, 25, 9), filed=_t(9, 25, 9, 15), dispatched=_t(9, 25, 9, 45), deadline=_t(9, 28, 9, 45),
           handled=_t(10, 2, 10), closed=_t(10, 2, 12))  # fmt: skip
# filed, then voided (作废): not counted as filed, never due
C5 = _case("C5", S2, _t(9, 8, 9), source="12345转办", filed=_t(9, 8, 9, 30), voided_at=_t(9, 8, 10))
C6 = _case("C6", S2, _t(9, 12, 14), source="12345转办", filed=_t(9, 12, 14, 30), dispatched=_t(9, 12, 15), postponed=True,
           deadline=_t(9, 16, 15), handled=_t(9, 15, 10), closed=_t(9, 15, 12))  # fmt: skip
C7 = _case("C7", S2, _t(9, 20, 8), urgent=True, filed=_t(9, 20, 8, 5), dispatched=_t(9, 20, 8, 15), rework=1,
           deadline=_t(9, 20, 10, 15), handled=_t(9, 20, 10), closed=_t(9, 20, 11))  # fmt: skip
C8 = _case("C8", S2, _t(9, 28, 22), urgent=True, filed=_t(9, 28, 22, 10), dispatched=_t(9, 28, 22, 30),
           deadline=_t(9, 29, 0, 30), handled=_t(9, 29, 1), closed=_t(9, 29, 2))  # fmt: skip  # urgent, late
# reported 30 Sep 23:30 local (a September case), dispatched 1 Oct 00:10 local (30 Sep 16:10 UTC: an October dispatch)
C9 = _case("C9", S2, _t(9, 30, 23, 30), filed=_t(9, 30, 23, 40), dispatched=_t(10, 1, 0, 10), deadline=_t(10, 2, 0, 10),
           handled=_t(10, 1, 12), closed=_t(10, 1, 14))  # fmt: skip
# no 处置 recorded, closed before the deadline: handled by its closure, on time
C10 = _case("C10", S1, _t(10, 5, 9), filed=_t(10, 5, 9, 20), dispatched=_t(10, 5, 9, 40), deadline=_t(10, 6, 20),
            closed=_t(10, 6, 10))  # fmt: skip
TEN = [C1, C2, C3, C4, C5, C6, C7, C8, C9, C10]

TICKETS = [
    ("demo_12345", "h1", "城市管理", S1, _t(9, 3, 9).date()),
    ("demo_12345", "h2", "城市管理", S2, _t(9, 10, 9).date()),
    ("demo_12345", "h3", "城市管理", S2, _t(9, 30, 23).date()),
    ("demo_12345", "h4", "城市管理", None, _t(9, 11, 9).date()),  # not located on a street: not counted
    ("demo_12345", "h5", "市场监管", S2, _t(9, 12, 9).date()),  # another category: not counted
    ("boston_311", "b1", "城市管理", S2, _t(9, 12, 9).date()),  # another hotline: not counted
    ("demo_12345", "h6", "城市管理", S1, _t(10, 3, 9).date()),
    ("demo_12345", "h7", "城市管理", S1, _t(11, 2, 9).date()),  # after the case data ends: no period
]
COUNTS = (
    "reported",
    "citizen_reported",
    "filed",
    "due",
    "closed_by_period_end",
    "handled_on_time",
    "reworked",
    "postponed",
    "urgent_due",
    "urgent_handled_on_time",
    "overdue_open_at_period_end",
    "dispatched",
    "closed",
    "hotline_urban_tickets",
    "cases_from_12345",
)
RATES = (
    "citizen_report_share",
    "filing_rate",
    "closure_rate",
    "on_time_closure_rate",
    "rework_rate",
    "postponement_rate",
    "urgent_on_time_rate",
    "hotline_conversion_rate",
)


def _grid(spark):
    return spark.createDataFrame([("329901001001001", S1, "湖滨街道"), ("329901002001001", S2, "望江街道")], "grid_code string, street_code string, street_name string")  # fmt: skip


def _rows(spark, cases, tickets=TICKETS):
    complaints = spark.createDataFrame(tickets, TICKET_DDL) if tickets is not None else None
    out = job.governance_scorecard(spark.createDataFrame(cases, CASE_DDL), complaints, _grid(spark), ZONE)
    return {(r.period, r.unit_type, r.unit_code): r for r in out.collect()}


def _counts(row):
    return tuple(row[c] for c in COUNTS)


def _rates(row):
    return tuple(row[c] for c in RATES)


def test_ten_cases_city_by_hand(spark):
    rows = _rows(spark, TEN)
    sep = rows[("2026-09", "city", "city")]
    # reported in September (local): C1-C9 = 9 (C9 at 23:30 on the 30th); citizens C2 C5 C6 = 3; filed, not voided: 8
    # due in September: C1 C2 C3 C4 C6 C7 C8 = 7 (C5 voided, C9 due 2 Oct); closed before 1 Oct 00:00: C1 C2 C6 C7 C8 = 5
    # handled by the deadline (last 处置): C1 C6 C7 = 3 (C2, C8 late; C3 never; C4 on 2 Oct); reworked C7; postponed C6
    # urgent due C7 C8, on time C7; open past the deadline as of 1 Oct 00:00: C3 (never handled), C4 (handled 2 Oct) = 2
    # dispatched in September: C1 C2 C3 C4 C6 C7 C8 = 7 (C9 on 1 Oct local); closed in September: C1 C2 C6 C7 C8 = 5
    # hotline 城市管理 tickets located on a street: h1 h2 h3 = 3; cases from 12345: C5 C6 = 2
    assert _counts(sep) == (9, 3, 8, 7, 5, 3, 1, 1, 2, 1, 2, 7, 5, 3, 2)
    assert _rates(sep) == (3 / 9, 8 / 9, 5 / 7, 3 / 7, 1 / 7, 1 / 7, 1 / 2, 2 / 3)
    # minutes filed -> dispatched: 30 30 20 30 30 10 20 -> median 30; reported -> closed: 1920 1680 4200 180 240 -> 1680
    assert (sep.median_minutes_to_dispatch, sep.median_minutes_to_close) == (30.0, 1680.0)
    assert (sep.period_complete, sep.unit_name, sep.period_start.isoformat(), sep.period_end.isoformat()) == (True, "全市", "2026-09-01", "2026-10-01")  # fmt: skip

    oct_ = rows[("2026-10", "city", "city")]
    # judged as of 7 Oct 00:00 local (the data ends on the 6th): reported C10; due C9 (2 Oct) and C10 (6 Oct 20:00),
    # both closed and handled in time (C10 by its closure); still open past the deadline: C3; dispatched C9 C10;
    # closed in October C4 C9 C10; hotline ticket h6; no case from 12345
    assert _counts(oct_) == (1, 0, 1, 2, 2, 2, 0, 0, 0, 0, 1, 2, 3, 1, 0)
    assert _rates(oct_) == (0.0, 1.0, 1.0, 1.0, 0.0, 0.0, None, 0.0)
    # dispatch minutes 30 (C9), 20 (C10) -> 25; close minutes 10260 (C4), 870 (C9), 1500 (C10) -> 1500
    assert (oct_.median_minutes_to_dispatch, oct_.median_minutes_to_close) == (25.0, 1500.0)
    assert oct_.period_complete is False
    as_of = dict(
        job.governance_scorecard(spark.createDataFrame(TEN, CASE_DDL), None, None, ZONE)
        .where("unit_type = 'city'")
        .select("period", utc_text("as_of"))
        .collect()
    )
    assert as_of == {"2026-09": "2026-09-30 16:00", "2026-10": "2026-10-06 16:00"}  # local midnights as UTC
    assert set(rows) == {(p, t, c) for p in ("2026-09", "2026-10") for t, c in (("city", "city"), ("street", S1), ("street", S2))}


def test_ten_cases_per_street(spark):
    rows = _rows(spark, TEN)
    s1, s2 = rows[("2026-09", "street", S1)], rows[("2026-09", "street", S2)]
    # S1: C1-C4 reported, C2 by a citizen, all filed and due; closed C1 C2; on time C1; open at the end C3 C4;
    # dispatched 4 (30 30 20 30 -> 30); closed C1 C2 (1920 1680 -> 1800); hotline h1, no 12345 case
    assert _counts(s1) == (4, 1, 4, 4, 2, 1, 0, 0, 0, 0, 2, 4, 2, 1, 0)
    assert _rates(s1) == (1 / 4, 1.0, 2 / 4, 1 / 4, 0.0, 0.0, None, 0.0)
    assert (s1.median_minutes_to_dispatch, s1.median_minutes_to_close, s1.unit_name) == (30.0, 1800.0, "湖滨街道")
    # S2: C5-C9 reported, C5 C6 from 12345; filed C6-C9; due C6 C7 C8, all closed, on time C6 C7; C7 reworked,
    # C6 postponed; urgent C7 C8, on time C7; dispatched C6 C7 C8 (30 10 20 -> 20); closed (4200 180 240 -> 240);
    # hotline h2 h3: conversion 2/2
    assert _counts(s2) == (5, 2, 4, 3, 3, 2, 1, 1, 2, 1, 0, 3, 3, 2, 2)
    assert _rates(s2) == (2 / 5, 4 / 5, 1.0, 2 / 3, 1 / 3, 1 / 3, 1 / 2, 1.0)
    assert (s2.median_minutes_to_dispatch, s2.median_minutes_to_close) == (20.0, 240.0)
    o2 = rows[("2026-10", "street", S2)]
    # S2 in October: nothing reported (rates over reported are null, not 0), C9 due and on time, no hotline ticket
    assert (o2.reported, o2.citizen_report_share, o2.due, o2.handled_on_time, o2.hotline_urban_tickets) == (0, None, 1, 1, 0)
    assert o2.hotline_conversion_rate is None


@pytest.mark.parametrize(
    ("case", "silver_is_overdue", "open_at_end_of"),
    [(C3, False, {"2026-09": 1, "2026-10": 1}), (C4, True, {"2026-09": 1, "2026-10": 0})],
    ids=["dispatched_never_handled", "handled_after_the_month"],
)
def test_backlog_is_judged_at_the_period_end_not_from_silver_is_overdue(spark, case, silver_is_overdue, open_at_end_of):
    assert case[CASE_DDL.split(", ").index("is_overdue boolean")] is silver_is_overdue  # C3: silver says not overdue
    # the data runs to 20 October; Z's deadline (25 Oct) is after that: not yet due in the incomplete October
    later = _case("Z", S2, _t(10, 20, 9), filed=_t(10, 20, 9), dispatched=_t(10, 20, 10), deadline=_t(10, 25, 10))
    rows = _rows(spark, [case, later], tickets=None)
    assert {p: rows[(p, "city", "city")].overdue_open_at_period_end for p in open_at_end_of} == open_at_end_of
    assert rows[("2026-10", "city", "city")].due == 0
    assert rows[("2026-09", "city", "city")].hotline_urban_tickets is None  # no hotline data: null, not 0


def test_seed_index_is_accounted_for():
    # the seed's 智慧城管 index (article 5, table 2): 4 first-level, 11 second-level, 24 third-level indicators
    every = [*UNSUPPORTED_SEED_INDICATORS, *SUPPORTED_SEED_INDICATORS]
    assert (len({i[0] for i in every}), len({i[:2] for i in every}), len({i[2] for i in every})) == (4, 11, 24)
    measured = " ".join(i[3] for i in SUPPORTED_SEED_INDICATORS)
    assert all(c in GOLD_GOVERNANCE_SCORECARD.column_names for c in measured.replace(",", " ").split() if "_" in c)


def test_run_rebuilds_the_table_through_its_contract(spark, lake_settings, monkeypatch):
    lake.write(spark, lake_settings, "silver.urban_case", as_silver(spark.createDataFrame(TEN, CASE_DDL), "silver.urban_case"))
    lake.write(spark, lake_settings, "silver.complaint", as_silver(spark.createDataFrame(TICKETS, TICKET_DDL), "silver.complaint"))
    lake.write(spark, lake_settings, "silver.grid", as_silver(_grid(spark), "silver.grid"))
    report = job.run(spark, lake_settings)
    table = lake.read(spark, lake_settings, "gold.governance_scorecard")
    GOLD_GOVERNANCE_SCORECARD.check(table)
    assert report.rows == table.count() == table.select(*GOLD_GOVERNANCE_SCORECARD.keys).distinct().count() == 6
    assert len(report.not_computed) == 1 and "20 of the seed's 24" in report.not_computed[0]
    assert table.where("unit_type = 'city' AND period = '2026-09'").first().overdue_open_at_period_end == 2
    assert reference_agrees(lake_settings, "governance_scorecard")  # the hand-made edge cases (a voided case filed first...) in DuckDB too

    original = job.governance_scorecard
    monkeypatch.setattr(job, "governance_scorecard", lambda *a, **k: original(*a, **k).withColumn("extra", F.lit(1)))
    with pytest.raises(ContractViolation, match="extra"):
        job.run(spark, lake_settings, full=True)


def test_boston_311_lake_builds_an_empty_scorecard_and_says_why(spark, lake_settings, tmp_path):
    boston_lake(spark, lake_settings, tmp_path)
    report = job.run(spark, lake_settings)
    assert report.rows == lake.read(spark, lake_settings, "gold.governance_scorecard").count() == 0
    assert (report.details["build"], report.details["why_full"]) == ("full", "silver.urban_case does not exist")
    notes = " | ".join(report.not_computed)
    assert "silver.urban_case does not exist" in notes
    assert "no tickets of demo_12345 in silver.complaint (it holds boston_311)" in notes
    assert "silver.grid does not exist" in notes
