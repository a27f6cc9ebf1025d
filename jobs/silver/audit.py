"""Accounting for every record: pending batches, the per-day volume gate, reconciliation.

``ops.batch_audit`` holds one row per bronze batch and silver entity: records in =
accepted + quarantined + collapsed, each side counted on its own:

- in: the batch's rows in bronze;
- quarantined: the batch's rows read back from the quarantine table;
- accepted: the batch's valid rows that silver now holds as their key's current row
  (read back from silver, matched by key, file and record number);
- collapsed: the batch's valid rows whose key silver holds with another record (a later
  version, or an identical copy), counted from the batch and silver's keys.

A valid row whose key silver does not hold at all is lost, and the run fails. So does a
drop file that is in bronze under two batches (a double load) and a batch audited twice
(two refines at once). A batch without an audit row is pending and is refined next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pyspark.sql import functions as F

from citybrain import lake
from citybrain.quality.gate import CheckResult, QualityGateFailed, store_results
from citybrain.schemas import get_contract
from citybrain.schemas.sources import get_source
from citybrain.settings import Settings


class ReconciliationError(RuntimeError):
    """Records in a batch do not add up to accepted + quarantined + collapsed."""


@dataclass
class RefineReport:
    source: str
    entity: str
    refine_id: str
    batches: list[str] = field(default_factory=list)
    records_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    collapsed: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        if not self.batches:
            return f"{self.source} -> silver.{self.entity}: nothing new"
        rules = ", ".join(f"{k} {v}" for k, v in sorted(self.quarantined_by_rule.items()) if v)
        return (
            f"{self.source} -> silver.{self.entity}: {self.records_in:,} in = {self.accepted:,} accepted"
            f" + {self.quarantined:,} quarantined + {self.collapsed:,} collapsed"
            + (f" (quarantined: {rules})" if rules else "")
            + f" [{self.seconds:.1f} s]"
        )


@dataclass(frozen=True)
class BronzeInventory:
    """A source's bronze table by drop file, batch and drop day, and the audit rows of its entity.

    Read at the start of a refine, a query each (``take_inventory``), for everything it checks
    before refining: which batches are pending, whether a file was loaded twice, how many
    records and drop days each batch holds (the volume check and the reconciliation), and the
    volume of the earlier runs. Both results are small: a row per file and day, a row per batch.
    """

    source: str
    #: (file sha256, the file's name, batch, drop day, records), one per file, batch and day
    files: tuple[tuple[str, str, str, date | None, int], ...]
    #: (batch, refine, records in, drop days, refined at), one per batch audited for the entity
    audit: tuple[tuple[str, str, int, int, datetime], ...] = ()

    def pending(self, days=None) -> list[str]:
        """The batches not audited yet; with ``days``, only those holding drops of those days."""
        held = {batch for _, _, batch, day, _ in self.files if days is None or day in days}
        return sorted(held - {batch for batch, *_ in self.audit})

    def double_loads(self, batches) -> list[str]:
        """The drop files of ``batches`` that bronze also holds under another batch, named."""
        wanted = set(batches)
        loads: dict[str, tuple[str, set[str]]] = {}
        for sha, name, batch, _, _ in self.files:
            first, ids = loads.get(sha, (name, set()))
            loads[sha] = (min(first, name), ids | {batch})
        return [f"{name} in batches {', '.join(sorted(ids))}" for name, ids in sorted(loads.values()) if len(ids) > 1 and ids & wanted]

    def counts(self, batches) -> BronzeCounts:
        """Records and drop days per batch of ``batches``, and their drop days together."""
        wanted = set(batches)
        records: dict[str, int] = {}
        days: dict[str, set] = {}
        for _, _, batch, day, n in self.files:
            if batch in wanted:
                records[batch] = records.get(batch, 0) + n
                days.setdefault(batch, set()).add(day)
        per_batch = {b: (records[b], len(days[b] - {None})) for b in records}
        return BronzeCounts(per_batch, len(set().union(*days.values()) - {None}))

    def volume_history(self, window: int) -> list[float]:
        """Records per drop day of the last ``window`` refines of the entity, the latest first."""
        runs: dict[str, list] = {}
        for _, refine_id, records, drop_days, at in self.audit:
            run = runs.setdefault(refine_id, [0, 0, at])
            run[0] += records
            run[1] += drop_days
            run[2] = max(run[2], at)
        latest = sorted(runs.values(), key=lambda r: r[2], reverse=True)[:window]
        return [n / max(d, 1) for n, d, _ in latest]


def take_inventory(spark, settings: Settings, source: str, entity: str) -> BronzeInventory | None:
    """``BronzeInventory`` of ``source`` and ``entity`` (None: no bronze table yet)."""
    if not lake.exists(settings, f"bronze.{source}"):
        return None
    by_file = (
        lake.read(spark, settings, f"bronze.{source}")
        .groupBy("_file_sha256", "_batch_id", "dt")
        .agg(F.min("_source_file").alias("file"), F.count(F.lit(1)).alias("n"))
        .collect()
    )
    files = tuple((r["_file_sha256"], r["file"], r["_batch_id"], r["dt"], r["n"]) for r in by_file)
    audit: tuple = ()
    if lake.exists(settings, "ops.batch_audit"):
        rows = (
            lake.read(spark, settings, "ops.batch_audit")
            .where(F.col("entity") == entity)
            .select("batch_id", "refine_id", "records_in", "drop_days", "refined_at")
            .collect()
        )
        audit = tuple(tuple(r) for r in rows)
    return BronzeInventory(source, files, audit)


def pending_batches(spark, settings: Settings, source: str, entity: str, days=None) -> list[str]:
    """Bronze batches of ``source`` not yet refined into ``entity``; with ``days`` (a dated run),
    only the batches holding drops of those days."""
    inventory = take_inventory(spark, settings, source, entity)
    return inventory.pending(days) if inventory else []


# A run's records per drop day must stay within this band of the trailing average.
VOLUME_BAND = (0.2, 5.0)
VOLUME_WINDOW = 7


@dataclass(frozen=True)
class BronzeCounts:
    """The refine's batches as bronze holds them, counted once for the volume check and the
    reconciliation: per batch its records and drop days, and the drop days of all of them."""

    per_batch: dict[str, tuple[int, int]]
    drop_days: int

    @property
    def records(self) -> int:
        return sum(n for n, _ in self.per_batch.values())


def check_daily_volume(spark, settings: Settings, report: RefineReport, inventory: BronzeInventory, now: datetime) -> CheckResult:
    """Records per drop day of the report's batches against the last runs' (ops.batch_audit, read
    in ``inventory``). Out of band: stored and raised. In band: returned, for the caller to store
    with the batch's other results (the gate).

    Per drop day, not per batch: a first load of twelve weeks and a daily drop compare fairly.
    """
    counts = inventory.counts(report.batches)
    records, drop_days = counts.records, counts.drop_days
    current = records / max(drop_days, 1)
    history = inventory.volume_history(VOLUME_WINDOW)
    low, high = VOLUME_BAND
    if history:
        average = sum(history) / len(history)
        success = low * average <= current <= high * average
        threshold = f"{low:g}-{high:g} x the trailing average of {average:,.1f} records per drop day ({len(history)} earlier runs)"
    else:
        success, threshold = True, "any volume (no earlier runs: this one starts the history)"
    result = CheckResult(
        table=f"silver.{report.entity}",
        batch_id=report.refine_id,
        rule="daily_volume_within_band",
        level="table",
        success=success,
        measured_value=f"{current:,.1f} records per drop day ({records:,} over {drop_days} days)",
        threshold=threshold,
        element_count=records,
    )
    if not success:
        store_results(spark, settings, [result], checked_at=now)
        raise QualityGateFailed(result.table, report.refine_id, [result])
    return result


def check_loaded_once(inventory: BronzeInventory, batches) -> None:
    """Each drop file's records belong to one batch: a file in bronze under two batches (two
    ingests at once) would be counted twice, so the refine stops before writing anything."""
    twice = inventory.double_loads(batches)
    if twice:
        raise ReconciliationError(
            f"bronze.{inventory.source} holds the same file under more than one batch (a double load): {'; '.join(twice)}"
        )


def reconcile(
    spark, settings: Settings, report: RefineReport, bronze: BronzeCounts, valid, refine_id: str, *, silver_days: list | None = None
) -> None:
    """Count each side on its own (bronze, the quarantine table, silver read back) and check they add up.

    ``bronze``: the batches' records as bronze holds them (``BronzeInventory.counts``).
    ``silver_days``: the only partitions of silver that can hold the batch's keys (None: read all of it).
    """
    empty = {"in": 0, "days": 0, "quarantined": 0, "accepted": 0, "collapsed": 0, "lost": 0}
    per_batch: dict[str, dict[str, int]] = {b: dict(empty) for b in report.batches}
    for batch, (n, days) in bronze.per_batch.items():
        per_batch[batch].update({"in": n, "days": days})
    # each valid row against the row silver now holds for its key
    key = list(get_source(report.source).silver.key)
    silver = lake.read(spark, settings, f"silver.{report.entity}")
    if silver_days is not None:
        silver = silver.where(days_sql("dt", silver_days))
    current = silver.select(*key, F.col("_source_file").alias("_held_file"), F.col("_source_row").alias("_held_row"))
    held = F.col("_held_file").isNotNull()
    same = held & (F.col("_held_file") == F.col("_source_file")) & (F.col("_held_row") == F.col("_source_row"))
    sides = valid.select(*key, "_batch_id", "_source_file", "_source_row").join(current, key, "left")
    in_silver = sides.groupBy(F.col("_batch_id").alias("batch")).agg(
        F.lit(None).cast("string").alias("rule"),
        F.sum(same.cast("bigint")).alias("accepted"),
        F.sum((held & ~same).cast("bigint")).alias("collapsed"),
        F.sum((~held).cast("bigint")).alias("lost"),
        F.lit(None).cast("bigint").alias("quarantined"),
    )
    # the quarantine table read back: its rows of this refine, per batch and rule
    refused = lake.read(spark, settings, f"quarantine.{report.entity}").where(F.col("batch_id") == refine_id)
    in_quarantine = refused.groupBy(F.get_json_object("record", "$._batch_id").alias("batch"), "rule").agg(
        *(F.lit(None).cast("bigint").alias(c) for c in ("accepted", "collapsed", "lost")),
        F.count(F.lit(1)).alias("quarantined"),
    )
    # one query brings both (each counted from its own table): a row with a rule is a quarantine count
    for batch, rule, accepted, collapsed, lost, quarantined in in_silver.unionByName(in_quarantine).collect():
        counts = per_batch.setdefault(batch, dict(empty))
        if rule is None:
            counts.update({"accepted": accepted or 0, "collapsed": collapsed or 0, "lost": lost or 0})
        else:
            counts["quarantined"] += quarantined
            report.quarantined_by_rule[rule] = report.quarantined_by_rule.get(rule, 0) + quarantined
    now = datetime.now(UTC)
    rows, problems = [], []
    for batch, c in sorted(per_batch.items()):
        collapsed = c["collapsed"]
        balanced = c["in"] == c["accepted"] + c["quarantined"] + collapsed
        if not balanced:
            problems.append(
                f"{batch}: {c['in']} in != {c['accepted']} accepted + {c['quarantined']} quarantined + {collapsed} collapsed"
                + (f" ({c['lost']} valid records are not in silver: lost)" if c["lost"] else "")
            )
        rows.append(
            (batch, report.source, report.entity, refine_id, c["in"], c["days"], c["accepted"], c["quarantined"], collapsed, balanced, now)
        )
        report.records_in += c["in"]
        report.accepted += c["accepted"]
        report.quarantined += c["quarantined"]
        report.collapsed += collapsed
    write_audit(spark, settings, rows)
    if problems:
        raise ReconciliationError(f"silver.{report.entity} does not reconcile with bronze.{report.source}: " + "; ".join(problems))


def days_sql(column: str, days: list | None) -> str | None:
    """SQL true for the rows of ``column`` on one of ``days`` (None: no condition)."""
    if days is None:
        return None
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(d for d in days if d is not None))
    conditions = [f"{column} IN ({listed})"] if listed else []
    if None in days:
        conditions.append(f"{column} IS NULL")
    return " OR ".join(conditions) or "false"


def write_audit(spark, settings: Settings, rows: list[tuple]) -> None:
    """Append audit rows (tuples in the column order of ops.batch_audit), then check that no
    batch of theirs is now audited twice for its entity (two refines of it ran at once)."""
    contract = get_contract("ops.batch_audit")
    lake.append_rows(settings, contract.name, [dict(zip(contract.column_names, row, strict=True)) for row in rows])
    entity, batches = rows[0][2], [row[0] for row in rows]
    audit = lake.read(spark, settings, contract.name).where((F.col("entity") == entity) & F.col("batch_id").isin(batches))
    twice = (
        audit.groupBy("batch_id").agg(F.count(F.lit(1)).alias("n"), F.collect_set("refine_id").alias("refines")).where("n > 1").collect()
    )
    if twice:
        named = "; ".join(f"{r['batch_id']} {r['n']} times (refines {', '.join(sorted(r['refines']))})" for r in twice)
        raise ReconciliationError(f"a batch of {entity} was audited more than once (two refines at once?): {named}")
