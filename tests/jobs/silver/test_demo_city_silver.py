"""The demo city's planted dirt, checked one kind at a time against the generator's own list.

Every kind is either repaired (duplicates, late records, GBK file, schema change,
repairable timestamps, swapped or missing coordinates) or quarantined with a reason.
"""

import contextlib
import json
import re
from datetime import date, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from citybrain import lake, privacy
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas import all_contracts
from citybrain.schemas.sources import all_sources

pytestmark = pytest.mark.slow

# source -> (silver table, key column, how a dirt key becomes that column's value, bronze key fields)
KEYS = {
    "hotline": ("silver.complaint", "complaint_id", lambda k: f"demo_12345:{k}", ("ticket_no",)),
    "petitions": ("silver.petition", "petition_no", str, ("petition_no",)),
    "police": ("silver.police_incident", "incident_no", str, ("incident_no",)),
    "ridehailing": ("silver.ride_trip", "order_id", str, ("order_id",)),
    "urban_cases": ("silver.urban_case_event", "case_event_id", lambda k: k.replace("#", ":"), ("case_no", "event_seq")),
}


@pytest.fixture(scope="module")
def city(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_silver")
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city")
    generate(own.demo_dir, days=14, scale=0.05)
    for source in DEMO_SOURCES:
        ingest.run(spark, own, source)
    reports = {s: refine.refine(spark, own, s) for s in sorted(DEMO_SOURCES, key=lambda s: s != "registry")}
    dirt = json.loads((own.demo_dir / "truth" / "dirt.json").read_text())
    return own, reports, dirt


def _silver(spark, settings, source):
    table, key, _, _ = KEYS[source]
    return {r[key]: r for r in lake.read(spark, settings, table).collect()}


def _drop_day(file: str) -> date:
    return datetime.strptime(re.search(r"(\d{8})", file).group(1), "%Y%m%d").date()


def _quarantined(spark, settings, source):
    """bronze key -> quarantine rows for that record."""
    table = f"quarantine.{all_sources()[source].silver.entity}"
    out: dict[str, list] = {}
    for row in lake.read(spark, settings, table).collect():
        record = json.loads(row.record)
        key = "#".join(str(record.get(f)) for f in KEYS[source][3])
        out.setdefault(key, []).append(row)
    return out


def _entries(dirt, kind, source=None):
    found = [d for d in dirt if d["kind"] == kind and (source is None or d["source"] == source)]
    assert found, f"the generator planted no {kind} for {source}"
    return found


def test_every_batch_reconciles(spark, city):
    settings, reports, _ = city
    audit = lake.read(spark, settings, "ops.batch_audit").collect()
    assert {a.source for a in audit} == set(DEMO_SOURCES)
    for a in audit:
        assert a.balanced and a.records_in == a.accepted + a.quarantined + a.collapsed, a
    manifest = json.loads((settings.demo_dir / "manifest.json").read_text())
    for source in DEMO_SOURCES:
        assert reports[source].records_in == manifest["sources"][source]["rows"]


@pytest.mark.parametrize("kind", ["duplicate_in_file", "duplicate_across_files"])
def test_duplicates_collapse_to_one_row(spark, city, kind):
    settings, reports, dirt = city
    for source in KEYS:
        entries = [d for d in dirt if d["kind"] == kind and d["source"] == source]
        if not entries:
            continue
        table, key, to_key, _ = KEYS[source]
        keys = sorted({to_key(d["key"]) for d in entries})
        rows = [r[key] for r in lake.read(spark, settings, table).where(F.col(key).isin(keys)).collect()]
        assert len(rows) == len(set(rows)), f"{source}: a duplicated record appears more than once in {table}"
        assert rows, f"{source}: none of the duplicated records reached {table}"
        assert reports[source].collapsed >= 1


def test_late_records_land_in_their_own_day(spark, city):
    settings, _, dirt = city
    for source in ("ridehailing", "urban_cases"):
        silver = _silver(spark, settings, source)
        quarantined = _quarantined(spark, settings, source)
        for d in _entries(dirt, "late_arriving", source):
            drop_day = _drop_day(d["file"])
            row = silver.get(KEYS[source][2](d["key"]))
            if row is None:
                assert d["key"] in quarantined, f"late {source} record {d['key']} neither in silver nor quarantined"
                continue
            # the generator sent it ``-event_day_offset`` days late: its day is exactly that far back, not the drop's
            assert row.dt == drop_day + timedelta(days=d["detail"]["event_day_offset"]), (d, row.dt)


# Timestamps in a format the mappings also accept (yyyy/M/d H:mm, yyyyMMddHHmmss) are read.
REPAIRABLE = re.compile(r"^(\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}(:\d{2})?|\d{14})$")


def test_malformed_timestamps_are_repaired_or_quarantined_with_the_value(spark, city):
    settings, _, dirt = city
    for d in _entries(dirt, "malformed_timestamp"):
        quarantined = _quarantined(spark, settings, d["source"])
        measured = [q.measured_value for q in quarantined.get(d["key"], [])]
        assert d["detail"]["value"] in measured or REPAIRABLE.match(d["detail"]["value"]), d
        if not measured:  # repaired: the record is in silver, at the time the malformed text says
            row = _silver(spark, settings, d["source"]).get(KEYS[d["source"]][2](d["key"]))
            assert row is not None, d
            assert _typed_time(row, d) == _intended_time(d["detail"]["value"]), d


def _typed_time(row, d):
    """The silver value of the export column the generator malformed."""
    spec = all_sources()[d["source"]]
    bronze = next(b for b, aliases in spec.columns.items() if d["detail"]["column"] in aliases)
    field = next(f for f in spec.silver.fields if f.kind == "timestamp" and bronze in f.argument.split("|"))
    return row[field.name]


def _intended_time(value: str):
    """What a repairable rendering means, read by hand: a Shanghai local time (a date: its midnight) as UTC."""
    for fmt in ("%Y/%m/%d %H:%M", "%Y%m%d%H%M%S", "%Y/%m/%d", "%Y%m%d"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(value, fmt) - timedelta(hours=8)
    raise AssertionError(f"{value!r} is not a repairable rendering")


def test_malformed_timestamps_that_cannot_be_read_are_quarantined(spark, city):
    settings, _, dirt = city
    unreadable = [
        d for d in dirt if d["kind"] == "malformed_timestamp" and d["detail"]["value"] in ("N/A", "9999-99-99 25:61:00", "9999-99-99")
    ]
    assert unreadable, "the generator planted no unreadable timestamp"
    for d in unreadable:
        quarantined = _quarantined(spark, settings, d["source"])
        measured = [q.measured_value for q in quarantined.get(d["key"], [])]
        assert d["detail"]["value"] in measured, d


def test_coordinates_outside_the_city_are_never_used_as_they_are(spark, city):
    settings, _, dirt = city
    for d in _entries(dirt, "coordinates_outside_city"):
        silver = _silver(spark, settings, d["source"])
        row = silver.get(KEYS[d["source"]][2](d["key"]))
        if row is not None and row._source_file == d["file"].removeprefix("drops/"):
            assert row.location_method in ("point_swapped", "community"), (d, row.location_method)
        elif row is None:
            assert d["key"] in _quarantined(spark, settings, d["source"]), d


def test_missing_coordinates_with_a_community_are_placed_there(spark, city):
    settings, _, dirt = city
    silver = _silver(spark, settings, "hotline")
    for d in _entries(dirt, "coordinates_missing", "hotline"):
        row = silver.get(f"demo_12345:{d['key']}")
        assert row is not None, d
        if row._source_file == d["file"].removeprefix("drops/"):
            assert row.location_method == "community" and row.community_name == d["detail"]["社区"], (d, row)


def test_schema_change_keeps_the_fare_and_the_new_field(spark, city):
    settings, _, dirt = city
    (change,) = _entries(dirt, "schema_change", "ridehailing")
    file = change["file"].removeprefix("drops/")
    trips = lake.read(spark, settings, "silver.ride_trip").where(f"_source_file = '{file}' AND order_status = 'completed'").collect()
    assert trips and all(t.fare_yuan is not None and t.fare_yuan > 0 for t in trips)
    extra = lake.read(spark, settings, "bronze.ridehailing").where(f"_source_file = '{file}'").first()._extra
    assert "surge_multiplier" in json.loads(extra)


def test_gbk_file_is_read_as_chinese_text(spark, city):
    settings, _, dirt = city
    (gbk,) = _entries(dirt, "gbk_encoding", "hotline")
    file = gbk["file"].removeprefix("drops/")
    ledger = lake.read(spark, settings, "ops.ingest_ledger").where(f"file = '{file}'").first()
    assert ledger.encoding == "gb18030"
    complaints = lake.read(spark, settings, "silver.complaint").where(f"_source_file = '{file}'").collect()
    assert complaints and all("\ufffd" not in (c.content or "") for c in complaints)
    assert any("社区" in (c.community_name or "") for c in complaints)


def test_no_clear_personal_data_in_any_silver_table(spark, city):
    settings, _, dirt = city
    assert _entries(dirt, "pii_in_clear")
    for name in all_contracts():
        if not name.startswith("silver.") or not lake.exists(settings, name):
            continue
        for row in lake.read(spark, settings, name).collect():
            text = json.dumps(row.asDict(), default=str, ensure_ascii=False)
            assert privacy.find_clear_pii(text) == [], f"{name}: {text[:300]}"


def test_running_again_changes_no_table(spark, city):
    settings, _, _ = city
    tables = [n for n in all_contracts() if n.split(".")[0] in ("bronze", "silver", "quarantine", "ops") and lake.exists(settings, n)]
    tables = [n for n in tables if n != "ops.quality_results"]
    before = {n: lake.version(settings, n) for n in tables}
    for source in DEMO_SOURCES:
        assert ingest.run(spark, settings, source).files == []
        assert refine.refine(spark, settings, source).batches == []
    assert {n: lake.version(settings, n) for n in tables} == before
