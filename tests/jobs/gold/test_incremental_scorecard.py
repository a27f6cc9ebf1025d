"""gold.governance_scorecard built in part equals the same table built whole from the same silver.

An urban-management system in Shanghai reports four cases a day for five and a half weeks,
across three months, and the hotline hands it two urban tickets a day. Each case is as the
system knew it at the end of a day: filed, dispatched, handled and closed later, some past the
deadline, some never handled, some voided, a few handled half a day before they were reported
(a clock error, which widens the reach the rule keeps). Silver holds the cases as known at the
end of the history; a new day merges that day's cases and the older ones it changed, as a refine
does. The table is built once, silver changes, the job runs again, and the result is compared
with a full build of the same silver (rows and a checksum of every column).
"""

import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from incremental_support import content, first_build, rebuilt_whole
from performance_support import SHANGHAI, as_silver
from test_governance_scorecard import CASE_DDL, S1, S2, TICKET_DDL, _case, _grid

from citybrain import lake
from citybrain.jobs.gold import governance_scorecard as job

TABLE = job.TABLE
FIRST = date(2026, 8, 31)  # a Monday
LAST = date(2026, 10, 7)  # the history's last day, a Wednesday
NEW = LAST + timedelta(days=1)
SOURCES = ("监督员上报", "12345转办", "公众举报(微信)")
# the instants of a CASE_DDL row that place it in periods besides its dt: dispatched, handled, closed, deadline
EVENT_FIELDS = (6, 7, 8, 9)
DT = 19


def case(day: date, i: int, known_until: date) -> tuple:
    """Case ``i`` reported on ``day``, as the system knew it at the end of ``known_until``."""
    k = (day - FIRST).days * 4 + i
    reported = datetime.combine(day, time(8 + i), tzinfo=SHANGHAI)
    end = datetime.combine(known_until + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    street, source, filed = (S1, S2)[k % 2], SOURCES[k % 3], reported + timedelta(minutes=10)
    if k % 11 == 5:
        return _case(f"{day:%m%d}-{i}", street, reported, source=source, filed=filed, voided_at=filed + timedelta(hours=1))
    dispatched = filed + timedelta(minutes=20)
    deadline = dispatched + (timedelta(hours=2) if k % 5 == 0 else timedelta(days=1 + k % 4))
    handled = None if k % 7 == 3 else max(dispatched + timedelta(hours=1), deadline + timedelta(hours=(k % 5 - 2) * 30))  # to 60 h late
    if k % 13 == 7:
        handled = reported - timedelta(hours=12)  # a clock error: handled the day before it was reported
    handled = handled if handled is not None and handled < end else None
    closed = handled + timedelta(hours=2) if handled is not None and handled + timedelta(hours=2) < end else None
    return _case(
        f"{day:%m%d}-{i}", street, reported, source=source, urgent=k % 5 == 0, filed=filed, dispatched=dispatched,
        deadline=deadline, handled=handled, closed=closed, rework=int(k % 4 == 1 and closed is not None), postponed=k % 6 == 2,
    )  # fmt: skip


def cases_as_of(known_until: date) -> dict[str, tuple]:
    """Every case reported up to ``known_until``, as known at its end, by case_no."""
    days = ((FIRST + timedelta(days=n)) for n in range((known_until - FIRST).days + 1))
    return {row[0]: row for day in days for row in (case(day, i, known_until) for i in range(4))}


def tickets_of(day: date) -> list[tuple]:
    """The hotline's two urban tickets of ``day``, located on a street."""
    return [("demo_12345", f"demo_12345:{day}-{j}", "城市管理", (S1, S2)[j], day) for j in range(2)]


def reach_by_hand(rows) -> int:
    """The rule's reach, computed here: the smallest offset in days of any event's UTC day from the
    case's dt (0 at most), less one day for the zones."""
    offsets = [(row[f].astimezone(UTC).date() - row[DT]).days for row in rows for f in EVENT_FIELDS if row[f] is not None]
    return min(0, *offsets) - 1


def merge_cases(spark, settings, rows) -> None:
    """Merge cases into silver.urban_case on case_no (a refine's MERGE: the new version wins)."""
    lake.merge(spark, settings, "silver.urban_case", as_silver(spark.createDataFrame(list(rows), CASE_DDL), "silver.urban_case"))


def merge_tickets(spark, settings, rows) -> None:
    lake.merge(spark, settings, "silver.complaint", as_silver(spark.createDataFrame(rows, TICKET_DDL), "silver.complaint"))


def new_day(spark, settings) -> list[tuple]:
    """Merge what the new day changed (its cases, older cases handled or closed on it, its tickets); the cases changed."""
    before, after = cases_as_of(LAST), cases_as_of(NEW)
    changed = [row for key, row in after.items() if before.get(key) != row]
    merge_cases(spark, settings, changed)
    merge_tickets(spark, settings, tickets_of(NEW))
    return changed


@pytest.fixture
def built(spark, lake_settings):
    cases = as_silver(spark.createDataFrame(list(cases_as_of(LAST).values()), CASE_DDL), "silver.urban_case")
    tickets = [t for n in range((LAST - FIRST).days + 1) for t in tickets_of(FIRST + timedelta(days=n))]
    lake.write(spark, lake_settings, "silver.urban_case", cases)
    lake.write(spark, lake_settings, "silver.complaint", as_silver(spark.createDataFrame(tickets, TICKET_DDL), "silver.complaint"))
    lake.write(spark, lake_settings, "silver.grid", as_silver(_grid(spark), "silver.grid"))
    first_build(spark, lake_settings, job)
    return lake_settings


def test_the_history_has_what_the_rule_must_handle():
    """Without these the comparisons below could not fail where the rule is wrong."""
    rows = list(cases_as_of(LAST).values())
    assert reach_by_hand(rows) == -2  # the clock errors
    assert any(r[7] is None and r[9] is not None and r[12] is False for r in rows)  # open cases: the backlog
    assert any(r[12] for r in rows)  # voided
    late = [r for r in rows if r[7] is not None and r[9] is not None and r[7] > r[9]]
    assert any((r[7].date() - r[DT]).days >= 5 for r in late)  # handled late, days after the report


def test_a_new_day_rebuilds_only_the_periods_it_reaches_and_equals_a_full_build(spark, built):
    rows_before = lake.read(spark, built, TABLE).count()
    changed = new_day(spark, built)
    assert any(row[DT] < NEW for row in changed)  # older cases handled or closed on the new day
    report = job.run(spark, built)
    assert (report.details["build"], report.details["why_full"]) == ("incremental", None)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    lo = reach_by_hand(cases_as_of(NEW).values())
    assert lo == -2
    assert report.details["periods_ending_after"] == str(min(row[DT] for row in changed) + timedelta(days=lo))
    assert min(row[DT] for row in changed) < date(2026, 10, 5)  # cases handled late reach back into the week before
    assert 0 < report.rows < rows_before / 2
    assert "(only what silver changed since the last build)" in report.summary()


def test_an_old_open_case_closed_today_reaches_back_to_its_day(spark, built):
    old = next(r for r in cases_as_of(LAST).values() if r[DT] == date(2026, 9, 2) and r[7] is None and not r[12])
    closed_today = datetime.combine(NEW, time(10), tzinfo=SHANGHAI)
    merge_cases(spark, built, [_case(old[0], old[17], old[4], source=old[1], filed=old[5], dispatched=old[6], deadline=old[9],
                                     closed=closed_today)])  # fmt: skip
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-08-31"  # its day, less the reach (-2)
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_case_that_moves_to_another_day_leaves_its_old_day(spark, built):
    """Its old day's file is rewritten too, so the old day is a changed day."""
    moved = case(date(2026, 10, 6), 1, LAST)  # re-sent with another report day
    old_no = "0930-1"
    assert old_no in cases_as_of(LAST)
    merge_cases(spark, built, [(old_no, *moved[1:])])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental" and report.details["periods_ending_after"] == "2026-09-28"  # 09-30, less 2
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_clock_error_far_back_widens_the_reach_kept(spark, built):
    """A new case dispatched 26 days before its report counts in a period its day alone would not reach."""
    late = list(case(date(2026, 10, 6), 1, LAST))
    late[0], late[6] = "clock-error", datetime.combine(date(2026, 9, 10), time(9), tzinfo=SHANGHAI)  # dispatched_at
    merge_cases(spark, built, [tuple(late)])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-09-09"  # 10-06, less 26 days and the zones' day
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)
    again = job.run(spark, built)  # the wider reach is kept for the next build
    assert (again.details["build"], again.rows) == ("incremental", 0)


