"""gold.hotline_performance on ten hand-computed tickets, local-time edges, Boston 311 and a tiny lake."""

import pytest
from performance_support import NEW_YORK, SHANGHAI, as_silver, boston_lake, local, reference_agrees, utc_text
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import hotline_performance as job
from citybrain.schemas import ContractViolation
from citybrain.schemas.gold.hotline_performance import GOLD_HOTLINE_PERFORMANCE, HotlinePerformanceParams

DDL = (
    "source_system string, complaint_id string, received_at timestamp, updated_at timestamp, dt date, street_code string,"
    " handling_unit string, is_direct_answer boolean, dispatched_at timestamp, accepted_at timestamp, due_at timestamp,"
    " resolved_at timestamp, visited_at timestamp, satisfaction string"
)
S1, S2 = "329901001", "329901002"
CENTRE, UA, UB = "市民热线服务中心", "东湖区城市管理局", "市水务集团"


def _sep(day, hour, minute=0):
    return local(SHANGHAI, 9, day, hour, minute)


def _ticket(no, street, unit, received, *, source="demo_12345", zone=SHANGHAI, direct=False, **times):
    """A silver.complaint row: dt is the local receive date, updated_at the latest time the ticket has."""
    keys = ("dispatched", "accepted", "due", "resolved", "visited")
    when = {k: times.get(k) for k in keys}
    latest = max(t for k, t in [("received", received), *when.items()] if t is not None and k != "due")
    direct_flag = direct if source == "demo_12345" else None  # Boston 311 does not say
    return (
        source,
        f"{source}:{no}",
        received,
        latest,
        received.astimezone(zone).date(),
        street,
        unit,
        direct_flag,
        *when.values(),
        times.get("satisfaction"),
    )


# Ten tickets of one hotline in ISO weeks 2026-W37 (Mon 7 - Sun 13 Sep) and W38 (14 - 20 Sep), local times.
TEN = [
    _ticket("T1", S1, CENTRE, _sep(7, 9), direct=True),
    _ticket(
        "T2",
        S1,
        UA,
        _sep(7, 10),
        dispatched=_sep(7, 10, 30),
        accepted=_sep(7, 11),
        due=_sep(9, 10, 30),
        resolved=_sep(8, 15),
        visited=_sep(9, 10),
        satisfaction="satisfied",
    ),  # fmt: skip
    # signed for after 3 h (late); resolved after its deadline, before the week's end
    _ticket(
        "T3",
        S1,
        UA,
        _sep(8, 8),
        dispatched=_sep(8, 8, 10),
        accepted=_sep(8, 11, 10),
        due=_sep(10, 8, 10),
        resolved=_sep(10, 9),
        visited=_sep(11, 10),
        satisfaction="dissatisfied",
    ),  # fmt: skip
    # never resolved: open past its deadline at the end of W37 and of W38
    _ticket("T4", S1, UB, _sep(9, 9), dispatched=_sep(9, 9, 20), accepted=_sep(9, 9, 40), due=_sep(11, 9, 20)),
    # due Sunday 23:30 local (W37), resolved Monday 00:30 local (W38): open past its deadline as of W37's end
    _ticket(
        "T5",
        S2,
        UB,
        _sep(9, 12),
        dispatched=_sep(9, 12, 10),
        accepted=_sep(9, 13, 10),
        due=_sep(13, 23, 30),
        resolved=_sep(14, 0, 30),
        visited=_sep(15, 10),
        satisfaction="basically_satisfied",
    ),  # fmt: skip
    # received Sunday 23:30 local, the last day of W37 (15:30 UTC)
    _ticket("T6", S2, CENTRE, _sep(13, 23, 30), direct=True),
    # signed for exactly 2 h after dispatch: in time; callback never reached
    _ticket(
        "T7",
        S2,
        UA,
        _sep(10, 9),
        dispatched=_sep(10, 9, 5),
        accepted=_sep(10, 11, 5),
        due=_sep(12, 9, 5),
        resolved=_sep(11, 10),
        satisfaction="not_visited",
    ),  # fmt: skip
    # never signed for; due in W38, resolved late
    _ticket(
        "T8", S2, UB, _sep(10, 14), dispatched=_sep(10, 14, 30), due=_sep(17, 14, 30), resolved=_sep(18, 10), satisfaction="not_visited"
    ),  # fmt: skip
    # no street (not located): counts for the city and its handling unit only
    _ticket(
        "T9",
        None,
        UB,
        _sep(11, 8),
        dispatched=_sep(11, 8, 30),
        accepted=_sep(11, 9),
        due=_sep(13, 8, 30),
        resolved=_sep(12, 8),
        visited=_sep(12, 18),
        satisfaction="satisfied",
    ),  # fmt: skip
    # dispatched Monday 07:40 local = Sunday 23:40 UTC: a W38 dispatch
    _ticket(
        "T10",
        S1,
        UA,
        _sep(14, 7, 30),
        dispatched=_sep(14, 7, 40),
        accepted=_sep(14, 8),
        due=_sep(16, 7, 40),
        resolved=_sep(15, 9),
        visited=_sep(16, 10),
        satisfaction="satisfied",
    ),  # fmt: skip
]
COUNTS = (
    "received",
    "direct_answered",
    "dispatched",
    "accepted_in_time",
    "due",
    "resolved_by_period_end",
    "resolved_on_time",
    "resolved",
    "resolved_with_callback",
    "visited",
    "satisfied",
    "open_past_deadline",
)
RATES = (
    "direct_answer_rate",
    "timely_acceptance_rate",
    "on_time_completion_rate",
    "completion_rate",
    "effective_callback_rate",
    "satisfaction_rate",
)


