"""gold.complaint_hotspots built in part equals the same table built whole from the same silver.

A small silver (tickets in three cells over three ISO weeks, a few police incidents and
petitions, and the trips of test_incremental_demand merged day by day into the day-partitioned
silver.ride_trip) is built once; silver changes (a new day, a late batch for an old day, a trip
re-reported on another day, a day emptied, a new police incident, a new petition, a late ticket,
a new sub-category, a hotline gained and lost), the job runs again, and both
gold.complaint_hotspots and gold.hotspot_context are compared with a full build of the same silver.
Which weeks a build computes again is asserted too (the rule: hotspot_weeks.py; the statistics
from a later week on a larger cube: test_hotspot_weeks.py).
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from performance_support import as_silver
from test_incremental_demand import CELLS, FIRST, history, merge, trips

from citybrain import lake
from citybrain.jobs.gold import complaint_hotspots as job
from citybrain.jobs.gold import hotspot_context
from citybrain.lake_content import REBUILD_COLUMNS, content_checksum
from citybrain.schemas.gold.complaint_hotspots import HotspotParams

TABLES = ("gold.complaint_hotspots", hotspot_context.TABLE)
# FIRST (2026-09-01) is a Tuesday: the trips' days fall in the weeks of 08-31, 09-07 and 09-14
TICKETS = "complaint_id string, source_system string, ticket_no string, received_at timestamp, updated_at timestamp, category_l1 string, category_l2 string, content string, h3_r8 string, dt date"
INCIDENTS = "incident_no string, called_at timestamp, h3_r8 string, dt date"
PETITIONS = "petition_no string, registered_on timestamp, h3_r8 string, dt date"


def _at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def ticket(system: str, number: str, day: date, cell: str, sub: str = "噪声扰民", text: str = "text") -> tuple:
    return (f"{system}:{number}", system, number, _at(day), _at(day, 10), "城市管理", sub, text, cell, day)


def add_tickets(spark, settings, rows: list[tuple]) -> None:
    lake.write(spark, settings, "silver.complaint", as_silver(spark.createDataFrame(rows, TICKETS), "silver.complaint"), mode="append")


def tickets(spark, settings) -> None:
    """Two to four tickets a day in each of CELLS from 08-31 to 09-20 (two sub-categories)."""
    rows = []
    for k in range(21):
        day = date(2026, 8, 31) + timedelta(days=k)
        for i, cell in enumerate(CELLS):
            for j in range(2 + (k + i) % 3):
                sub = ("噪声扰民", "占道经营")[(k + j) % 2]
                rows.append(
                    (
                        f"demo_12345:{k}-{i}-{j}",
                        "demo_12345",
                        f"{k}-{i}-{j}",
                        _at(day),
                        _at(day, 10),
                        "城市管理",
                        sub,
                        f"text {k}",
                        cell,
                        day,
                    )
                )
    lake.write(spark, settings, "silver.complaint", as_silver(spark.createDataFrame(rows, TICKETS), "silver.complaint"), mode="overwrite")


def incidents(spark, settings, rows: list[tuple[str, date, str]]) -> None:
    """Append police incidents (number, day, cell) to silver.police_incident (partitioned by day)."""
    frame = spark.createDataFrame([(n, _at(d), c, d) for n, d, c in rows], INCIDENTS)
    lake.write(spark, settings, "silver.police_incident", as_silver(frame, "silver.police_incident"), mode="append")


def petitions(spark, settings, rows: list[tuple[str, date, str]]) -> None:
    """Append petitions (number, day, cell) to silver.petition (not partitioned by day)."""
    frame = spark.createDataFrame([(n, _at(d), c, d) for n, d, c in rows], PETITIONS)
    lake.write(spark, settings, "silver.petition", as_silver(frame, "silver.petition"), mode="append")


def content(settings) -> dict:
    return {name: content_checksum(settings, name, REBUILD_COLUMNS) for name in TABLES}


def rebuilt_whole(spark, settings) -> dict:
    """Checksums of a full build of the same silver (the lake's tables are left rebuilt)."""
    report = job.run(spark, settings, full=True)
    assert report.details["context"]["why_full"] == "a full build was asked for"
    assert "(whole: a full build was asked for)" in report.summary()
    return content(settings)


def context_of(report) -> tuple[str, list[str] | None]:
    return report.details["context"]["build"], report.details["context"]["weeks_recounted"]


def built_from(report, system: str = "demo_12345") -> str | None:
    """The first week of ``system`` the build computed again (None: none)."""
    assert report.details["build"] == "incremental", report.details["why_full"]
    return report.details["hotlines"][system]["built_from"]


@pytest.fixture
def built(spark, lake_settings):
    tickets(spark, lake_settings)
    incidents(spark, lake_settings, [("110-1", FIRST, CELLS[0]), ("110-2", FIRST + timedelta(days=8), CELLS[1])])
    petitions(spark, lake_settings, [("XF-1", FIRST + timedelta(days=1), CELLS[1])])
    history(spark, lake_settings)
    first = job.run(spark, lake_settings)
    assert first.details["context"]["why_full"] == "no earlier build recorded"
    # the rows the whole build reports are the rows on disk (counted apart, by the engine)
    assert first.details["context"]["rows"] == lake.read(spark, lake_settings, hotspot_context.TABLE).count() > 3
    return lake_settings


def pickups(spark, settings, week: str) -> int:
    rows = lake.read(spark, settings, "gold.complaint_hotspots").where(f"week_start = DATE'{week}' AND category = 'all'")
    return rows.agg({"ride_pickups": "sum"}).collect()[0][0]


def test_a_new_day_recounts_its_week_and_equals_a_full_build(spark, built):
    before = pickups(spark, built, "2026-09-07")
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=99))  # Thursday 09-10
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", ["2026-09-07"])
    assert report.details["context"]["recounted_whole"] == ["petitions", "urban_cases"]  # no silver.urban_case here
    assert report.details["cube_weeks_counted"] == []  # no ticket changed
    assert built_from(report) == "2026-09-07"
    assert "24 rows in" in report.summary() and "(only what silver changed since the last build)" in report.summary()
    assert report.rows == 2 * 3 * 4  # weeks 09-07 and 09-14 x three cells x all, 城市管理 and its two sub-categories
    assert pickups(spark, built, "2026-09-07") == before + 9  # 9 of the day's 12 trips were picked up
    assert content(built) == rebuilt_whole(spark, built)


