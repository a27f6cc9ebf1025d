"""The real Boston 311 sample goes into silver.complaint through a mapping file alone."""

import json
import shutil

import pytest
from tests_support import SHARED_REAL_DATA

from citybrain import lake, privacy
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine

BOSTON = SHARED_REAL_DATA / "boston311"
pytestmark = pytest.mark.skipif(not BOSTON.is_dir(), reason=f"the real Boston 311 sample is not at {BOSTON} (../shared/data/real)")


def _refine_file(spark, settings, tmp_path, name):
    folder = tmp_path / "drops" / "boston311"
    folder.mkdir(parents=True)
    shutil.copyfile(BOSTON / name, folder / name)  # a drop folder takes regular files, not links
    ingest.run(spark, settings, "boston311", drops_dir=tmp_path / "drops")
    report = refine.refine(spark, settings, "boston311")
    complaints = lake.read(spark, settings, "silver.complaint")
    return report, complaints


def test_published_sample_lands_in_silver_complaint(spark, lake_settings, tmp_path):
    report, complaints = _refine_file(spark, lake_settings, tmp_path, "boston311-100.csv")
    assert (report.records_in, report.accepted + report.quarantined + report.collapsed) == (100, 100)
    assert complaints.count() == report.accepted >= 95
    row = complaints.where("ticket_no = '101004130437'").first()
    assert row.complaint_id == "boston_311:101004130437" and row.source_system == "boston_311"
    assert row.category_l2 == "Needle Pickup" and row.status_code == "closed"
    assert str(row.received_at) == "2022-01-19 16:18:00"  # 11:18 in Boston (EST) is 16:18 UTC
    assert row.location_method == "h3_only" and row.h3_r8 is not None and row.grid_code is None
    assert str(row.dt) == "2022-01-19"


def test_duplicated_variant_collapses_its_20_copies(spark, lake_settings, tmp_path):
    # The file holds 100 rows: 80 distinct requests and 20 exact copies of some of them.
    report, complaints = _refine_file(spark, lake_settings, tmp_path, "boston311-100-20dupes-random.csv")
    assert (report.records_in, report.collapsed, report.quarantined) == (100, 20, 0)
    assert complaints.count() == complaints.select("ticket_no").distinct().count() == 80


def test_fake_pii_never_reaches_silver(spark, lake_settings, tmp_path):
    raw = (BOSTON / "boston311-100-with-fake-pii.csv").read_text()
    assert privacy.find_clear_pii(raw), "the sample should carry clear personal data"
    _, complaints = _refine_file(spark, lake_settings, tmp_path, "boston311-100-with-fake-pii.csv")
    for row in complaints.collect():
        text = json.dumps(row.asDict(), default=str, ensure_ascii=False)
        assert privacy.find_clear_pii(text) == [], row.complaint_id
    notes = [r.resolution_note for r in complaints.where("resolution_note LIKE '%[%]%'").collect()]
    assert any("[phone]" in n for n in notes) and any("[email]" in n for n in notes) and any("[ssn]" in n for n in notes)


def test_malformed_variant_gives_quarantine_rows_not_a_crash(spark, lake_settings, tmp_path):
    report, complaints = _refine_file(spark, lake_settings, tmp_path, "boston311-100-bad.tsv")
    assert report.records_in == 100
    refused = lake.read(spark, lake_settings, "quarantine.complaint").collect()
    assert refused, "the malformed row should be quarantined"
    bad = [r for r in refused if r.rule == "record_parsed"]
    assert bad and bad[0].reason == "the record could not be split into fields"
    assert bad[0].measured_value == "row has 30 fields, the header has 29"
    assert complaints.count() + len(refused) + report.collapsed == 100


def test_json_lines_export_uses_the_same_mapping(spark, lake_settings, tmp_path):
    report, complaints = _refine_file(spark, lake_settings, tmp_path, "boston311-10.jsonl")
    assert report.records_in == 10 and complaints.count() == report.accepted
    assert complaints.where("ticket_no = '101004143000'").first().status_code == "open"


def test_a_newer_version_on_another_day_replaces_the_row_it_updates(spark, lake_settings, tmp_path):
    """The merge reads only the days that can hold a batch's keys: those must include the day
    the key is held on now, or a version that moved to another day would be a second row."""
    _refine_file(spark, lake_settings, tmp_path, "boston311-100.csv")
    header, *rows = (BOSTON / "boston311-100.csv").read_text().splitlines()
    row = next(r for r in rows if r.startswith("101004130437,")).split(",")
    row[1], row[3] = "2022-01-25 10:00:00", "2022-02-01 09:00:00"  # opened on another day (corrected), now closed
    others = ["9" + r[1:] for r in rows[:29] if not r.startswith("101004130437,")]  # new requests: the usual volume
    (tmp_path / "drops" / "boston311" / "boston311-corrected.csv").write_text("\n".join([header, ",".join(row), *others]) + "\n")
    ingest.run(spark, lake_settings, "boston311", drops_dir=tmp_path / "drops")
    report = refine.refine(spark, lake_settings, "boston311")
    assert report.records_in == 1 + len(others) and report.collapsed == 0
    held = lake.read(spark, lake_settings, "silver.complaint").where("ticket_no = '101004130437'").collect()
    assert [str(r.dt) for r in held] == ["2022-01-25"]