def _grid(spark):
    return spark.createDataFrame([("329901001001001", S1, "湖滨街道")], "grid_code string, street_code string, street_name string")


def _rows(spark, tickets, params=None):
    out = job.hotline_performance(spark.createDataFrame(tickets, DDL), _grid(spark), params)
    return {(r.source_system, r.period, r.unit_type, r.unit_code): r for r in out.collect()}


def _counts(row):
    return tuple(row[c] for c in COUNTS)


def _rates(row):
    return tuple(row[c] for c in RATES)


def test_ten_tickets_city_rates_by_hand(spark):
    rows = _rows(spark, TEN)
    w37 = rows[("demo_12345", "2026-W37", "city", "city")]
    # received (by local receive date) T1-T9 = 9 (T6 at 23:30 Sunday is W37; T10 is W38); direct T1, T6 = 2
    # dispatched in W37: T2 T3 T4 T5 T7 T8 T9 = 7; in time (<= 2 h): T2 T4 T5 T7 (exactly 2 h) T9 = 5 (T3 3 h, T8 never)
    # due in W37: T2 T3 T4 T5 T7 T9 = 6; resolved before Mon 14 Sep 00:00 local: T2 T3 T7 T9 = 4 (T5 at 00:30 is after)
    # resolved on time (resolved_at <= due_at): T2 T7 T9 = 3
    # resolved in W37: T2 T3 T7 T9 = 4, of which called back effectively T2 T3 T9 = 3 (T7 not reached)
    # visited in W37: T2 T3 T9 = 3, satisfied T2 T9 = 2
    # open past deadline as of W37's end: T4 (never resolved), T5 (due Sun 23:30, resolved Mon 00:30) = 2
    assert _counts(w37) == (9, 2, 7, 5, 6, 4, 3, 4, 3, 3, 2, 2)
    assert _rates(w37) == (2 / 9, 5 / 7, 3 / 6, 4 / 6, 3 / 4, 2 / 3)
    assert w37.composite_score == pytest.approx(100 * (0.2 * 5 / 7 + 0.4 * 3 / 6 + 0.4 * 2 / 3))
    assert (w37.unit_name, w37.period_start.isoformat(), w37.period_end.isoformat(), w37.period_complete) == (
        "全市",
        "2026-09-07",
        "2026-09-14",
        True,
    )
    assert (w37.rank, w37.units_ranked) == (None, None)

    w38 = rows[("demo_12345", "2026-W38", "city", "city")]
    # the data ends with T8's resolution on Fri 18 Sep: W38 is judged as of Sat 19 Sep 00:00 local and incomplete
    # received T10 = 1, direct 0; dispatched T10 = 1, in time 1; due T8 T10 = 2, both resolved by then, on time T10 = 1
    # resolved in W38: T5 T8 T10 = 3, called back T5 T10 = 2; visited T5 T10 = 2, satisfied 2 (basically counts)
    # open past deadline as of Sat 19 Sep 00:00: T4 = 1
    assert _counts(w38) == (1, 0, 1, 1, 2, 2, 1, 3, 2, 2, 2, 1)
    assert _rates(w38) == (0.0, 1.0, 1 / 2, 1.0, 2 / 3, 1.0)
    assert w38.period_complete is False

    month = rows[("demo_12345", "2026-09", "city", "city")]
    assert (month.received, month.due, month.open_past_deadline, month.period_complete) == (10, 8, 1, False)


