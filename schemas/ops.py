"""Contracts of the operational tables the pipeline keeps about itself."""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract

INGEST_LEDGER = Contract(
    name="ops.ingest_ledger",
    columns=(
        Column("source", "string", False, "source name, e.g. hotline"),
        Column("file", "string", False, "drop file, relative to the drops folder"),
        Column("file_sha256", "string", False, "content checksum; a file whose checksum is here is not ingested again"),
        Column("file_bytes", "bigint", False),
        Column("drop_date", "date", False, "date in the file name (a rejected file without one: the day it was seen)"),
        Column("encoding", "string", False, "text encoding the file was read with"),
        Column("records", "bigint", False, "records read from the file (all written to bronze)"),
        Column("parse_errors", "bigint", False, "records kept with a _parse_error"),
        Column("unknown_fields", "string", True, "comma-separated fields the mapping does not know (kept in _extra)"),
        Column("missing_fields", "string", True, "comma-separated mapped fields absent from the file"),
        Column("duplicate_of", "string", True, "an earlier file with the same checksum: this copy added no rows"),
        Column("batch_id", "string", False),
        Column("ingested_at", "timestamp", False),
        Column(
            "rejected_reason",
            "string",
            True,
            "why the file was not taken in (a link, a directory, a pipe or device, no drop date, unreadable): "
            "it added no rows, and the other files of its run were taken in; null when it was taken in",
        ),
    ),
    grain="one row per drop file seen (file x checksum; a file rejected unread has an empty checksum)",
    description="Every drop file taken into bronze or rejected, with its checksum and what was found in it.",
    owner="data-engineering",
    keys=("file", "file_sha256"),
)

BATCH_AUDIT = Contract(
    name="ops.batch_audit",
    columns=(
        Column("batch_id", "string", False, "bronze batch that was refined"),
        Column("source", "string", False),
        Column("entity", "string", False, "silver entity it was refined into"),
        Column("refine_id", "string", False, "the refine run"),
        Column("records_in", "bigint", False, "bronze rows of the batch"),
        Column("drop_days", "int", False, "distinct drop dates in the batch (for volumes per day)"),
        Column("accepted", "bigint", False, "rows that became the current version of a silver row"),
        Column("quarantined", "bigint", False, "rows refused, in quarantine.<entity> with the reason"),
        Column("collapsed", "bigint", False, "valid rows superseded by a later version or an identical copy"),
        Column("balanced", "boolean", False, "records_in = accepted + quarantined + collapsed"),
        Column("refined_at", "timestamp", False),
    ),
    grain="one row per bronze batch per silver entity",
    description="Reconciliation: every bronze record is accounted for as accepted, quarantined or collapsed.",
    owner="data-engineering",
    keys=("batch_id", "entity"),
)

MAINTENANCE = Contract(
    name="ops.maintenance",
    columns=(
        Column("table", "string", False, "the table compacted and vacuumed"),
        Column("files_before", "bigint", False, "data files its current version read before the compaction"),
        Column("files_after", "bigint", False, "data files its current version reads after it"),
        Column("bytes_before", "bigint", False),
        Column("bytes_after", "bigint", False),
        Column("files_deleted", "bigint", False, "files no version younger than the retention referenced, deleted"),
        Column("seconds", "double", False),
        Column("error", "string", True, "why this table was not maintained (the others were); null when it was"),
        Column("maintained_at", "timestamp", False),
    ),
    grain="one row per table per maintenance run",
    description="Weekly lake maintenance (jobs/maintenance.py): file counts before and after compaction, files vacuumed.",
    owner="data-engineering",
    keys=("table", "maintained_at"),
)

RUN_EVENTS = Contract(
    name="ops.run_events",
    columns=(
        Column("event_id", "string", False, "unique id of the event"),
        Column("event", "string", False, "what happened: task_failed"),
        Column("dag_id", "string", False),
        Column("task_id", "string", True, "the task, when the event is a task's"),
        Column("run_id", "string", True, "the DAG run"),
        Column("try_number", "int", True, "the task's try that failed"),
        Column("logical_date", "timestamp", True, "the run's logical date"),
        Column("error", "string", True, "the exception's type and first line"),
        Column("webhook", "string", True, "what the alert webhook answered (empty when none is set)"),
        Column("occurred_at", "timestamp", False),
    ),
    grain="one row per failed task try (Airflow's failure callback)",
    description="Failures of the pipeline's runs, for on-call: which DAG, task, try and error, and whether the alert went out.",
    owner="data-engineering",
    keys=("event_id",),
)

GOLD_BUILDS = Contract(
    name="ops.gold_builds",
    columns=(
        Column("table", "string", False, "the gold table built, e.g. gold.ride_hailing_demand"),
        Column("mode", "string", False, "full (the whole table rewritten) or incremental (only the days in days_from..days_to)"),
        Column("reason", "string", True, "why the build was full (first build, changed parameters, --full, ...); null when incremental"),
        Column(
            "fingerprint", "string", False, "hash of the job's parameters, its contract and its build rules: another one means a full build"
        ),
        Column("gold_version", "bigint", False, "the gold table's Delta version this build left"),
        Column(
            "inputs", "string", False, "JSON {silver table: {id, version}}: what the build read; the next one recomputes what changed since"
        ),
        Column("state", "string", True, "JSON of what the job keeps between builds (e.g. how far a silver day reaches into gold days)"),
        Column("days_from", "date", True, "first gold day recomputed by an incremental build"),
        Column("days_to", "date", True, "last gold day recomputed by an incremental build"),
        Column("rows", "bigint", False, "rows written"),
        Column("built_at", "timestamp", False),
    ),
    grain="one row per gold build (of the tables built incrementally)",
    description="The watermark of incremental gold builds: which silver versions a gold table was built from, and how.",
    owner="data-engineering",
    keys=("table", "built_at"),
)

OPS_CONTRACTS = {c.name: c for c in (INGEST_LEDGER, BATCH_AUDIT, MAINTENANCE, RUN_EVENTS, GOLD_BUILDS)}
