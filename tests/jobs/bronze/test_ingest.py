"""Bronze ingestion on the real engine: every record lands, re-ingesting is a no-op."""

import json
import os
import stat
import time
from datetime import date

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


GOOD_POLICE = '{"records": [{"incident_no": "J1", "call_time": "2026-09-01 08:00:00"}]}'


def _ledger(spark, settings) -> dict:
    return {r.file: r for r in lake.read(spark, settings, "ops.ingest_ledger").collect()}


def test_a_file_without_a_drop_date_is_rejected_and_the_good_files_are_taken_in(spark, lake_settings, tmp_path):
    drops = tmp_path / "drops"
    _write(drops / "police", "police_latest.json", GOOD_POLICE)
    _write(drops / "police", "police_20260901.json", GOOD_POLICE)
    report = ingest.run(spark, lake_settings, "police", drops_dir=drops)
    assert [f.file for f in report.files] == ["police/police_20260901.json"]
    assert lake.read(spark, lake_settings, "bronze.police").count() == 1
    rejected = _ledger(spark, lake_settings)["police/police_latest.json"]
    assert "cannot find the drop date" in rejected.rejected_reason and rejected.records == 0
    assert "REJECTED 1 file(s)" in report.summary() and "police/police_latest.json" in report.summary()
    # recorded once: the next run neither rejects nor records it again
    again = ingest.run(spark, lake_settings, "police", drops_dir=drops)
    assert again.rejected == [] and len(_ledger(spark, lake_settings)) == 2