def test_ten_tickets_streets_and_ranks_across_two_weeks(spark):
    rows = _rows(spark, TEN)
    s1, s2 = rows[("demo_12345", "2026-W37", "street", S1)], rows[("demo_12345", "2026-W37", "street", S2)]
    # S1 in W37: received T1-T4 = 4, direct T1; dispatched T2 T3 T4, in time T2 T4; due T2 T3 T4, resolved T2 T3,
    # on time T2; resolved T2 T3, both called back; visited T2 T3, satisfied T2; open past deadline T4
    assert _counts(s1) == (4, 1, 3, 2, 3, 2, 1, 2, 2, 2, 1, 1)
    assert _rates(s1) == (1 / 4, 2 / 3, 1 / 3, 2 / 3, 1.0, 1 / 2)
    # S2 in W37: received T5-T8 = 4, direct T6; dispatched T5 T7 T8, in time T5 T7; due T5 T7, resolved and on time T7;
    # resolved T7, not called back; no callback in W37 (satisfaction rate null, not 0); open past deadline T5
    assert _counts(s2) == (4, 1, 3, 2, 2, 1, 1, 1, 0, 0, 0, 1)
    assert _rates(s2) == (1 / 4, 2 / 3, 1 / 2, 1 / 2, 0.0, None)
    # scores: S1 = 100 (0.2 2/3 + 0.4 1/3 + 0.4 1/2) = 46.7; S2 = 100 (0.2 2/3 + 0.4 1/2) / 0.6 = 55.6 (no satisfaction)
    assert s1.composite_score == pytest.approx(100 * (0.2 * 2 / 3 + 0.4 / 3 + 0.4 / 2))
    assert s2.composite_score == pytest.approx(100 * (0.2 * 2 / 3 + 0.4 / 2) / 0.6)
    assert (s1.unit_name, s2.unit_name) == ("湖滨街道", None)  # S2 is not in the grid: no name, still a row
    assert [(r.rank, r.units_ranked, r.previous_rank, r.rank_change) for r in (s2, s1)] == [(1, 2, None, None), (2, 2, None, None)]

    n1, n2 = rows[("demo_12345", "2026-W38", "street", S1)], rows[("demo_12345", "2026-W38", "street", S2)]
    # S1 in W38: T10 in time, on time and satisfied; T4 still open: score 100
    # S2 in W38: nothing dispatched (rate null), due T8 late (0/1), T5 visited basically satisfied (1/1): score 50
    assert (n1.composite_score, n1.open_past_deadline) == (100.0, 1)
    assert (n2.dispatched, n2.timely_acceptance_rate, n2.direct_answer_rate) == (0, None, None)
    assert n2.composite_score == pytest.approx(100 * (0.4 * 0 + 0.4 * 1) / 0.8)
    # S1 moves up from 2nd to 1st (+1), S2 down from 1st to 2nd (-1)
    assert [(r.rank, r.previous_rank, r.rank_change) for r in (n1, n2)] == [(1, 2, 1), (2, 1, -1)]


