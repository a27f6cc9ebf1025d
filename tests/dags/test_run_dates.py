"""Which day a run works on: its conf, its data interval (scheduled and backfill runs), the days
its triggering Asset events carry, or none."""

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from citybrain.run_dates import RunDateError, day_of_interval, days_between, logical_date_for, parse_day, run_day, run_days

CITY = ZoneInfo("Asia/Shanghai")


def _context(run_type: str, conf=None, start=None, events=None) -> dict:
    return {
        "dag_run": SimpleNamespace(run_type=run_type, conf=conf or {}),
        "data_interval_start": start,
        "triggering_asset_events": events or {},
    }


def test_scheduled_and_backfill_runs_take_the_day_their_interval_starts():
    # the daily run of 2026-09-01 starts its interval at midnight UTC, 08:00 in the city
    start = datetime(2026, 9, 1, 8, 0, tzinfo=CITY)
    for run_type in ("scheduled", "backfill"):
        assert run_day(_context(run_type, start=start)) == date(2026, 9, 1)
        assert run_day(_context(run_type, start=start - timedelta(seconds=1))) == date(2026, 8, 31)


def test_the_conf_day_wins_and_a_manual_run_without_it_is_undated():
    start = datetime(2026, 9, 1, 1, 0, tzinfo=CITY)
    assert run_day(_context("manual", conf={"day": "2026-09-03"}, start=start)) == date(2026, 9, 3)
    assert run_day(_context("backfill", conf={"day": "2026-09-03"}, start=start)) == date(2026, 9, 3)
    assert run_day(_context("manual", start=start)) is None
    assert run_day({}) is None


def test_an_asset_triggered_run_takes_the_days_its_events_carry():
    def event(day):
        return SimpleNamespace(extra={} if day is None else {"day": day})

    dated = {"bronze.hotline": [event("2026-09-02"), event("2026-09-01"), event("2026-09-02")]}
    assert run_days(_context("asset_triggered", events=dated)) == (date(2026, 9, 1), date(2026, 9, 2))
    # one event without a day (the grid's, a drop-folder watcher's): everything pending
    mixed = {**dated, "silver.grid": [event(None)]}
    assert run_days(_context("asset_triggered", events=mixed)) is None
    assert run_days(_context("asset_triggered")) is None


def test_the_logical_date_of_a_day_is_the_daily_run_whose_interval_starts_that_day(airflow_home):
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import DataInterval, TimeRestriction

    from citybrain.run_dates import daily_timetable

    timetable = coerce_to_core_timetable(daily_timetable())
    logical = logical_date_for(date(2026, 9, 1))
    assert logical == datetime(2026, 9, 1, tzinfo=UTC)
    # the scheduled run after the one of 2026-08-31 is the one of 2026-09-01, fired when the day is over
    after = DataInterval(datetime(2026, 8, 31, tzinfo=UTC), logical)
    info = timetable.next_dagrun_info(last_automated_data_interval=after, restriction=TimeRestriction(None, None, True))
    assert info.logical_date == logical and day_of_interval(info.data_interval.start) == date(2026, 9, 1)
    assert info.run_after == datetime(2026, 9, 2, tzinfo=UTC)


def test_days_and_ranges_fail_in_one_clear_line():
    assert days_between(date(2026, 8, 31), date(2026, 9, 2)) == [date(2026, 8, 31), date(2026, 9, 1), date(2026, 9, 2)]
    assert days_between(date(2026, 9, 1), date(2026, 9, 1)) == [date(2026, 9, 1)]
    with pytest.raises(RunDateError, match=r"the range ends \(2026-08-31\) before it starts \(2026-09-01\)"):
        days_between(date(2026, 9, 1), date(2026, 8, 31))
    with pytest.raises(RunDateError, match="'2026-13-01' is not a date"):
        parse_day("2026-13-01")


def test_the_days_are_read_from_airflows_own_triggering_events(airflow_home):
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    def event(asset: str, extra: dict) -> AssetEventDagRunReferenceResult:
        return AssetEventDagRunReferenceResult.model_validate(
            {
                "asset": {"name": asset, "uri": asset, "extra": {}},
                "extra": extra,
                "source_task_id": "announce",
                "source_dag_id": "ingest_police",
                "source_run_id": "r",
                "source_map_index": -1,
                "source_aliases": [],
                "timestamp": datetime(2026, 9, 2, tzinfo=UTC),
            }
        )

    events = TriggeringAssetEventsAccessor.build(
        [event("bronze.police", {"day": "2026-09-02"}), event("bronze.police", {"day": "2026-09-01"})]
    )
    assert run_days(_context("asset_triggered", events=events)) == (date(2026, 9, 1), date(2026, 9, 2))
    undated = TriggeringAssetEventsAccessor.build([event("bronze.police", {"day": None})])
    assert run_days(_context("asset_triggered", events=undated)) is None
