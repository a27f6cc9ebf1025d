"""split_rows: each bad row goes to quarantine once, with the first rule it broke; good rows pass unchanged."""

from __future__ import annotations

import datetime as dt
import json
import re

from quality_samples import CHECKS, CLOSED_AFTER_RECEIVED, CONTRACT, DAY, row, ts

from citybrain.quality.gate import count_row_failures, split_rows
from citybrain.quality.rules import RowRule, rules_from_contract
from citybrain.schemas.quarantine import quarantine_contract

NOW = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)


def _rules():
    contract_rules, _ = rules_from_contract(CONTRACT, CHECKS)
    return [*contract_rules, CLOSED_AFTER_RECEIVED]


def test_bad_rows_go_to_quarantine_once_with_the_first_rule_they_broke(complaints):
    rows = [
        row("c1", source_row=1),
        row("c2", received=None, closed=None, source_row=2),  # received_at missing
        row("c3", closed=ts(8), source_row=3),  # closed before received
        row("c4", district="north", closed=ts(8), satisfaction=9, source_row=4),  # three rules broken
        row("c5", closed=None, satisfaction=None, source_row=5),  # nullable columns may be null
    ]
    df = complaints(rows)
    valid, quarantine = split_rows(df, _rules(), batch_id="b-1", now=NOW)

    assert valid.columns == df.columns
    assert sorted(tuple(r) for r in valid.collect()) == sorted(tuple(r) for r in df.collect() if r[0] in {"c1", "c5"})

    got = {json.loads(r["record"])["complaint_id"]: r for r in quarantine.collect()}
    assert sorted(got) == ["c2", "c3", "c4"]  # each once
    assert valid.count() + quarantine.count() == df.count()
    assert got["c2"]["rule"] == "received_at_not_null" and got["c2"]["measured_value"] == "NULL"
    assert got["c3"]["rule"] == "closed_after_received"
    assert got["c3"]["reason"] == "closed before it was received"
    assert re.fullmatch(r"2026-03-02 \d\d:00:00 -> 2026-03-02 \d\d:00:00", got["c3"]["measured_value"])
    assert got["c4"]["rule"] == "district_allowed_values"  # first of the three it broke
    assert got["c4"]["measured_value"] == "north"
    assert "east, west" in got["c4"]["reason"]
    for cid, r in got.items():
        assert (r["source_file"], r["batch_id"], r["dt"]) == ("hotline/2026-03-02.csv", "b-1", DAY)
        assert r["source_row"] == int(cid[1:])
        assert r["quarantined_at"] is not None
    assert json.loads(got["c4"]["record"])["satisfaction"] == 9
    quarantine_contract("complaint").check(quarantine)  # exactly the quarantine columns and types


def test_failure_counts_per_rule_in_one_query(complaints):
    df = complaints(
        [
            row("c1"),
            row("c2", district="north", closed=ts(8), satisfaction=9),
            row("c3", closed=ts(8)),
        ]
    )
    results = {r.rule: r for r in count_row_failures(df, _rules(), table="silver.qtest_complaint", batch_id="b-1")}
    closed = results["closed_after_received"]
    assert (closed.level, closed.success, closed.unexpected_count, closed.element_count) == ("row", False, 2, 3)
    assert closed.measured_value == "2 of 3 rows (66.67%)"
    assert "1 row(s) quarantined under this rule" in closed.details  # c2 went under district first
    assert results["satisfaction_in_range"].unexpected_count == 1
    assert results["complaint_id_not_null"].success and results["complaint_id_not_null"].unexpected_count == 0


def test_null_counts_as_a_failure_unless_the_rule_handles_it(complaints):
    df = complaints([row("c1", satisfaction=None), row("c2", satisfaction=3), row("c3", satisfaction=0)])
    strict = RowRule("satisfaction_scored", "satisfaction BETWEEN 1 AND 5", "no valid score", "cast(satisfaction as string)")
    lenient = RowRule(
        "satisfaction_in_scale",
        "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
        "score off the scale",
        "cast(satisfaction as string)",
    )

    valid, quarantine = split_rows(df, [strict], batch_id="b", now=NOW)
    assert sorted(r["complaint_id"] for r in valid.collect()) == ["c2"]
    assert sorted((r["measured_value"] or "<null>") for r in quarantine.collect()) == ["0", "<null>"]

    valid, quarantine = split_rows(df, [lenient], batch_id="b", now=NOW)
    assert sorted(r["complaint_id"] for r in valid.collect()) == ["c1", "c2"]
    assert [r["measured_value"] for r in quarantine.collect()] == ["0"]


def test_without_lineage_or_dt_the_batch_date_is_used(spark):
    df = spark.createDataFrame([("a", None), ("b", 2)], "k string, v int")
    rule = RowRule("v_present", "v IS NOT NULL", "v is missing", "'NULL'")
    valid, quarantine = split_rows(df, [rule], batch_id="b-9", now=NOW)
    [q] = quarantine.collect()
    assert (q["source_file"], q["source_row"], q["dt"], q["rule"]) == (None, None, NOW.date(), "v_present")
    assert json.loads(q["record"]) == {"k": "a"} or json.loads(q["record"]) == {"k": "a", "v": None}
    assert [tuple(r) for r in valid.collect()] == [("b", 2)]


def test_no_rules_keeps_every_row(complaints):
    df = complaints([row("c1"), row("c2")])
    valid, quarantine = split_rows(df, [], batch_id="b", now=NOW)
    assert valid.count() == 2 and quarantine.count() == 0
    assert quarantine.columns == [c.name for c in quarantine_contract("complaint").columns]
