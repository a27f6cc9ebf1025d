"""Refine a source's new bronze batches into its silver entity, accounting for every record.

extract   the bronze batches of ``source`` that ``ops.batch_audit`` has not seen yet
transform type every field by the source mapping (schemas/sources/<source>.toml), tokenise
          personal data, locate each record on the grid, split off the rows that break a
          rule (quarantine.<entity>, with the reason), keep the latest version per key
load      MERGE into silver.<entity> (a late, older version never overwrites a newer one),
          append every version to the entity's history table, record the reconciliation
          records in = accepted + quarantined + collapsed per batch, and fail if it does not hold.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from citybrain import lake, locks, privacy
from citybrain.jobs.silver import geo, urban_case
from citybrain.jobs.silver.audit import (
    ReconciliationError,
    RefineReport,
    check_daily_volume,
    check_loaded_once,
    days_sql,
    pending_batches,
    reconcile,
    take_inventory,
    write_audit,
)
from citybrain.jobs.silver.mapping import explain_failure, field_column, text_sql
from citybrain.quality.gate import count_row_failures, first_failed, flag_rows, gate, split_rows
from citybrain.quality.rules import RowRule, unique_key
from citybrain.schemas import get_contract
from citybrain.schemas.mapping import SilverMapping
from citybrain.schemas.sources import SourceSpec, get_source
from citybrain.settings import Settings

log = logging.getLogger(__name__)
#: a version or partition time may be this far in the future (clocks differ), and no earlier than this year
FUTURE_TOLERANCE_HOURS = 24
EARLIEST_YEAR = 2000
#: what an ``id:`` field may hold (schemas/mapping.py)
IDENTIFIER_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$"


#: prefix of the bronze columns ``typed(keep_raw=True)`` carries for the quarantine record
RAW_PREFIX = "_bronze_"


def typed(bronze: DataFrame, spec: SourceSpec, key: str, *, keep_raw: bool = False) -> DataFrame:
    """Bronze text -> the mapping's typed fields, plus lineage, the original record and raw values for messages.

    ``keep_raw`` keeps the bronze columns (``RAW_PREFIX``) instead of the record, for a caller
    that builds the record with ``with_record`` only for the rows that need it.
    """
    mapping = spec.silver
    raw_for_messages = {
        f.name: F.col(f.bronze_column) for f in mapping.fields if f.kind in ("timestamp", "double", "int") and f.bronze_column
    }
    rows = bronze.select(
        *(field_column(f, mapping, key).alias(f.name) for f in mapping.fields),
        *(col.alias(f"_raw_{name}") for name, col in raw_for_messages.items()),
        "_batch_id",
        "_source_file",
        "_source_row",
        "_parse_error",
        "dt",
        *(F.col(c).alias(f"{RAW_PREFIX}{c}") for c in (*spec.columns, "_extra")),
    )
    return rows if keep_raw else with_record(rows, spec, key)


def with_record(rows: DataFrame, spec: SourceSpec, key: str, *, only_where=None) -> DataFrame:
    """``rows`` (from ``typed(keep_raw=True)``) with ``_record``, the bronze record as quarantine keeps it,
    in place of the bronze columns; null where ``only_where`` is false (it is computed for those rows only)."""
    record = F.to_json(F.struct(*private_raw_columns(spec, key, prefix=RAW_PREFIX), "_batch_id"))
    if only_where is not None:
        record = F.when(only_where, record)
    return rows.withColumn("_record", record).drop(*(f"{RAW_PREFIX}{c}" for c in (*spec.columns, "_extra")))


def private_raw_columns(spec: SourceSpec, key: str, *, prefix: str = "") -> list:
    """The bronze record as a quarantine row keeps it: personal data masked, tokenised or scrubbed.

    Phones and names are masked as in silver, ID, licence and plate numbers become their
    token (``token:<hex>``, the same as silver's, so a refused record can be matched to its
    person without revealing them), addresses, labels, free text and unknown fields
    (``_extra``) are scrubbed. The clear record stays in bronze (restricted), which
    ``_source_file`` and ``_source_row`` point to for a replay. ``prefix``: the bronze
    columns are named ``<prefix><column>`` in the frame.

    The frame also holds the silver fields (``typed``): a column that a field of the same
    privacy kind reads alone is taken from that field instead of computed again (a scrubbed
    text then comes trimmed, as silver holds it). The engine prepares some ten regular
    expressions for each scrub in every query that holds one: taking three of the calendar's
    four from its fields brought its staged batch from 68-75 ms to 47-49 ms (BENCHMARKS.md).
    """
    scrubbed = {c for f in spec.silver.fields if f.kind in ("text", "scrub") for c in f.argument.split("|")}
    fields = _fields_by_column(spec)
    columns = []
    for name in spec.columns:
        kind = spec.pii.get(name)
        source = f"{prefix}{name}"
        if kind == "phone":
            private, same_kinds = privacy.mask_phone(source), ("mask_phone",)
        elif kind == "name":
            private, same_kinds = privacy.mask_name(source), ("mask_name",)
        elif kind in ("id_number", "licence", "plate"):
            private, same_kinds = F.concat(F.lit("token:"), privacy.token(source, key)), ("token",)
        elif kind == "address" or name in scrubbed:
            private, same_kinds = privacy.scrub_text(source), ("text", "scrub")
        else:
            private, same_kinds = F.col(source), ()
        field = next((fields[name][k] for k in same_kinds if k in fields.get(name, {})), None)
        if field is not None:
            private = F.concat(F.lit("token:"), F.col(field)) if "token" in same_kinds else F.col(field)
        columns.append(private.alias(name))
    return [*columns, privacy.scrub_text(f"{prefix}_extra").alias("_extra")]


def _fields_by_column(spec: SourceSpec) -> dict[str, dict[str, str]]:
    """Per bronze column, the silver fields that read it alone with a privacy kind: {kind: field}."""
    found: dict[str, dict[str, str]] = {}
    for f in spec.silver.fields:
        if f.kind in ("text", "scrub", "token", "mask_phone", "mask_name") and "|" not in f.argument:
            found.setdefault(f.argument, {})[f.kind] = f.name
    return found


def row_rules(spec: SourceSpec) -> list[RowRule]:
    """Rules every record must meet, in the order they are checked (the first broken one is reported)."""
    mapping: SilverMapping = spec.silver
    rules = [RowRule("record_parsed", "_parse_error IS NULL", "the record could not be split into fields", "_parse_error")]
    for name in mapping.required:
        f = mapping.field(name)
        measured = f"coalesce(`_raw_{name}`, '<empty>')" if f.kind in ("timestamp", "double", "int") else f"'<{name}>'"
        rules.append(RowRule(f"{name}_present", f"`{name}` IS NOT NULL", f"{name} is missing or unreadable", measured))
    located = set(mapping.locate.values())
    for f in mapping.fields:
        if f.kind in ("timestamp", "double", "int") and f.name not in mapping.required and f.name not in located:
            rules.append(
                RowRule(
                    f"{f.name}_readable",
                    f"{text_sql(f'_raw_{f.name}')} IS NULL OR `{f.name}` IS NOT NULL",
                    f"{f.name} is not a readable {f.kind}",
                    f"`_raw_{f.name}`",
                )
            )
    for f in mapping.fields:
        if f.kind == "id":
            rules.append(
                RowRule(
                    f"{f.name}_is_identifier",
                    f"`{f.name}` IS NULL OR `{f.name}` RLIKE '{IDENTIFIER_PATTERN}'",
                    f"{f.name} is not an identifier (letters, digits and _.:/- only, at most 64 characters)",
                    f"concat(length(`{f.name}`), ' characters')",  # not the value: it may be anything
                )
            )
    for rule in mapping.rules:
        rules.append(RowRule(rule["name"], rule["valid_when"], rule["reason"], rule["measured"]))
    # a time that orders versions or picks the partition must be plausible: a version stamped in
    # the future would never be replaced by the real later update
    for t in dict.fromkeys(c for c in (mapping.partition_time, mapping.version) if c):
        measured = f"cast(`{t}` as string)"
        tolerance = f"INTERVAL {FUTURE_TOLERANCE_HOURS} HOURS"
        rules.append(RowRule(f"{t}_not_in_future", f"`{t}` <= current_timestamp() + {tolerance}", f"{t} is in the future", measured))
        rules.append(
            RowRule(
                f"{t}_not_before_{EARLIEST_YEAR}",
                f"`{t}` >= TIMESTAMP '{EARLIEST_YEAR}-01-01 00:00:00'",
                f"{t} is before {EARLIEST_YEAR}",
                measured,
            )
        )
    if mapping.locate:
        rules.append(
            RowRule("located", "location_method IS NOT NULL", "the record could not be placed on the city's grid", "location_issue")
        )
    return rules


def partition_date(mapping: SilverMapping):
    """A record's day: its partition time's date in the source's own time zone (a call at 00:30 in
    Shanghai is 16:30 UTC the day before, and belongs to the later day), else its drop date."""
    if not mapping.partition_time:
        return F.col("dt")
    return F.to_date(F.from_utc_timestamp(F.col(mapping.partition_time), mapping.timezone))


def latest_versions(df: DataFrame, mapping: SilverMapping) -> DataFrame:
    """One row per key: the latest version (ties: the later file and record)."""
    return with_version_rank(df, mapping).where("_rank = 1").drop("_rank")


def with_version_rank(df: DataFrame, mapping: SilverMapping, *, among=()) -> DataFrame:
    """``df`` with ``_rank``: 1 for a key's latest version (ties: the later file and record),
    counted separately within each value of the ``among`` columns."""
    order = Window.partitionBy(*mapping.key, *among).orderBy(
        F.col(mapping.version).desc(), F.col("_source_file").desc(), F.col("_source_row").desc()
    )
    return df.withColumn("_rank", F.row_number().over(order))


def first_seen(df: DataFrame, keys) -> DataFrame:
    """One row per key: the one from the earliest file and record. Not ``dropDuplicates``, which
    keeps whichever copy the engine meets first: the lineage would change between runs (it did
    between Sail's local and cluster runtimes)."""
    order = Window.partitionBy(*keys).orderBy(F.col("_source_file"), F.col("_source_row"))
    return df.withColumn("_rank", F.row_number().over(order)).where("_rank = 1").drop("_rank")


def table_rules(mapping: SilverMapping) -> list:
    """Checks on the whole batch of winners (besides the contract's): keys unique."""
    return [unique_key(list(mapping.key))]


def run(spark, settings: Settings, source: str, *, progress=None, days=None) -> RefineReport:
    started = time.monotonic()
    spec = get_source(source)
    if spec.silver is None:
        raise ValueError(f"source {source} has no [silver] section in its mapping")
    # One refine of an entity at a time: its merge reads only the days that hold the batch's
    # keys, which another refine's commit could change in between.
    with locks.file_lock(locks.lock_path(settings, f"refine-{spec.silver.entity}")):
        return _run(spark, settings, spec, started, days)


def _run(spark, settings: Settings, spec: SourceSpec, started: float, days) -> RefineReport:
    source, mapping = spec.name, spec.silver
    entity = mapping.entity
    now = datetime.now(UTC)
    refine_id = f"refine-{source}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = RefineReport(source, entity, refine_id)
    inventory = take_inventory(spark, settings, source, entity)
    report.batches = inventory.pending(days) if inventory else []
    if not report.batches:
        report.seconds = time.monotonic() - started
        return report

    bronze = lake.read(spark, settings, f"bronze.{source}").where(F.col("_batch_id").isin(report.batches))
    check_loaded_once(inventory, report.batches)
    key = privacy.pii_key(settings)
    rows = typed(bronze, spec, key, keep_raw=True)
    if mapping.locate:
        if mapping.registry:
            rows = geo.locate(rows, geo.load_grid_index(spark, settings), crs=mapping.crs, **mapping.locate)
        else:
            rows = geo.locate_without_registry(
                rows, bbox=mapping.bbox, crs=mapping.crs, lon=mapping.locate["lon"], lat=mapping.locate["lat"]
            )
    silver_name = f"silver.{entity}"
    contract = get_contract(silver_name)
    volume = check_daily_volume(spark, settings, report, inventory, now)
    explain = lambda exc: explain_failure(bronze, source, mapping, key, exc)  # noqa: E731
    rules = row_rules(spec)
    # one pass over the batch: typed, located, checked against the rules (the quarantine
    # record built for the rows that break one) and ranked among the valid versions of its key
    flagged = flag_rows(rows, rules, unflagged=True)
    prepared = with_version_rank(with_record(flagged, spec, key, only_where=first_failed()), mapping, among=[first_failed()])
    with staged(spark, settings, refine_id, prepared, explain=explain) as rows:
        valid, quarantine = split_rows(rows, rules, batch_id=refine_id, now=now)
        row_results = count_row_failures(rows, rules, table=silver_name, batch_id=refine_id)
        valid = valid.withColumn("dt", partition_date(mapping)).withColumn("_refined_at", F.lit(now).cast("timestamp"))
        winners = valid.where("_rank = 1").drop("_rank")
        valid = valid.drop("_rank")
        # The gate checks the batch as it will enter silver; a failed table check stops here.
        # It stores every result of the batch in one write: the volume, the row rules, its own.
        gate(
            spark,
            settings,
            table=silver_name,
            df=winners.select(*contract.column_names),
            batch_id=refine_id,
            table_rules=table_rules(mapping),
            now=now,
            earlier_results=[volume, *row_results],
        )
        days = lake.touched_days(spark, settings, silver_name, winners, list(mapping.key))
        lake.merge(
            spark,
            settings,
            silver_name,
            winners.select(*contract.column_names),
            update_when=f"s.`{mapping.version}` >= t.`{mapping.version}`",
            target_where=days_sql("t.dt", days),
        )
        if mapping.history:
            history = get_contract(f"silver.{mapping.history}")
            lake.merge(spark, settings, history.name, first_seen(valid, history.keys).select(*history.column_names), insert_only=True)
        lake.ensure(spark, settings, f"quarantine.{entity}")
        if any(r.unexpected_count for r in row_results):  # a row is quarantined when it broke a rule
            lake.merge(spark, settings, f"quarantine.{entity}", quarantine)
        derive = DERIVED.get(entity)
        if derive:
            derive(spark, settings, valid)
        reconcile(spark, settings, report, inventory.counts(report.batches), valid, refine_id, silver_days=days)
    report.seconds = time.monotonic() - started
    return report


@contextlib.contextmanager
def staged(spark, settings: Settings, refine_id: str, df, explain=None):
    """Write ``df`` once as Parquet in a staging folder and hand back a frame reading it; the
    folder is deleted when the block ends, and when the write itself fails.

    Every count, check and merge below reads the typed, located rows; without this each
    of them would parse and locate the whole batch again (``cache()`` is a no-op on Sail).
    ``explain`` turns a failure to compute the rows into a clearer error (e.g. which mapping field broke).
    """
    with lake.staging_folder(settings, refine_id) as folder:
        try:
            df.write.mode("overwrite").parquet(folder.uri)
        except Exception as exc:
            if explain is None:
                raise
            explained = explain(exc)
            if explained is exc:
                raise
            raise explained from exc
        yield spark.read.parquet(folder.uri)


def _derive_urban_cases(spark, settings: Settings, valid_events) -> None:
    urban_case.run(spark, settings, valid_events.select("case_no", "dt"))


# Entities with a second table built from the refined rows.
DERIVED = {"urban_case_event": _derive_urban_cases}


def run_registry(spark, settings: Settings, days=None) -> RefineReport:
    """The grid registry is a full snapshot: rebuild silver.grid when a new drop arrived, and audit it."""
    from citybrain.jobs.silver import grid

    started = time.monotonic()
    now = datetime.now(UTC)
    refine_id = f"refine-registry-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = RefineReport("registry", "grid", refine_id, pending_batches(spark, settings, "registry", "grid", days))
    if not report.batches:
        return report
    lake.ensure(spark, settings, "quarantine.grid")
    counts = grid.run(spark, settings, refine_id)
    bronze = lake.read(spark, settings, "bronze.registry")
    file_batch = bronze.select("_source_file", "_batch_id").distinct()
    per_batch = {b: {"in": n, "days": d} for b, n, d in bronze.groupBy("_batch_id").agg(F.count(F.lit(1)), F.countDistinct("dt")).collect()}
    accepted = (
        lake.read(spark, settings, "silver.grid")
        .select("_source_file")
        .join(file_batch, "_source_file")
        .groupBy("_batch_id")
        .count()
        .collect()
    )
    refused = lake.read(spark, settings, "quarantine.grid").where(F.col("batch_id") == refine_id)
    quarantined = (
        refused.join(file_batch.withColumnRenamed("_source_file", "source_file"), "source_file").groupBy("_batch_id").count().collect()
    )
    for b, n in accepted:
        per_batch[b]["accepted"] = n
    for b, n in quarantined:
        per_batch[b]["quarantined"] = n
    rows = []
    for batch in report.batches:
        c = per_batch[batch]
        acc, qua = c.get("accepted", 0), c.get("quarantined", 0)
        collapsed = c["in"] - acc - qua  # grids superseded by a later registry drop
        rows.append((batch, "registry", "grid", refine_id, c["in"], c["days"], acc, qua, collapsed, collapsed >= 0, now))
        report.records_in += c["in"]
        report.accepted += acc
        report.quarantined += qua
        report.collapsed += collapsed
    write_audit(spark, settings, rows)
    total = sum(c["in"] for c in per_batch.values())
    if total != counts["accepted"] + counts["quarantined"] + counts["duplicates_collapsed"] or any(not r[9] for r in rows):
        raise ReconciliationError(f"silver.grid does not reconcile with bronze.registry: {counts} from {total} rows")
    report.seconds = time.monotonic() - started
    return report


def refine(spark, settings: Settings, source: str, *, progress=None, days=None) -> RefineReport:
    """Refine one source into its silver entity (the registry rebuilds silver.grid); with ``days``
    (a dated run: citybrain.run_dates), only the pending batches holding drops of those days."""
    if source == "registry":
        return run_registry(spark, settings, days)
    return run(spark, settings, source, progress=progress, days=days)
