"""Refine on small hand-made drops: volume gate, late older versions, reconciliation."""

import json
import os
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.quality.gate import QualityGateFailed
from citybrain.schemas.sources import get_source

HEADER = "date,weekday,is_workday,holiday_name,weather,temp_max_c,temp_min_c,precipitation_mm,aqi,event_name,event_lon,event_lat,event_attendance\n"


def _calendar_drop(folder, drop_day: str, days: list[date], weather: str = "晴"):
    folder.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{d:%Y-%m-%d},{d.isoweekday()},1,,{weather},30,22,0,50,,,,\n" for d in days)
    (folder / f"calendar_{drop_day}.csv").write_text(HEADER + rows)


def test_volume_collapse_stops_the_batch_and_says_why(spark, lake_settings, tmp_path):
    folder = tmp_path / "drops" / "calendar"
    start = date(2026, 1, 1)
    for i in range(3):  # three drops of 40 days each: 40 records per drop day
        _calendar_drop(folder, f"2026090{i + 1}", [start + timedelta(days=40 * i + k) for k in range(40)])
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    first = refine.refine(spark, lake_settings, "calendar")
    assert first.accepted == 120
    version = lake.version(lake_settings, "silver.calendar_day")

    _calendar_drop(folder, "20260904", [date(2026, 6, 1)])  # one record on a day: a collapse
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    with pytest.raises(QualityGateFailed) as failed:
        refine.refine(spark, lake_settings, "calendar")
    message = str(failed.value)
    assert "silver.calendar_day" in message and "daily_volume_within_band" in message
    assert "1.0 records per drop day" in message and "trailing average of 40.0" in message
    assert lake.version(lake_settings, "silver.calendar_day") == version  # nothing written
    stored = lake.read(spark, lake_settings, "ops.quality_results").where("rule = 'daily_volume_within_band' AND NOT success").collect()
    assert len(stored) == 1 and stored[0].measured_value.startswith("1.0 records per drop day")
    # the batch stays pending: it is checked again next time, not silently skipped
    assert refine.pending_batches(spark, lake_settings, "calendar", "calendar_day")


def test_a_late_older_version_never_overwrites_a_newer_one(spark, lake_settings, tmp_path):
    folder = tmp_path / "drops" / "calendar"
    days = [date(2026, 9, 1) + timedelta(days=k) for k in range(5)]
    _calendar_drop(folder, "20260910", days, weather="晴")
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    refine.refine(spark, lake_settings, "calendar")
    _calendar_drop(folder, "20260905", days, weather="小雨")  # an older delivery, arriving late
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    report = refine.refine(spark, lake_settings, "calendar")
    assert (report.records_in, report.accepted, report.quarantined, report.collapsed) == (5, 0, 0, 5)
    weather = {r.date: r.weather for r in lake.read(spark, lake_settings, "silver.calendar_day").collect()}
    assert set(weather.values()) == {"晴"}
    audit = lake.read(spark, lake_settings, "ops.batch_audit").collect()
    assert len(audit) == 2 and all(a.balanced for a in audit) and {a.drop_days for a in audit} == {1}


def test_versions_in_the_future_or_before_2000_are_quarantined(spark, lake_settings, tmp_path):
    """A version stamped 2062 would never be replaced by the real later update: it is refused."""
    folder = tmp_path / "drops" / "calendar"
    days = [date(2026, 9, 1) + timedelta(days=k) for k in range(3)]
    _calendar_drop(folder, "20260905", days, weather="晴")
    _calendar_drop(folder, "20620101", days[:1], weather="雪")  # delivered_on 2062
    _calendar_drop(folder, "19990101", days[1:2], weather="雾")  # delivered_on 1999
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    _calendar_drop(folder, "20630101", days[2:], weather="雹")  # 2063: the same rule, in a second batch
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    results_version = lake.version(lake_settings, "ops.quality_results") if lake.exists(lake_settings, "ops.quality_results") else -1
    report = refine.refine(spark, lake_settings, "calendar")
    assert (report.records_in, report.accepted, report.quarantined) == (6, 3, 3)
    assert report.quarantined_by_rule == {"delivered_on_not_in_future": 2, "delivered_on_not_before_2000": 1}
    weather = {r.date: r.weather for r in lake.read(spark, lake_settings, "silver.calendar_day").collect()}
    assert set(weather.values()) == {"晴"}
    # each refused record is kept whole, as its drop file had it
    kept = {json.loads(r.record)["weather"]: r.source_file for r in lake.read(spark, lake_settings, "quarantine.calendar_day").collect()}
    assert kept == {"雪": "calendar/calendar_20620101.csv", "雹": "calendar/calendar_20630101.csv", "雾": "calendar/calendar_19990101.csv"}
    # every result of the refine is stored, in one write: the volume, the row rules, the gate's checks
    assert lake.version(lake_settings, "ops.quality_results") == results_version + 1
    stored = {
        r.rule: r for r in lake.read(spark, lake_settings, "ops.quality_results").where(F.col("batch_id") == report.refine_id).collect()
    }
    assert stored["daily_volume_within_band"].success and stored["daily_volume_within_band"].element_count == 6
    future = stored["delivered_on_not_in_future"]
    assert (future.level, future.unexpected_count, future.element_count) == ("row", 2, 6)
    assert stored["delivered_on_not_before_2000"].unexpected_count == 1
    assert stored["key_unique"].level == "table" and stored["key_unique"].success
    not_null = stored["date_not_null"]
    assert (not_null.level, not_null.success, not_null.unexpected_count, not_null.element_count) == ("table", True, 0, 3)