def test_handling_units_are_ranked_among_themselves(spark):
    rows = _rows(spark, TEN)
    ub = rows[("demo_12345", "2026-W37", "handling_unit", UB)]
    # UB in W37: received T4 T5 T8 T9; dispatched 4, in time T4 T5 T9; due T4 T5 T9, on time T9; visited T9, satisfied
    assert (ub.received, ub.direct_answered, ub.dispatched, ub.accepted_in_time, ub.due, ub.resolved_on_time) == (4, None, 4, 3, 3, 1)
    ua = rows[("demo_12345", "2026-W37", "handling_unit", UA)]
    # UA: in time 2/3, on time 2/3 (T2 T7 of T2 T3 T7), satisfied 1/2: 60.0; UB: 0.75, 1/3, 1/1: 68.3 -> UB first
    assert ua.composite_score == pytest.approx(60.0) and ub.composite_score == pytest.approx(100 * (0.2 * 0.75 + 0.4 / 3 + 0.4))
    assert (ub.rank, ua.rank, ub.units_ranked) == (1, 2, 2)
    centre = rows[("demo_12345", "2026-W37", "handling_unit", CENTRE)]
    assert (centre.received, centre.direct_answered, centre.dispatched, centre.composite_score, centre.rank) == (2, None, 0, None, None)


def test_basically_satisfied_counts_only_when_the_parameter_says_so(spark):
    strict = _rows(spark, TEN, HotlinePerformanceParams(count_basically_satisfied=False))
    s2 = strict[("demo_12345", "2026-W38", "street", S2)]
    assert (s2.visited, s2.satisfied, s2.satisfaction_rate) == (1, 0, 0.0)  # T5 was only basically satisfied


def test_local_time_decides_the_period_and_hotlines_never_mix(spark):
    ny = lambda day, hour, minute=0: local(NEW_YORK, 9, day, hour, minute)  # noqa: E731
    tickets = [
        # Boston: received Sun 13 Sep 23:30 EDT (Mon 03:30 UTC), due 23:45 EDT, closed Mon 00:15 EDT
        _ticket("B1", None, "PWDx", ny(13, 23, 30), source="boston_311", zone=NEW_YORK, due=ny(13, 23, 45), resolved=ny(14, 0, 15)),
        # the demo city: received Sun 13 Sep 23:30 local, dispatched Mon 00:10 local (Sun 16:10 UTC)
        _ticket("D1", S1, UA, _sep(13, 23, 30), dispatched=_sep(14, 0, 10), accepted=_sep(14, 0, 30), due=_sep(16, 0, 10)),
    ]
    rows = _rows(spark, tickets)
    b37 = rows[("boston_311", "2026-W37", "city", "city")]
    # W37 ends Mon 14 Sep 00:00 EDT: B1 was received and due in W37 and is still open then
    assert (b37.received, b37.due, b37.resolved_by_period_end, b37.open_past_deadline) == (1, 1, 0, 1)
    assert rows[("boston_311", "2026-W38", "city", "city")].resolved == 1
    # Boston has no direct answers, dispatch, acceptance or callbacks: null counts and rates, not 0
    assert (b37.direct_answered, b37.dispatched, b37.accepted_in_time, b37.visited) == (None, None, None, None)
    assert (b37.direct_answer_rate, b37.timely_acceptance_rate, b37.satisfaction_rate) == (None, None, None)
    assert b37.on_time_completion_rate == 0.0 and b37.composite_score == 0.0  # the one rate it has weighs alone
    assert not [k for k in rows if k[0] == "boston_311" and k[2] == "street"]
    d37, d38 = rows[("demo_12345", "2026-W37", "city", "city")], rows[("demo_12345", "2026-W38", "city", "city")]
    assert (d37.received, d37.dispatched, d38.dispatched) == (1, 0, 1)
    as_of = {
        r.source_system: r.as_of
        for r in job.hotline_performance(spark.createDataFrame(tickets, DDL))
        .where("period = '2026-W37' AND unit_type = 'city'")
        .select("source_system", utc_text("as_of"))
        .collect()
    }
    assert as_of == {"boston_311": "2026-09-14 04:00", "demo_12345": "2026-09-13 16:00"}  # local midnights as UTC

    notes = job.not_computed(job.capability_rows([r.asDict() for r in job.hotline_summary(spark.createDataFrame(tickets, DDL)).collect()]))
    boston = " | ".join(n for n in notes if n.startswith("boston_311"))
    for missing in ("direct_answer_rate", "timely_acceptance_rate", "satisfaction_rate", "effective_callback_rate", "street rows"):
        assert missing in boston
    assert not [n for n in notes if n.startswith("demo_12345") and "street" in n]