def test_a_late_batch_for_a_sunday_recounts_that_week_and_equals_a_full_build(spark, built):
    merge(spark, built, trips(FIRST + timedelta(days=5), seed=7, prefix="late-"))  # Sunday 09-06: the last day of its week
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", ["2026-08-31"])
    assert built_from(report) == "2026-08-31"
    assert content(built) == rebuilt_whole(spark, built)


def test_a_trip_reported_again_on_another_day_leaves_its_old_week_and_equals_a_full_build(spark, built):
    moved = trips(FIRST + timedelta(days=1), seed=1).iloc[[0]].copy()  # picked up; placed on day 9 after all
    for column in ("ordered_at", "picked_up_at", "dropped_off_at", "uploaded_at"):
        moved[column] = moved[column] + timedelta(days=7)
    moved["dt"] = FIRST + timedelta(days=8)
    merge(spark, built, moved)
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", ["2026-08-31", "2026-09-07"])
    assert content(built) == rebuilt_whole(spark, built)


def test_a_week_whose_only_trip_moves_away_loses_its_rows(spark, built):
    lone = trips(FIRST + timedelta(days=14), seed=3, n=1, prefix="lone-")  # 09-15, alone in the week of 09-14
    merge(spark, built, lone)
    assert context_of(job.run(spark, built))[0] == "incremental"
    assert pickups(spark, built, "2026-09-14") == 1
    for column in ("ordered_at", "picked_up_at", "dropped_off_at"):
        lone[column] = lone[column] - timedelta(days=7)
    lone["uploaded_at"], lone["dt"] = lone["uploaded_at"] + timedelta(days=1), FIRST + timedelta(days=7)
    merge(spark, built, lone)  # the day of 09-15 now has no file at all: only its removal names it
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", ["2026-09-07", "2026-09-14"])
    assert pickups(spark, built, "2026-09-14") == 0
    assert content(built) == rebuilt_whole(spark, built)