def test_a_volume_surge_stops_the_batch_too(spark, lake_settings, tmp_path):
    """The band has an upper side: six times the usual records per drop day is refused as well."""
    folder = tmp_path / "drops" / "calendar"
    start = date(2026, 1, 1)
    for i in range(3):  # three drops of 2 days each: 2 records per drop day
        _calendar_drop(folder, f"2026090{i + 1}", [start + timedelta(days=2 * i + k) for k in range(2)])
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    refine.refine(spark, lake_settings, "calendar")
    _calendar_drop(folder, "20260904", [date(2026, 6, 1) + timedelta(days=k) for k in range(12)])  # 12 records on one drop day
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    with pytest.raises(QualityGateFailed, match="daily_volume_within_band") as failed:
        refine.refine(spark, lake_settings, "calendar")
    assert "12.0 records per drop day" in str(failed.value) and "0.2-5 x the trailing average of 2.0" in str(failed.value)


def test_the_volume_is_compared_per_drop_day_not_per_batch(spark, lake_settings, tmp_path):
    """Three daily runs of 2 records, then one run that catches up on six days at once: 12
    records in one batch are still 2 per drop day, inside the band (per batch they would be 12,
    more than 5 x 2)."""
    folder = tmp_path / "drops" / "calendar"
    start = date(2026, 1, 1)
    for i in range(3):
        _calendar_drop(folder, f"2026090{i + 1}", [start + timedelta(days=2 * i + k) for k in range(2)])
        ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
        refine.refine(spark, lake_settings, "calendar")
    for i in range(6):
        _calendar_drop(folder, f"2026091{i}", [start + timedelta(days=10 + 2 * i + k) for k in range(2)])
    ingest.run(spark, lake_settings, "calendar", drops_dir=tmp_path / "drops")
    report = refine.refine(spark, lake_settings, "calendar")
    assert report.records_in == 12 and len(report.batches) == 1
    volume = (
        lake.read(spark, lake_settings, "ops.quality_results")
        .where((F.col("batch_id") == report.refine_id) & (F.col("rule") == "daily_volume_within_band"))
        .collect()
    )
    assert len(volume) == 1 and volume[0].success and volume[0].element_count == 12
    assert volume[0].measured_value == "2.0 records per drop day (12 over 6 days)"


@pytest.mark.parametrize(
    ("source", "utc", "day"),
    [
        ("hotline", "2026-09-01 16:30:00", "2026-09-02"),  # 00:30 in Shanghai: the later day
        ("hotline", "2026-09-01 15:59:59", "2026-09-01"),  # 23:59:59 in Shanghai: still the same day
        ("boston311", "2022-01-20 04:30:00", "2022-01-19"),  # 23:30 in Boston (EST): the day before in UTC terms
        ("boston311", "2022-01-19 05:00:00", "2022-01-19"),  # 00:00 in Boston: the day starts
    ],
)
def test_a_record_lands_in_its_own_local_day(spark, source, utc, day):
    mapping = get_source(source).silver
    df = spark.createDataFrame([(utc,)], "t string").select(F.to_timestamp("t").alias(mapping.partition_time))
    assert str(df.select(refine.partition_date(mapping)).first()[0]) == day


def test_a_batch_that_fails_to_compute_leaves_no_staging_files_and_is_explained(spark, lake_settings):
    """The typed batch is staged before it is checked; when computing it fails, its folder goes too."""
    failing = spark.range(3).selectExpr("IF(id < 2, id, raise_error('field pickup_time cannot be typed')) AS id")
    staging = lake_settings.lake_root + "/_staging"

    def explain(exc):
        return ValueError(f"mapping field broke: {str(exc).splitlines()[0][:200]}")

    with pytest.raises(ValueError, match="mapping field broke"), refine.staged(spark, lake_settings, "refine-x", failing, explain=explain):
        pytest.fail("the block must not run when the batch could not be computed")
    assert not os.path.exists(f"{staging}/refine-x")
    with refine.staged(spark, lake_settings, "refine-y", spark.range(4), explain=explain) as rows:
        assert rows.count() == 4
    assert os.listdir(staging) == []
