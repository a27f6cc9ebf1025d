"""gold.hotline_performance built in part equals the same table built whole from the same silver.

Two hotlines (the demo 12345 line in Shanghai, Boston 311 in New York, which has no callbacks)
receive tickets every day for five and a half weeks, across three months. Each ticket is as the
hotline knew it at the end of a day: dispatched, signed for, resolved and called back later,
some past the deadline, some never. The silver table holds the tickets as known at the end of
the history; a new day merges that day's new tickets and the older ones it changed, as a refine
does. A few tickets are resolved half a day before they were received (a clock error), which
widens the reach the rule keeps. The table is built once, silver changes, the job runs again, and the result is compared
with a full build of the same silver (rows and a checksum of every column).
"""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from incremental_support import content, first_build, rebuilt_whole
from performance_support import NEW_YORK, SHANGHAI, as_silver
from test_hotline_performance import CENTRE, DDL, S1, S2, UA, UB, _grid, _ticket

from citybrain import lake
from citybrain.jobs.gold import hotline_performance as job

TABLE = job.TABLE
FIRST = date(2026, 8, 31)  # a Monday
LAST = date(2026, 10, 7)  # the history's last day, a Wednesday
NEW = LAST + timedelta(days=1)
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")


def ticket(day: date, i: int, known_until: date, source: str = "demo_12345", resolved_at=None, visited_at=None) -> tuple:
    """Ticket ``i`` received on ``day``, as its hotline knew it at the end of ``known_until``."""
    zone = SHANGHAI if source == "demo_12345" else NEW_YORK
    received = datetime.combine(day, time(8 + i), tzinfo=zone)
    end = datetime.combine(known_until + timedelta(days=1), time(0), tzinfo=zone)
    k = (day - FIRST).days * 5 + i
    street, unit = (S1, S2)[k % 2], (UA, UB)[(k // 2) % 2]
    if source == "demo_12345" and k % 6 == 0:
        return _ticket(f"{day:%m%d}-{i}", street, CENTRE, received, direct=True)
    events = {"dispatched": received + timedelta(minutes=30), "due": received + timedelta(days=2 + k % 4)}
    events["accepted"] = events["dispatched"] + timedelta(hours=1 if k % 3 else 5)
    resolved = resolved_at or (None if k % 7 == 3 else events["due"] + timedelta(hours=(k % 5 - 2) * 30))  # up to 60 h late
    if resolved is not None:
        events["resolved"] = resolved
        if source == "demo_12345" and k % 2 == 0:
            events["visited"] = resolved + timedelta(hours=20)
    if visited_at is not None:
        events["visited"] = visited_at
    known = {name: at for name, at in events.items() if at < end or name == "due"}
    if "visited" in known:
        known["satisfaction"] = SATISFACTION[k % 3]
    return _ticket(f"{day:%m%d}-{i}", street, unit, received, source=source, zone=zone, **known)


def silver_as_of(known_until: date) -> dict[str, tuple]:
    """Every ticket received up to ``known_until``, as known at its end, by complaint_id."""
    rows = {}
    for n in range((known_until - FIRST).days + 1):
        day = FIRST + timedelta(days=n)
        for row in [*(ticket(day, i, known_until) for i in range(4)), ticket(day, 4, known_until, source="boston_311")]:
            rows[row[1]] = row
    return rows


def reach_by_hand(rows) -> int:
    """The rule's reach, computed here: the smallest offset in days of any event's UTC day from the
    ticket's dt (0 at most), less one day for the zones."""
    offsets = [(at.astimezone(UTC).date() - row[4]).days for row in rows for at in (row[8], row[10], row[11], row[12]) if at is not None]
    return min(0, *offsets) - 1


def merge(spark, settings, rows) -> None:
    """Merge tickets into silver.complaint on complaint_id (a refine's MERGE: the new version wins)."""
    lake.merge(spark, settings, "silver.complaint", as_silver(spark.createDataFrame(list(rows), DDL), "silver.complaint"))


@pytest.fixture
def built(spark, lake_settings):
    complaints = as_silver(spark.createDataFrame(list(silver_as_of(LAST).values()), DDL), "silver.complaint")
    lake.write(spark, lake_settings, "silver.complaint", complaints)
    lake.write(spark, lake_settings, "silver.grid", as_silver(_grid(spark), "silver.grid"))
    first_build(spark, lake_settings, job)
    return lake_settings


def test_a_new_day_rebuilds_only_the_periods_it_reaches_and_equals_a_full_build(spark, built):
    rows_before = lake.read(spark, built, TABLE).count()
    before, after = silver_as_of(LAST), silver_as_of(NEW)
    changed = [row for key, row in after.items() if before.get(key) != row]
    assert any(row[4] < NEW for row in changed)  # older tickets resolved or called back on the new day
    merge(spark, built, changed)
    report = job.run(spark, built)
    assert (report.details["build"], report.details["why_full"]) == ("incremental", None)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    lo = reach_by_hand(after.values())
    assert lo == -2  # the clock errors: resolved the day before their receipt
    assert report.details["periods_ending_after"] == str(min(row[4] for row in changed) + timedelta(days=lo))
    assert min(row[4] for row in changed) <= LAST - timedelta(days=5)  # tickets resolved late reach back five days
    assert 0 < report.rows < rows_before / 2


def test_an_old_open_ticket_resolved_today_reaches_back_to_its_deadline(spark, built):
    old = ticket(FIRST, 3, NEW, resolved_at=datetime.combine(NEW, time(10), tzinfo=SHANGHAI))  # open since 08-31
    assert silver_as_of(LAST)[old[1]][11] is None
    merge(spark, built, [old])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-08-29"  # its day, less the reach (-2)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_ticket_that_moves_to_another_day_leaves_its_old_day(spark, built):
    """Its old day's file is rewritten too, so the old day is a changed day."""
    old_id = "demo_12345:0930-1"
    assert old_id in silver_as_of(LAST)
    moved = ticket(date(2026, 10, 6), 1, LAST)  # re-sent with another receipt day
    merge(spark, built, [(moved[0], old_id, *moved[2:])])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental" and report.details["periods_ending_after"] == "2026-09-28"  # 09-30, less 2
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_clock_error_far_back_widens_the_reach_kept(spark, built):
    """A new ticket dispatched 26 days before its receipt counts in a period the day alone would not reach."""
    late = list(ticket(date(2026, 10, 6), 1, LAST))
    late[8] = datetime.combine(date(2026, 9, 10), time(9), tzinfo=SHANGHAI)  # dispatched_at
    assert late[1] not in silver_as_of(LAST) or silver_as_of(LAST)[late[1]] != tuple(late)
    merge(spark, built, [(late[0], "demo_12345:clock-error", *late[2:])])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-09-09"  # 10-06, less 26 days and the zones' day
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    again = job.run(spark, built)  # the wider reach is kept for the next build
    assert (again.details["build"], again.rows) == ("incremental", 0)


def test_a_ticket_after_a_gap_rebuilds_from_the_old_last_day(spark, built):
    """Days without tickets after the old last day become periods with a backlog (open tickets past deadline)."""
    merge(spark, built, [ticket(LAST + timedelta(days=16), 1, LAST + timedelta(days=16))])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-10-08"  # the day after the old last day
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_nothing_changed_writes_nothing_and_keeps_the_table(spark, built):
    version = lake.version(built, TABLE)
    report = job.run(spark, built)
    assert (report.details["build"], report.rows) == ("incremental", 0)
    assert lake.version(built, TABLE) == version


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("grid", "silver.grid changed"),
        ("callback", "the data a hotline has changed (source_capabilities)"),
        ("hotline", "a hotline was gained or lost"),
        ("first_day", "a hotline's first day moved"),
        ("parameters", "parameters, contract or build rules changed"),
    ],
)
def test_what_every_period_depends_on_rebuilds_whole(spark, built, change, why):
    params = None
    if change == "grid":
        lake.write(spark, built, "silver.grid", as_silver(_grid(spark), "silver.grid"), mode="overwrite")
    elif change == "callback":  # Boston 311's first callback: its satisfaction counts stop being null everywhere
        called = ticket(date(2026, 10, 5), 4, NEW, source="boston_311", visited_at=datetime.combine(NEW, time(9), tzinfo=NEW_YORK))
        merge(spark, built, [called])
    elif change == "hotline":
        merge(spark, built, [replace_source(ticket(NEW, 0, NEW), "another_line")])
    elif change == "first_day":
        merge(spark, built, [ticket(FIRST - timedelta(days=1), 1, NEW)])
    else:
        params = replace(job.HotlinePerformanceParams(), acceptance_limit_hours=2)
    report = job.run(spark, built, params)
    assert (report.details["build"], report.details["why_full"]) == ("full", why)
    if params is None:
        assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def replace_source(row: tuple, source: str) -> tuple:
    return (source, row[1].replace(row[0], source), *row[2:])
