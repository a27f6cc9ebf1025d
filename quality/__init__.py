"""The quality gate: row rules that quarantine records, table checks that stop a batch (see gate.py).

``citybrain.quality.gate`` is the module; the gate itself is ``citybrain.quality.gate.gate``
(not re-exported here, so the module name is never shadowed by the function).
"""

from citybrain.quality.gate import (
    CheckResult,
    GateOutcome,
    QualityGateFailed,
    count_row_failures,
    split_rows,
    store_results,
    validate,
)
from citybrain.quality.rules import (
    ColumnChecks,
    RowRule,
    TableRule,
    columns_match_contract,
    max_null_share,
    rules_from_contract,
    unique_key,
    volume_within_band,
)

__all__ = [
    "CheckResult",
    "ColumnChecks",
    "GateOutcome",
    "QualityGateFailed",
    "RowRule",
    "TableRule",
    "columns_match_contract",
    "count_row_failures",
    "max_null_share",
    "rules_from_contract",
    "split_rows",
    "store_results",
    "unique_key",
    "validate",
    "volume_within_band",
]