def context_count(spark, settings, column: str, cell: str, week: str) -> int:
    rows = lake.read(spark, settings, "gold.complaint_hotspots").where(f"h3_cell = '{cell}' AND week_start = DATE'{week}'")
    return rows.agg({column: "max"}).collect()[0][0]


def test_a_new_police_incident_recounts_its_week_of_the_day_partitioned_table(spark, built):
    incidents(spark, built, [("110-3", FIRST + timedelta(days=15), CELLS[2])])
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", ["2026-09-14"])
    assert built_from(report) == "2026-09-14"
    assert context_count(spark, built, "police_incidents", CELLS[2], "2026-09-14") == 1
    assert content(built) == rebuilt_whole(spark, built)


def test_a_table_without_day_partitions_is_recounted_whole(spark, built):
    petitions(spark, built, [("XF-2", FIRST + timedelta(days=15), CELLS[2])])
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", [])
    assert built_from(report) == "2026-09-14"
    assert context_count(spark, built, "petitions", CELLS[2], "2026-09-14") == 1
    assert content(built) == rebuilt_whole(spark, built)


def test_nothing_changed_recounts_only_the_small_tables(spark, built):
    before, version = content(built), lake.version(built, "gold.complaint_hotspots")
    report = job.run(spark, built)
    assert context_of(report) == ("incremental", [])
    assert built_from(report) is None and report.rows == 0
    assert lake.version(built, "gold.complaint_hotspots") == version  # nothing written
    assert content(built) == before


def test_changed_parameters_or_full_rebuild_whole(spark, built):
    other = job.run(spark, built, HotspotParams(k_ring=2))
    assert other.details["context"]["why_full"] == "parameters, contract or build rules changed"
    assert job.run(spark, built, full=True).details["context"]["why_full"] == "a full build was asked for"


def test_context_written_by_another_build_is_rebuilt_whole(spark, built):
    merge(spark, built, trips(FIRST + timedelta(days=9), seed=99))
    lake.write(spark, built, hotspot_context.TABLE, lake.read(spark, built, hotspot_context.TABLE).limit(5), mode="overwrite")
    report = job.run(spark, built)
    assert report.details["context"]["why_full"] == f"{hotspot_context.TABLE} changed since its last recorded build"
    assert content(built) == rebuilt_whole(spark, built)


def test_a_late_ticket_of_an_old_week_builds_from_that_week(spark, built):
    add_tickets(spark, built, [ticket("demo_12345", "late-1", date(2026, 9, 2), CELLS[1], "占道经营")])
    report = job.run(spark, built)
    assert report.details["cube_weeks_counted"] == ["2026-08-31"]  # the other weeks' cube is the table's
    assert built_from(report) == "2026-08-31"
    assert content(built) == rebuilt_whole(spark, built)


def test_a_new_sub_category_builds_the_hotline_whole(spark, built):
    add_tickets(spark, built, [ticket("demo_12345", "new-1", date(2026, 9, 16), CELLS[0], "乱扔垃圾")])
    report = job.run(spark, built)
    assert built_from(report) == "2026-08-31"
    assert report.details["hotlines"]["demo_12345"]["why"] == "its sub-categories changed"
    assert content(built) == rebuilt_whole(spark, built)


def test_a_hotline_gained_is_built_whole_and_one_lost_loses_its_rows(spark, built):
    add_tickets(spark, built, [ticket("other_12345", f"o-{k}", date(2026, 9, 1) + timedelta(days=k), CELLS[k % 3]) for k in range(12)])
    report = job.run(spark, built)
    assert built_from(report, "other_12345") == "2026-08-31"
    assert report.details["hotlines"]["other_12345"]["why"] == "a hotline not in the table"
    assert built_from(report) is None  # the other hotline's rows are kept as they are
    assert content(built) == rebuilt_whole(spark, built)

    gone = "source_system = 'other_12345'"
    lake.write(spark, built, "silver.complaint", lake.read(spark, built, "silver.complaint").limit(0), mode="overwrite", replace_where=gone)
    report = job.run(spark, built)
    assert sorted(report.details["hotlines"]) == ["demo_12345"]
    table = lake.read(spark, built, "gold.complaint_hotspots")
    assert table.where(gone).count() == 0
    assert content(built) == rebuilt_whole(spark, built)
