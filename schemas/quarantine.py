"""Contracts of the quarantine tables: records a silver job refused, with the reason.

Nothing is dropped: a record that fails a row-level rule lands in ``quarantine.<entity>``
with its bronze record (as JSON), the rule it broke, the measured value and the batch, so
it can be explained, fixed at the source and replayed. The record's personal data is
masked, tokenised or scrubbed as in silver (``refine.private_raw_columns``; a scrubbed text
is trimmed, as silver holds it); the clear record stays only in bronze, restricted to data
engineers, where the file and row point.
"""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract
from citybrain.schemas.silver import ENTITIES

QUARANTINE_COLUMNS = (
    Column(
        "record",
        "string",
        False,
        "the bronze record as a JSON object, its personal data masked, tokenised or scrubbed as in silver",
        "record",
    ),
    Column("rule", "string", False, "name of the rule the record broke, e.g. coordinates_in_city"),
    Column("reason", "string", False, "what was wrong, in words"),
    Column("measured_value", "string", True, "the offending value as found"),
    Column("source_file", "string", True, "drop file the record came from"),
    Column("source_row", "bigint", True, "record number within that file"),
    Column("batch_id", "string", False, "refine batch that refused the record"),
    Column("quarantined_at", "timestamp", False),
    Column("dt", "date", False, "drop date of the record's file"),
)


def quarantine_contract(entity: str) -> Contract:
    return Contract(
        name=f"quarantine.{entity}",
        columns=QUARANTINE_COLUMNS,
        grain="one row per refused record per rule it broke first",
        description=f"Records refused on their way to silver.{entity}, with the rule and the reason.",
        owner="data-engineering",
        keys=("source_file", "source_row", "rule"),
    )


QUARANTINE_CONTRACTS = {f"quarantine.{e}": quarantine_contract(e) for e in ENTITIES}
