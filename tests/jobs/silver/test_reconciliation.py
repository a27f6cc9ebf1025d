"""The reconciliation counts each side on its own, so each kind of imbalance fails the run.

Calendar drops keep these tests small: no grid is needed to place them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.jobs.silver.audit import BronzeInventory, ReconciliationError

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
    monkeypatch.setattr(BronzeInventory, "pending", lambda self, days=None: batches)
    with pytest.raises(ReconciliationError, match="audited more than once"):
        refine.refine(spark, lake_settings, "calendar")


def _inventory() -> BronzeInventory:
    """b1: two files over two days; b2: a file of a day b1 also has; b3: a record without a day;
    b0: refined before (audited). calendar_02.csv is in b1 and again in b2 (a double load)."""
    d1, d2 = date(2026, 9, 1), date(2026, 9, 2)
    files = (
        ("sha1", "calendar_01.csv", "b1", d1, 3),
        ("sha2", "calendar_02.csv", "b1", d2, 2),
        ("sha2", "calendar_02.csv", "b2", d2, 4),
        ("sha3", "calendar_03.csv", "b3", None, 1),
        ("sha0", "calendar_00.csv", "b0", date(2026, 8, 31), 7),
    )
    at = datetime(2026, 9, 1, 6, tzinfo=UTC)
    audit = (
        ("b0", "refine-a", 7, 1, at),
        ("bx", "refine-b", 20, 4, at + timedelta(days=1)),
        ("by", "refine-b", 10, 1, at + timedelta(days=3)),  # refine-b ended last
        ("bz", "refine-c", 9, 3, at + timedelta(days=2)),
    )
    return BronzeInventory("calendar", files, audit)


def test_bronze_is_counted_per_batch_and_per_drop_day():
    """The volume check and the reconciliation share one count of bronze: each batch's records and
    drop days, and the drop days of the batches together (a day two batches share counts once)."""
    counted = _inventory().counts(["b1", "b2", "b3"])
    # by hand: b1 5 records over 2 days, b2 4 over 1, b3 1 with no day; 2 distinct days in all
    assert counted.per_batch == {"b1": (5, 2), "b2": (4, 1), "b3": (1, 0)}
    assert (counted.records, counted.drop_days) == (10, 2)
    assert _inventory().counts(["b2"]).per_batch == {"b2": (4, 1)}


def test_the_inventory_finds_pending_batches_double_loads_and_the_volume_history():
    inventory = _inventory()
    assert inventory.pending() == ["b1", "b2", "b3"]  # b0 is audited
    assert inventory.pending(days={date(2026, 9, 2)}) == ["b1", "b2"]
    assert inventory.double_loads(["b3"]) == []
    assert inventory.double_loads(["b2"]) == ["calendar_02.csv in batches b1, b2"]
    # per refine, the latest (last audit row) first: b 30 over 5 days, c 9 over 3, a 7 over 1
    assert inventory.volume_history(7) == [6.0, 3.0, 7.0]
    assert inventory.volume_history(2) == [6.0, 3.0]
