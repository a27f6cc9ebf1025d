"""validate: the GX suite on a Spark Connect DataFrame reports measured values beside thresholds."""

from __future__ import annotations

from pyspark.sql import functions as F
from quality_samples import CHECKS, CONTRACT, row

from citybrain.quality.gate import validate
from citybrain.quality.rules import max_null_share, rules_from_contract


def _by_rule(results):
    return {r.rule: r for r in results}


def test_planted_null_duplicate_key_and_unknown_value_are_caught(complaints):
    df = complaints(
        [
            row("c1"),
            row("c2", district=None),  # null in a non-null column
            row("c3", district="north"),  # outside the allowed set
            row("c3"),  # duplicated key
        ]
    ).drop("_source_file", "_source_row")
    _, expectations = rules_from_contract(CONTRACT, CHECKS)
    results = _by_rule(validate(df, CONTRACT, expectations=expectations, table_name=CONTRACT.name, batch_id="b-1"))

    null = results["district_not_null"]
    assert (null.success, null.level, null.unexpected_count, null.element_count) == (False, "table", 1, 4)
    assert (null.measured_value, null.threshold) == ("1 of 4 rows (25.00%)", "no nulls")

    key = results["key_unique"]
    assert not key.success and key.unexpected_count == 2
    assert key.measured_value == "2 of 4 rows (50.00%)"
    assert key.threshold == "no duplicated (complaint_id) in the batch"
    assert "c3" in key.details

    allowed = results["district_allowed_values"]
    assert not allowed.success and allowed.unexpected_count == 1
    assert allowed.threshold == "in {east, west}" and "north" in allowed.details

    for passing in ("complaint_id_not_null", "satisfaction_in_range", "columns_match_contract", "received_at_type"):
        assert results[passing].success, results[passing]
    assert all(r.table == CONTRACT.name and r.batch_id == "b-1" for r in results.values())


def test_clean_batch_passes_every_check(complaints):
    df = complaints([row("c1"), row("c2", district="west", closed=None, satisfaction=None)]).drop("_source_file", "_source_row")
    _, expectations = rules_from_contract(CONTRACT, CHECKS)
    results = validate(df, CONTRACT, expectations=expectations, table_name=CONTRACT.name, batch_id="b-2")
    assert results and all(r.success for r in results), [r.describe() for r in results if not r.success]


def test_schema_drift_names_missing_extra_and_retyped_columns(complaints):
    df = (
        complaints([row("c1")])
        .drop("_source_file", "_source_row", "closed_at")
        .withColumnRenamed("satisfaction", "score")
        .withColumn("district", F.lit(1))
    )
    results = _by_rule(validate(df, CONTRACT, table_name=CONTRACT.name, batch_id="b-3"))
    drift = results["columns_match_contract"]
    assert not drift.success
    assert drift.measured_value == "missing closed_at, satisfaction; extra score"
    district_type = results["district_type"]
    assert not district_type.success
    assert (district_type.measured_value, district_type.threshold) == ("IntegerType", "string (StringType)")


def test_null_share_reports_the_share_beside_the_limit(complaints, spark):
    df = complaints([row("c1", closed=None), row("c2", closed=None), row("c3"), row("c4")]).drop("_source_file", "_source_row")
    [rule] = max_null_share("closed_at", 0.25).expectations(None)
    results = _by_rule(validate(df, None, expectations=[rule], table_name=CONTRACT.name, batch_id="b-4"))
    share = results["closed_at_null_share"]
    assert not share.success
    assert (share.measured_value, share.threshold) == ("2 of 4 rows (50.00%)", "null share <= 25.00%")


def test_an_expectation_that_cannot_run_fails_with_the_error(complaints):
    import great_expectations as gx

    df = complaints([row("c1")])
    broken = gx.expectations.ExpectColumnValuesToBeInSet(column="nope", value_set=["x"])
    [result] = validate(df, None, expectations=[broken], table_name=CONTRACT.name, batch_id="b-5")
    assert result.rule == "nope:column_values_to_be_in_set"
    assert not result.success and result.measured_value == "not measured (error)"
    assert 'column "nope"' in result.details and "value_set" in result.threshold
