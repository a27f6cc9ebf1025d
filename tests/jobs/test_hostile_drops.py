"""The hostile-drop suite: files broken the ways real exports break go through the real ingest
and refine, and each ends as citybrain/democity/hostile.py says it must, counted from the tables.

Every count is read from its own table (bronze, silver, quarantine, the ledger), per file,
and compared with the outcome stated by hand for that kind. A few kinds are also checked
by value: the text that survives an encoding accident is the clean file's text.
"""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.democity.hostile import SOURCES, Outcome, build_city, format_table
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas.sources import all_sources

pytestmark = pytest.mark.slow

SILVER = {s: f"silver.{all_sources()[s].silver.entity}" for s in SOURCES}


def _per_file(df, column: str) -> dict[str, int]:
    return {r[0]: r[1] for r in df.groupBy(column).agg(F.countDistinct("_row_id")).collect()}


@pytest.fixture(scope="module")
def suite(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    demo_dir, cases = build_city(root, progress=lambda _: None)
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=demo_dir)
    reports = {s: ingest.run(spark, own, s) for s in ("registry", *SOURCES)}
    refines = {s: refine.refine(spark, own, s) for s in ("registry", *SOURCES)}

    records, accepted, quarantined = {}, {}, {}
    for source in SOURCES:
        bronze = lake.read(spark, own, f"bronze.{source}").withColumn("_row_id", F.concat_ws("#", "_source_file", "_source_row"))
        records |= _per_file(bronze, "_source_file")
        silver = lake.read(spark, own, SILVER[source]).withColumn("_row_id", F.concat_ws("#", "_source_file", "_source_row"))
        accepted |= _per_file(silver, "_source_file")
        quarantine = lake.read(spark, own, f"quarantine.{all_sources()[source].silver.entity}")
        quarantined |= _per_file(quarantine.withColumn("_row_id", F.col("source_row")), "source_file")
    ledger = {r.file: r for r in lake.read(spark, own, "ops.ingest_ledger").collect()}
    measured = {
        c.kind: Outcome(
            records.get(c.file, 0),
            accepted.get(c.file, 0),
            quarantined.get(c.file, 0),
            records.get(c.file, 0) - accepted.get(c.file, 0) - quarantined.get(c.file, 0),
            bool(ledger.get(c.file) and ledger[c.file].rejected_reason),
        )
        for c in cases
    }
    print("\n" + format_table(cases, measured))
    return own, cases, measured, ledger, reports, refines


def test_the_suite_states_a_balanced_outcome_for_every_kind():
    from citybrain.democity.hostile import hostile_cases

    cases = hostile_cases()
    assert len(cases) >= 40 and {c.source for c in cases} == set(SOURCES)
    for c in cases:
        e = c.expected
        assert e.records == e.accepted + e.quarantined + e.collapsed, c.kind
        assert not e.rejected or e.records == 0, c.kind


def test_every_hostile_file_ends_as_stated(suite):
    _, cases, measured, *_ = suite
    wrong = {c.kind: (c.expected, measured[c.kind]) for c in cases if measured[c.kind] != c.expected}
    assert not wrong, "\n".join(f"{kind}: expected {e}, measured {m}" for kind, (e, m) in wrong.items())


def test_the_ledger_counts_what_bronze_holds_and_every_batch_balances(suite, spark):
    own, cases, measured, ledger, _, refines = suite
    for c in cases:
        if not c.expected.rejected:
            assert ledger[c.file].records == measured[c.kind].records, c.kind
    assert all(r.balanced for r in lake.read(spark, own, "ops.batch_audit").collect())
    for source in SOURCES:
        report = refines[source]
        assert report.records_in == sum(measured[c.kind].records for c in cases if c.source == source)
        assert report.collapsed == sum(c.expected.collapsed for c in cases if c.source == source)


def test_rejected_files_are_named_with_their_reason_and_do_not_block_the_others(suite):
    _, cases, _, ledger, reports, _ = suite
    reasons = {c.kind: ledger[c.file].rejected_reason for c in cases if c.expected.rejected}
    assert "cannot find the drop date" in reasons["name_without_date"]
    assert "is not a date" in reasons["name_with_impossible_date"]
    assert "directory" in reasons["directory"]
    assert "link" in reasons["symbolic_link"]
    summary = reports["hotline"].summary()
    assert "REJECTED 4 file(s)" in summary and "hotline/hotline_latest.csv" in summary
    assert max(len(name) for name in summary.split("_extra: ")[1].split(";")[0].split(", ")) <= 41  # the binary file's "header" cut short


def _contents(spark, settings, case) -> list[str]:
    rows = lake.read(spark, settings, "silver.complaint").where(F.col("_source_file") == case.file)
    return [r.content for r in rows.orderBy("_source_row").collect()]


def test_text_survives_every_encoding_accident_unchanged(suite, spark):
    own, cases, *_ = suite
    by_kind = {c.kind: c for c in cases}
    clean = _contents(spark, own, by_kind["clean_csv"])
    assert len(clean) == 6 and all(clean)
    for kind in ("bom_and_crlf", "gbk_file", "gbk_row_in_utf8", "utf16_file", "reordered_columns"):
        assert _contents(spark, own, by_kind[kind]) == clean, kind


def test_repeats_and_unknown_columns_are_kept_in_extra(suite, spark):
    own, cases, _, ledger, *_ = suite
    by_kind = {c.kind: c for c in cases}
    dup = by_kind["duplicated_header"]
    extra = [json.loads(r._extra) for r in lake.read(spark, own, "bronze.hotline").where(F.col("_source_file") == dup.file).collect()]
    assert sorted(e["诉求内容__2"] for e in extra) == [f"补充说明{i}" for i in range(6)]
    assert "诉求内容__2" in ledger[dup.file].unknown_fields
    assert "处置等级" in ledger[by_kind["unknown_column"].file].unknown_fields


def test_each_refused_record_names_the_rule_it_broke(suite, spark):
    own, cases, *_ = suite
    expected_rule = {
        "future_version": "updated_at_not_in_future",
        "before_2000": "received_at_not_before_2000",
        "unreadable_time": "received_at_present",
        "key_column_renamed": "ticket_no_present",
        "unclosed_quote": "record_parsed",
        "oversized_field": "record_parsed",
        "json_oversized_field": "record_parsed",
        "json_wrong_types": "severity_readable",
        "jsonl_unreadable_seq": "event_seq_present",
    }
    by_kind = {c.kind: c for c in cases}
    for kind, rule in expected_rule.items():
        case = by_kind[kind]
        table = f"quarantine.{all_sources()[case.source].silver.entity}"
        rules = {r.rule for r in lake.read(spark, own, table).where(F.col("source_file") == case.file).collect()}
        assert rules == {rule}, kind


def test_a_point_outside_the_city_is_placed_by_its_community(suite, spark):
    own, cases, *_ = suite
    case = next(c for c in cases if c.kind == "point_outside_city")
    rows = lake.read(spark, own, "silver.complaint").where(F.col("_source_file") == case.file).orderBy("_source_row").collect()
    assert [r.location_method for r in rows] == ["point", "point", "community", "point", "point", "point"]
    assert rows[2].community_code is not None and "outside" in (rows[2].location_issue or "")