def test_links_pipes_devices_and_directories_are_rejected_unread(spark, lake_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CITYBRAIN_TEST_SECRET", "leak-me-not-5d1f")
    folder = tmp_path / "drops" / "hotline"
    _write(folder, "hotline_20260901.csv", "工单编号,诉求内容\n12345-1,路灯不亮\n")
    (folder / "hotline_20260902_passwd.csv").symlink_to("/etc/passwd")
    (folder / "hotline_20260903_environ.csv").symlink_to("/proc/self/environ")
    (folder / "hotline_20260904_zero.csv").symlink_to("/dev/zero")
    os.mkfifo(folder / "hotline_20260905_pipe.csv")
    (folder / "hotline_20260906_dir.csv").mkdir()
    if os.geteuid() == 0:  # a character device of its own (root only): the same device as /dev/null
        os.mknod(folder / "hotline_20260907_device.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 3))

    started = time.monotonic()
    report = ingest.run(spark, lake_settings, "hotline", drops_dir=tmp_path / "drops")
    assert time.monotonic() - started < 60  # a pipe or /dev/zero read would never return
    assert [f.file for f in report.files] == ["hotline/hotline_20260901.csv"]
    reasons = {r.file.split("_")[-1]: r.rejected_reason for r in _ledger(spark, lake_settings).values() if r.rejected_reason}
    assert {k: v.split(",")[0] for k, v in reasons.items()} == {
        "passwd.csv": "a symbolic link",
        "environ.csv": "a symbolic link",
        "zero.csv": "a symbolic link",
        "pipe.csv": "a named pipe",
        "dir.csv": "a directory",
        **({"device.csv": "a device"} if os.geteuid() == 0 else {}),
    }
    # nothing was read from them: bronze holds the one good record, and no table holds the environment
    assert lake.read(spark, lake_settings, "bronze.hotline").count() == 1
    for table in ("bronze.hotline", "ops.ingest_ledger"):
        assert not any("leak-me-not-5d1f" in json.dumps(r.asDict(), default=str) for r in lake.read(spark, lake_settings, table).collect())


def test_links_inside_the_drop_folder_are_followed_only_when_allowed(spark, lake_settings, tmp_path):
    folder = tmp_path / "drops" / "police"
    _write(folder / "archive", "J.json", GOOD_POLICE)
    (folder / "police_20260901.json").symlink_to(folder / "archive" / "J.json")
    (folder / "police_20260902.json").symlink_to("/etc/hostname")
    report = ingest.run(spark, lake_settings.with_(drops_follow_links=True), "police", drops_dir=tmp_path / "drops")
    assert [f.file for f in report.files] == ["police/police_20260901.json"]
    assert [r.reason for r in report.rejected] == ["a symbolic link to outside the drop folder, not followed"]


def test_an_unreadable_file_does_not_block_the_others_and_fail_mode_names_it(spark, lake_settings, tmp_path, monkeypatch):
    drops = tmp_path / "drops"
    _write(drops / "police", "police_20260901.json", GOOD_POLICE)
    _write(drops / "police", "police_20260902.json", GOOD_POLICE.replace("J1", "J2"))
    read_drop = ingest.read_drop

    def failing_reader(data, spec, *, file_name=""):  # whatever a reader may still trip on
        if file_name == "police_20260901.json":
            raise RecursionError("maximum recursion depth exceeded")
        return read_drop(data, spec, file_name=file_name)

    monkeypatch.setattr(ingest, "read_drop", failing_reader)
    with pytest.raises(ingest.IngestError, match=r"REJECTED 1 file\(s\).*police_20260901.json.*CITYBRAIN_REJECTED_FILES=fail"):
        ingest.run(spark, lake_settings.with_(rejected_files="fail"), "police", drops_dir=drops)
    # the good file was taken in before the run failed, and the bad one is in the ledger with its reason
    assert lake.read(spark, lake_settings, "bronze.police").count() == 1
    assert _ledger(spark, lake_settings)["police/police_20260901.json"].rejected_reason.startswith("unreadable: ")


def test_a_failed_bronze_write_leaves_no_staged_files_and_the_next_run_takes_the_file_in(spark, lake_settings, tmp_path, monkeypatch):
    drops = tmp_path / "drops"
    _write(drops / "police", "police_20260901.json", GOOD_POLICE)
    write = lake.write

    def full_disk(spark, settings, name, df, **kwargs):
        if name == "bronze.police":
            raise lake.LakeWriteError(f"could not write {name}: No space left on device")
        return write(spark, settings, name, df, **kwargs)

    monkeypatch.setattr(lake, "write", full_disk)
    with pytest.raises(lake.LakeWriteError, match="No space left"):
        ingest.run(spark, lake_settings, "police", drops_dir=drops)
    staging = tmp_path / "lake" / "_staging"
    assert list(staging.iterdir()) == []  # the staged copy of the file is gone with the failed run
    assert not lake.exists(lake_settings, "ops.ingest_ledger")  # and the ledger does not claim the file
    monkeypatch.setattr(lake, "write", write)
    report = ingest.run(spark, lake_settings, "police", drops_dir=drops)
    assert [f.file for f in report.files] == ["police/police_20260901.json"] and report.records == 1
    assert list(staging.iterdir()) == []


def test_names_from_files_are_printed_escaped():
    report = ingest.IngestReport("hotline", "b1", rejected=[ingest.RejectedFile("hotline/x\x1b[2J.csv", "bad\u202e")])
    assert "\x1b" not in report.summary() and "x\\x1b[2J.csv" in report.summary() and "bad\\u202e" in report.summary()


def test_no_drops_is_a_no_op(spark, lake_settings, tmp_path):
    report = ingest.run(spark, lake_settings, "petitions", drops_dir=tmp_path / "nothing")
    assert report.files_found == 0 and not lake.exists(lake_settings, "bronze.petitions")


@pytest.mark.parametrize("day", [None, date(2026, 9, 3)], ids=["undated", "dated"])
def test_two_concurrent_runs_never_load_a_file_twice(spark, lake_settings, tmp_path, day):
    """Every new file, or (a dated run, citybrain.run_dates) that day's: taken by one of the two runs only."""
    import threading

    from citybrain import engine

    drops = tmp_path / "drops"
    for n in range(1, 7):
        _write(drops / "ridehailing", f"ridehailing_202609{n:02d}.csv", HEADER + f"B{n},2026-09-{n:02d}08:00:00,{n}\n")
    reports, errors = [], []

    def one_run():
        try:
            with engine.fresh_session(lake_settings) as session:
                reports.append(ingest.run(session, lake_settings, "ridehailing", drops_dir=drops, day=day))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    runs = [threading.Thread(target=one_run) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    assert errors == []
    taken = list(range(1, 7)) if day is None else [day.day]
    assert sorted(len(r.files) for r in reports) == [0, len(taken)]
    bronze = lake.read(spark, lake_settings, "bronze.ridehailing")
    assert sorted(r.order_id for r in bronze.collect()) == [f"B{d}" for d in taken]
    assert bronze.select("_batch_id").distinct().count() == 1
    ledger = [r.file for r in lake.read(spark, lake_settings, "ops.ingest_ledger").collect()]
    assert sorted(ledger) == [f"ridehailing/ridehailing_202609{d:02d}.csv" for d in taken]