def test_params_refuse_unknown_weights():
    with pytest.raises(ValueError, match="score_weights"):
        HotlinePerformanceParams(score_weights=(("pickup_rate", 1.0),))
    with pytest.raises(ValueError, match="acceptance_limit_hours"):
        HotlinePerformanceParams(acceptance_limit_hours=0)


def test_run_rebuilds_the_table_through_its_contract(spark, lake_settings, monkeypatch):
    complaints = as_silver(spark.createDataFrame(TEN, DDL), "silver.complaint")
    lake.write(spark, lake_settings, "silver.complaint", complaints)
    lake.write(spark, lake_settings, "silver.grid", as_silver(_grid(spark), "silver.grid"))
    report = job.run(spark, lake_settings)
    table = lake.read(spark, lake_settings, "gold.hotline_performance")
    GOLD_HOTLINE_PERFORMANCE.check(table)
    assert report.rows == table.count() == table.select(*GOLD_HOTLINE_PERFORMANCE.keys).distinct().count() > 0
    assert report.not_computed == []
    assert reference_agrees(lake_settings, "hotline_performance")  # the hand-made edge cases (a voided case filed first...) in DuckDB too
    again = job.run(spark, lake_settings)  # silver unchanged: nothing to build
    assert (again.details["build"], again.rows) == ("incremental", 0)
    job.run(spark, lake_settings, full=True)  # rebuilt whole, not appended
    assert lake.read(spark, lake_settings, "gold.hotline_performance").count() == report.rows

    original = job.hotline_performance
    monkeypatch.setattr(job, "hotline_performance", lambda *a, **k: original(*a, **k).withColumn("extra", F.lit(1)))
    with pytest.raises(ContractViolation, match="extra"):
        job.run(spark, lake_settings, full=True)


def test_boston_311_builds_and_says_what_it_cannot_compute(spark, lake_settings, tmp_path):
    boston_lake(spark, lake_settings, tmp_path)
    report = job.run(spark, lake_settings)
    table = lake.read(spark, lake_settings, "gold.hotline_performance")
    assert report.rows == table.count() > 0
    city = (
        table.where("unit_type = 'city' AND period_type = 'month'")
        .agg(F.sum("received").alias("received"), F.max("dispatched").alias("dispatched"))
        .first()
    )
    assert city.received >= 95 and city.dispatched is None
    assert table.where("unit_type = 'street'").count() == 0 and table.where("unit_type = 'handling_unit'").count() > 0
    assert table.where("timely_acceptance_rate IS NOT NULL OR satisfaction_rate IS NOT NULL OR direct_answer_rate IS NOT NULL").count() == 0
    assert table.where("on_time_completion_rate IS NOT NULL").count() > 0  # target_dt and closed_dt are there
    notes = " | ".join(report.not_computed)
    assert "street names: silver.grid does not exist" in notes
    for missing in ("boston_311: direct_answered", "timely_acceptance_rate", "satisfaction_rate", "no street codes"):
        assert missing in notes


def test_previous_rank_is_the_period_immediately_before_not_the_last_one_seen(spark):
    # S1 has tickets in W37 and W39 but none in W38; S2 has one every week
    tickets = [
        _ticket(f"G{i}", street, UA, _sep(day, 9), dispatched=_sep(day, 9, 10), accepted=_sep(day, 9, 20))
        for i, (street, day) in enumerate([(S1, 8), (S2, 8), (S2, 15), (S1, 22), (S2, 22)])
    ]
    rows = _rows(spark, tickets)
    assert ("demo_12345", "2026-W38", "street", S1) not in rows
    assert rows[("demo_12345", "2026-W38", "street", S2)].rank == 1
    assert rows[("demo_12345", "2026-W39", "street", S1)].previous_rank is None  # W38 had no S1 row
    assert rows[("demo_12345", "2026-W39", "street", S2)].previous_rank == 1
