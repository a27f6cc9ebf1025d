"""Bronze ingestion on the real engine: every record lands, re-ingesting is a no-op."""

import json

import pytest

from citybrain import lake
from citybrain.jobs.bronze import ingest

HEADER = "order_id,pickup_time,fare_yuan\n"


def _write(folder, name, text, encoding="utf-8"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(text.encode(encoding))


def test_ingest_keeps_every_record_and_is_idempotent(spark, lake_settings, tmp_path):
    drops = tmp_path / "drops"
    _write(drops / "ridehailing", "ridehailing_20260901.csv", HEADER + "A1,2026-09-01 08:00:00,23.5\nA2,bad\n")
    # the export format changed: fare_amount replaces fare_yuan and a new column appears
    _write(
        drops / "ridehailing",
        "ridehailing_20260902.csv",
        "order_id,pickup_time,fare_amount,surge_multiplier\nA3,2026-09-02 09:00:00,30,1.2\n",
    )
    # a re-sent copy of the first file under another name
    _write(drops / "ridehailing", "ridehailing_20260903.csv", HEADER + "A1,2026-09-01 08:00:00,23.5\nA2,bad\n")

    report = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops)
    assert report.records == 3 and report.parse_errors == 1
    assert report.files_identical_to_another == ["ridehailing/ridehailing_20260903.csv"]
    rows = {r.order_id: r for r in lake.read(spark, lake_settings, "bronze.ridehailing").collect()}
    assert set(rows) == {"A1", "A3", None}
    assert rows["A3"].fare_yuan == "30" and json.loads(rows["A3"]._extra) == {"surge_multiplier": "1.2"}
    assert str(rows["A3"].dt) == "2026-09-02"
    assert rows[None]._parse_error == "row has 2 fields, the header has 3"
    ledger = {r.file: r for r in lake.read(spark, lake_settings, "ops.ingest_ledger").collect()}
    assert ledger["ridehailing/ridehailing_20260902.csv"].unknown_fields == "surge_multiplier"
    assert "order_status" in ledger["ridehailing/ridehailing_20260901.csv"].missing_fields
    copy = ledger["ridehailing/ridehailing_20260903.csv"]
    assert (copy.records, copy.duplicate_of) == (0, "ridehailing/ridehailing_20260901.csv")

    version = lake.version(lake_settings, "bronze.ridehailing")
    again = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops)
    assert again.files == [] and again.files_already_ingested == 3  # the copy is in the ledger too
    assert lake.version(lake_settings, "bronze.ridehailing") == version

    _write(drops / "ridehailing", "ridehailing_20260904.csv", HEADER + "A4,2026-09-04 10:00:00,12\n")
    third = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops)
    assert [f.file for f in third.files] == ["ridehailing/ridehailing_20260904.csv"]
    assert lake.read(spark, lake_settings, "bronze.ridehailing").count() == 4


def test_gbk_drop_is_read_and_recorded(spark, lake_settings, tmp_path):
    drops = tmp_path / "drops"
    _write(drops / "hotline", "hotline_20260930.csv", "工单编号,诉求内容\n12345-1,夜间施工噪声扰民\n", encoding="gbk")
    ingest.run(spark, lake_settings, "hotline", drops_dir=drops)
    assert lake.read(spark, lake_settings, "bronze.hotline").first().content == "夜间施工噪声扰民"
    assert lake.read(spark, lake_settings, "ops.ingest_ledger").first().encoding == "gb18030"


def test_file_without_a_drop_date_is_a_clear_error(spark, lake_settings, tmp_path):
    drops = tmp_path / "drops"
    _write(drops / "police", "police_latest.json", '{"records": []}')
    with pytest.raises(ingest.IngestError, match="cannot find the drop date"):
        ingest.run(spark, lake_settings, "police", drops_dir=drops)


def test_no_drops_is_a_no_op(spark, lake_settings, tmp_path):
    report = ingest.run(spark, lake_settings, "petitions", drops_dir=tmp_path / "nothing")
    assert report.files_found == 0 and not lake.exists(lake_settings, "bronze.petitions")
