"""Dated runs: an ingest of a day takes only the drops dated that day, a rerun of the day changes
no table, a refine of a day takes that day's batches. (Two dated runs of one day at once:
test_ingest.py::test_two_concurrent_runs_never_load_a_file_twice.)"""

from datetime import date

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver.audit import pending_batches
from citybrain.lake_content import lake_checksums

HEADER = "order_id,pickup_time,fare_yuan\n"
DAY1, DAY2, DAY3 = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)


def _drops(tmp_path):
    folder = tmp_path / "drops" / "ridehailing"
    folder.mkdir(parents=True)
    for day in (DAY1, DAY2, DAY3):
        rows = "".join(f"{day:%d}-{n},{day} 08:0{n}:00,{n}\n" for n in range(3))
        (folder / f"ridehailing_{day:%Y%m%d}.csv").write_text(HEADER + rows)
    return tmp_path / "drops"


def _files(spark, settings) -> dict[str, set[str]]:
    """{batch: files} of bronze.ridehailing."""
    batches: dict[str, set[str]] = {}
    for batch, file in lake.read(spark, settings, "bronze.ridehailing").select("_batch_id", "_source_file").distinct().collect():
        batches.setdefault(batch, set()).add(file)
    return batches


def test_a_dated_ingest_takes_that_days_drops_and_a_rerun_changes_nothing(spark, lake_settings, tmp_path):
    drops = _drops(tmp_path)
    first = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops, day=DAY2)
    assert [f.file for f in first.files] == ["ridehailing/ridehailing_20260902.csv"] and first.records == 3
    assert "ridehailing (2026-09-02): 1 new file(s)" in first.summary()

    before = lake_checksums(lake_settings, ("bronze", "ops"))
    again = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops, day=DAY2)
    assert again.files == [] and again.files_already_ingested == 1
    assert lake_checksums(lake_settings, ("bronze", "ops")) == before

    ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops, day=DAY1)
    assert sorted(map(sorted, _files(spark, lake_settings).values())) == [
        ["ridehailing/ridehailing_20260901.csv"],
        ["ridehailing/ridehailing_20260902.csv"],
    ]
    # a run without a day takes every new file: here the one day not taken yet
    rest = ingest.run(spark, lake_settings, "ridehailing", drops_dir=drops)
    assert [f.file for f in rest.files] == ["ridehailing/ridehailing_20260903.csv"]

    # a refine of a day takes the batches holding that day's drops, and only those
    by_file = {next(iter(files)): batch for batch, files in _files(spark, lake_settings).items()}
    assert pending_batches(spark, lake_settings, "ridehailing", "ride_trip", (DAY1,)) == [by_file["ridehailing/ridehailing_20260901.csv"]]
    assert pending_batches(spark, lake_settings, "ridehailing", "ride_trip", (DAY2, DAY3)) == sorted(
        by_file[f"ridehailing/ridehailing_{d:%Y%m%d}.csv"] for d in (DAY2, DAY3)
    )
    assert len(pending_batches(spark, lake_settings, "ridehailing", "ride_trip")) == 3


def test_a_source_without_dates_in_its_file_names_dates_them_by_the_run(spark, lake_settings, tmp_path):
    folder = tmp_path / "drops" / "boston311"
    folder.mkdir(parents=True)
    header = "case_enquiry_id,open_dt,closed_dt,case_status,case_title,subject,reason,type,latitude,longitude\n"
    (folder / "boston311-export.csv").write_text(header + "1,2026-09-02 08:00:00,,Open,Pothole,PW,Street,Pothole,42.35,-71.06\n")
    report = ingest.run(spark, lake_settings, "boston311", drops_dir=tmp_path / "drops", day=DAY2)
    assert report.records == 1
    assert [str(r.dt) for r in lake.read(spark, lake_settings, "bronze.boston311").select("dt").collect()] == ["2026-09-02"]
