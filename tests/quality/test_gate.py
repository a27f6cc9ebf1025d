"""gate: quarantine, validate, store every result, stop the batch on a failed table check."""

from __future__ import annotations

import pytest
from quality_samples import CHECKS, CLOSED_AFTER_RECEIVED, CONTRACT, row, ts

from citybrain import lake
from citybrain.quality.gate import QualityGateFailed, gate
from citybrain.quality.rules import rules_from_contract, volume_within_band

TABLE = CONTRACT.name


def _batch(spark, n: int):
    """n clean rows of the test table."""
    return spark.range(n).selectExpr(
        "concat('c', cast(id as string)) AS complaint_id",
        "CASE WHEN id % 2 = 0 THEN 'east' ELSE 'west' END AS district",
        "TIMESTAMP '2026-03-02 09:00:00' AS received_at",
        "CAST(NULL AS timestamp) AS closed_at",
        "CAST(3 AS int) AS satisfaction",
        "DATE '2026-03-02' AS dt",
    )


def _run(spark, settings, df, batch_id, **kw):
    row_rules, expectations = rules_from_contract(CONTRACT, CHECKS)
    return gate(
        spark,
        settings,
        table=TABLE,
        df=df,
        batch_id=batch_id,
        row_rules=[*row_rules, CLOSED_AFTER_RECEIVED],
        table_rules=[volume_within_band(0.5, 2.0)],
        expectations=expectations,
        contract=CONTRACT,
        **kw,
    )


def test_gate_quarantines_bad_rows_and_stores_every_result(spark, lake_settings, complaints):
    df = complaints([row("c1", source_row=1), row("c2", closed=ts(8), source_row=2), row("c3", district="north", source_row=3)])
    outcome = _run(spark, lake_settings, df, "b-1")

    assert sorted(r["complaint_id"] for r in outcome.valid_df.collect()) == ["c1"]
    assert sorted(r["rule"] for r in outcome.quarantine_df.collect()) == ["closed_after_received", "district_allowed_values"]

    stored = lake.read(spark, lake_settings, "ops.quality_results").where("batch_id = 'b-1'").collect()
    assert len(stored) == len(outcome.results)
    by_rule = {(r["rule"], r["level"]): r for r in stored}
    closed = by_rule[("closed_after_received", "row")]
    assert (closed["success"], closed["measured_value"], closed["unexpected_count"], closed["element_count"]) == (
        False,
        "1 of 3 rows (33.33%)",
        1,
        3,
    )
    assert closed["table_name"] == TABLE and closed["checked_at"] is not None
    volume = by_rule[("volume_within_band", "table")]
    assert volume["success"] and volume["element_count"] == 1  # accepted rows, the start of the history
    assert volume["threshold"].startswith("any count (no earlier batches")
    # the table checks ran on the accepted rows only
    assert by_rule[("district_allowed_values", "table")]["success"]


def test_volume_collapse_stops_the_batch_after_storing_its_results(spark, lake_settings):
    for batch_id, n in (("b-1", 900), ("b-2", 1100)):
        _run(spark, lake_settings, _batch(spark, n), batch_id)

    with pytest.raises(QualityGateFailed) as failed:
        _run(spark, lake_settings, _batch(spark, 10), "b-3")

    message = str(failed.value)
    assert TABLE in message and "b-3" in message
    assert "volume_within_band: measured 10; threshold between 500 and 2000 rows" in message
    assert "trailing average 1,000 of 2 earlier batches" in message
    assert [f.rule for f in failed.value.failures] == ["volume_within_band"]

    stored = lake.read(spark, lake_settings, "ops.quality_results").where("batch_id = 'b-3' AND rule = 'volume_within_band'").collect()
    assert [(r["success"], r["measured_value"], r["element_count"]) for r in stored] == [(False, "10", 10)]

    # a failed batch does not enter the history: the next normal batch is compared with 900 and 1100
    outcome = _run(spark, lake_settings, _batch(spark, 1000), "b-4")
    volume = next(r for r in outcome.results if r.rule == "volume_within_band")
    assert volume.success and "of 2 earlier batches" in volume.threshold


def test_volume_band_passes_without_history(spark, lake_settings):
    outcome = _run(spark, lake_settings, _batch(spark, 10), "only")
    volume = next(r for r in outcome.results if r.rule == "volume_within_band")
    assert volume.success and volume.measured_value == "10"


def test_a_volume_surge_stops_the_batch_and_quotes_the_band(spark, lake_settings):
    """The band's upper side: 2,500 rows against a trailing 1,000 (band 500-2,000) stops the batch."""
    for batch_id, n in (("b-1", 900), ("b-2", 1100)):
        _run(spark, lake_settings, _batch(spark, n), batch_id)
    with pytest.raises(QualityGateFailed) as failed:
        _run(spark, lake_settings, _batch(spark, 2500), "b-3")
    assert "volume_within_band: measured 2500; threshold between 500 and 2000 rows" in str(failed.value)
    # the edge of the band passes
    assert next(r for r in _run(spark, lake_settings, _batch(spark, 2000), "b-4").results if r.rule == "volume_within_band").success
