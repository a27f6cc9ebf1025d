"""The reconciliation counts each side on its own, so each kind of imbalance fails the run.

Calendar drops keep these tests small: no grid is needed to place them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.jobs.silver.audit import ReconciliationError

HEADER = "date,weekday,is_workday,holiday_name,weather,temp_max_c,temp_min_c,precipitation_mm,aqi,event_name,event_lon,event_lat,event_attendance\n"


def _drop(folder, drop_day: str, days: list[date], weather: str = "晴") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{d:%Y-%m-%d},{d.isoweekday()},1,,{weather},30,22,0,50,,,,\n" for d in days)
    (folder / f"calendar_{drop_day}.csv").write_text(HEADER + rows)


def _ten_days(tmp_path) -> None:
    _drop(tmp_path / "drops" / "calendar", "20260910", [date(2026, 9, 1) + timedelta(days=k) for k in range(10)])


def test_every_side_is_counted_on_its_own(spark, lake_settings, tmp_path):
    _ten_days(tmp_path)
    # a later drop re-sends three of the days with newer weather, and two of them twice
    days = [date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 2), date(2026, 9, 3), date(2026, 9, 3)]
    _drop(tmp_path / "drops" / "calendar", "20260911", days, weather="小雨")
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    report = refine.refine(spark, lake_settings, "calendar")
    # hand-counted: 15 in; 10 days held, one record each; 5 records superseded by another for their day
    assert (report.records_in, report.accepted, report.quarantined, report.collapsed) == (15, 10, 0, 5)
    audit = lake.read(spark, lake_settings, "ops.batch_audit").collect()
    assert len(audit) == 1 and audit[0].balanced
    # what silver holds is the newest delivery of each day, not just one of them
    weather = {r.date: r.weather for r in lake.read(spark, lake_settings, "silver.calendar_day").collect()}
    assert [weather[date(2026, 9, d)] for d in (1, 2, 3, 4)] == ["小雨", "小雨", "小雨", "晴"]


def test_a_lost_row_fails_the_run(spark, lake_settings, tmp_path, monkeypatch):
    _ten_days(tmp_path)
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    merge = lake.merge

    def losing_merge(spark_, settings, name, df, **kwargs):  # a MERGE that drops the even days
        if name == "silver.calendar_day":
            df = df.where("day(date) % 2 = 1")
        return merge(spark_, settings, name, df, **kwargs)

    monkeypatch.setattr(refine.lake, "merge", losing_merge)
    with pytest.raises(
        ReconciliationError, match=r"10 in != 5 accepted \+ 0 quarantined \+ 0 collapsed \(5 valid records are not in silver: lost\)"
    ):
        refine.refine(spark, lake_settings, "calendar")
    audit = lake.read(spark, lake_settings, "ops.batch_audit").collect()
    assert [a.balanced for a in audit] == [False]  # the imbalance is on record too


def test_a_double_load_is_refused_before_anything_is_written(spark, lake_settings, tmp_path, monkeypatch):
    _ten_days(tmp_path)
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    # a second ingest that did not see the first one's ledger (two ingests at once)
    monkeypatch.setattr(ingest, "_lake_state", lambda *args: ({}, set()))
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    assert lake.read(spark, lake_settings, "bronze.calendar").count() == 20
    with pytest.raises(ReconciliationError, match=r"same file under more than one batch.*calendar/calendar_20260910.csv"):
        refine.refine(spark, lake_settings, "calendar")
    assert not lake.exists(lake_settings, "silver.calendar_day")


def test_a_batch_audited_twice_fails(spark, lake_settings, tmp_path, monkeypatch):
    _ten_days(tmp_path)
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    refine.refine(spark, lake_settings, "calendar")
    batches = [r[0] for r in lake.read(spark, lake_settings, "bronze.calendar").select("_batch_id").distinct().collect()]
    # a second refine that started before the first one wrote its audit row
    monkeypatch.setattr(refine, "pending_batches", lambda *args: batches)
    with pytest.raises(ReconciliationError, match="audited more than once"):
        refine.refine(spark, lake_settings, "calendar")


def test_bronze_is_counted_per_batch_and_per_drop_day_in_one_query(spark):
    """The volume check and the reconciliation share one count of bronze: each batch's records and
    drop days, and the drop days of all batches together (a day two batches share counts once)."""
    from datetime import date as day

    from citybrain.jobs.silver.audit import count_bronze

    rows = [("b1", day(2026, 9, 1))] * 3 + [("b1", day(2026, 9, 2))] * 2 + [("b2", day(2026, 9, 2))] * 4 + [("b3", None)]
    counted = count_bronze(spark.createDataFrame(rows, "_batch_id string, dt date"))
    # by hand: b1 5 records over 2 days, b2 4 over 1, b3 1 with no day; 2 distinct days in all
    assert counted.per_batch == {"b1": (5, 2), "b2": (4, 1), "b3": (1, 0)}
    assert (counted.records, counted.drop_days) == (10, 2)
