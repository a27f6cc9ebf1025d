"""Contract of ``ops.quality_results``: every check the quality gate ran, as data.

One row per check per gate run: the rule, its level (``row`` for rules that send records
to quarantine, ``table`` for checks that stop a batch), the measured value beside the
threshold, and the counts behind them, so a failure explains itself in a query or a
dashboard. The volume check reads its own history from here (accepted rows per batch).
"""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract

QUALITY_RESULTS = Contract(
    name="ops.quality_results",
    columns=(
        # `table` is a reserved word in Spark SQL and DuckDB; the column is table_name.
        Column("table_name", "string", False, "table the batch was checked for, e.g. silver.complaint"),
        Column("batch_id", "string", False, "batch the check ran on"),
        Column("rule", "string", False, "rule or expectation name, e.g. closed_after_received, volume_within_band"),
        Column("level", "string", False, "row: failing records were quarantined; table: a failure stops the batch"),
        Column("success", "boolean", False, "whether the check passed"),
        Column("measured_value", "string", False, "what was measured, e.g. '3 of 1000 rows (0.30%)' or '10'"),
        Column("threshold", "string", False, "what the check allows, e.g. 'between 500 and 2000 rows'"),
        Column("unexpected_count", "bigint", True, "rows that broke the rule (null for table-shape checks)"),
        Column("element_count", "bigint", True, "rows checked (for the volume check: rows accepted)"),
        Column("details", "string", False, "reason, sample of offending values, or the error met"),
        Column("checked_at", "timestamp", False, "when the gate stored the result"),
    ),
    grain="one row per check per gate run (table x batch x rule x run)",
    description="Results of the quality gate: each row-level rule and table-level check with its measured value and threshold.",
    owner="data-engineering",
    keys=("table_name", "batch_id", "rule", "level", "checked_at"),
)