def test_a_late_hotline_ticket_alone_rebuilds_from_its_day(spark, built):
    """silver.complaint is an input too: a ticket of an old day changes that day's hotline_urban_tickets."""
    merge_tickets(spark, built, [("demo_12345", "demo_12345:late", "城市管理", S1, date(2026, 9, 21))])
    report = job.run(spark, built)
    assert report.details["build"] == "incremental"
    assert report.details["periods_ending_after"] == "2026-09-19"  # 09-21, less 2
    assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_case_after_a_gap_rebuilds_from_the_old_last_day(spark, built):
    """Days without cases after the old last day become periods with a backlog (open cases past deadline)."""
    gap = LAST + timedelta(days=16)
    merge_cases(spark, built, [case(gap, 1, gap)])
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
        ("first_day", "a case feed's first day moved"),
        ("zone", "the cases' time zone changed"),
        ("hotline_lost", "silver.complaint was gained or lost"),
        ("parameters", "parameters, contract or build rules changed"),
    ],
)
def test_what_every_period_depends_on_rebuilds_whole(spark, built, change, why, monkeypatch):
    params = None
    if change == "grid":
        lake.write(spark, built, "silver.grid", as_silver(_grid(spark), "silver.grid"), mode="overwrite")
    elif change == "first_day":
        merge_cases(spark, built, [case(FIRST - timedelta(days=1), 1, LAST)])
    elif change == "zone":
        monkeypatch.setattr(job, "entity_timezone", lambda entity: "Asia/Tokyo")
    elif change == "hotline_lost":
        shutil.rmtree(lake.table_location(built, "silver.complaint"))
    else:
        params = replace(job.GovernanceScorecardParams(), hotline_category_l1="市容环境")
    report = job.run(spark, built, params)
    assert (report.details["build"], report.details["why_full"]) == ("full", why)
    assert f"(whole: {why})" in report.summary()
    if params is None:
        assert content(built, TABLE) == rebuilt_whole(spark, built, job)


def test_a_hotline_gained_rebuilds_whole(spark, lake_settings):
    """A scorecard first built without silver.complaint: its hotline columns are null in every period."""
    lake.write(spark, lake_settings, "silver.urban_case", as_silver(spark.createDataFrame(list(cases_as_of(LAST).values()), CASE_DDL), "silver.urban_case"))  # fmt: skip
    first_build(spark, lake_settings, job)
    lake.write(spark, lake_settings, "silver.complaint", as_silver(spark.createDataFrame(tickets_of(LAST), TICKET_DDL), "silver.complaint"))  # fmt: skip
    report = job.run(spark, lake_settings)
    assert (report.details["build"], report.details["why_full"]) == ("full", "silver.complaint was not read by the last build")
    assert content(lake_settings, TABLE) == rebuilt_whole(spark, lake_settings, job)
