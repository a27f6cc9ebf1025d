"""Contracts of the bronze tables: each source's raw fields as text plus ingest metadata.

Bronze keeps what the department sent, untyped, so nothing is lost before the silver
jobs parse it: every drop field becomes a ``string`` column, fields the mapping does
not know are kept as JSON in ``_extra``, and a record that could not be split into
fields keeps its raw text there with the reason in ``_parse_error``.
"""

from __future__ import annotations

from citybrain.schemas.contract import BY_DAY, Column, Contract
from citybrain.schemas.sources import SourceSpec, all_sources

INGEST_COLUMNS = (
    Column("dt", "date", False, "drop date: the day the department exported the file"),
    Column("_batch_id", "string", False, "ingest batch that wrote the row"),
    Column("_source_file", "string", False, "drop file, relative to the drops folder"),
    Column("_file_sha256", "string", False, "content checksum of the drop file"),
    Column("_source_row", "bigint", False, "record number within the file, from 1"),
    Column("_ingested_at", "timestamp", False, "when the row was written"),
    Column("_extra", "string", True, "JSON object of fields the mapping does not know; null when none"),
    Column("_parse_error", "string", True, "why the record could not be split into fields; null when it could"),
)


def bronze_contract(spec: SourceSpec) -> Contract:
    raw = tuple(
        Column(name, "string", True, f"raw field {' / '.join(aliases)}", spec.pii.get(name)) for name, aliases in spec.columns.items()
    )
    return Contract(
        name=f"bronze.{spec.name}",
        columns=raw + INGEST_COLUMNS,
        grain="one row per record of a department drop file (file x record number)",
        description=f"{spec.department}: {spec.description} Raw text, append-only.",
        owner="data-engineering",
        keys=("_file_sha256", "_source_row"),
        partition_by=BY_DAY if spec.partition_by_day else (),
    )


BRONZE_CONTRACTS = {f"bronze.{name}": bronze_contract(spec) for name, spec in all_sources().items()}
