"""Lake maintenance: compact each table's small files and delete the files no version needs any more.

Every refine appends or merges a few files into each day's partition, so after weeks of
daily drops a table is thousands of small files and every read opens them all. Once a week
``maintain`` compacts each table (Delta OPTIMIZE: the files of a partition rewritten into
fewer, larger ones, the same rows) and then vacuums it (Delta VACUUM: files that no version
younger than the retention still references are deleted).

A table laid out otherwise than its contract (a lake built before a contract changed its
partitioning) is first rewritten in the contract's layout, the same rows as one new version:
until then every append and merge to it is refused with that advice (``lake.check_layout``).

Through ``deltalake``: Sail has neither OPTIMIZE nor VACUUM, and ``deltalake`` works on the
same paths whatever the engine is, so this needs no engine at all. The retention
(``CITYBRAIN_VACUUM_RETENTION_DAYS``, 30 by default) is also how far back time travel
reaches: a weekly report older than that can no longer be rebuilt from its pinned versions
(``citybrain report --rebuild`` then says which version is gone).

It also deletes the staging folders (``<lake root>/_staging``) that runs killed mid-write left
behind (``lake.sweep_staging``: nothing written in them for a day).

One table failing (a writer committed meanwhile and the compaction conflicted, a damaged
log) is recorded with its error and the others are still maintained; the next week tries again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from citybrain import lake
from citybrain.schemas import all_contracts
from citybrain.settings import Settings


@dataclass
class TableMaintenance:
    table: str
    files_before: int
    files_after: int
    bytes_before: int
    bytes_after: int
    files_deleted: int  # by the vacuum: files of versions older than the retention
    seconds: float
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"{self.table}: FAILED, {self.error}"
        return (
            f"{self.table}: {self.files_before:,} -> {self.files_after:,} files "
            f"({self.bytes_before / 2**20:,.1f} -> {self.bytes_after / 2**20:,.1f} MiB), "
            f"{self.files_deleted:,} unreferenced file(s) deleted [{self.seconds:.1f} s]"
        )


def _files(settings: Settings, name: str) -> tuple[int, int]:
    """(files, bytes) the table's current version reads."""
    from deltalake import DeltaTable

    actions = DeltaTable(lake.table_location(settings, name)).get_add_actions(flatten=True)
    return actions.num_rows, sum(actions.column("size_bytes").to_pylist())


def maintain_table(settings: Settings, name: str, *, retention_hours: int, progress=None) -> TableMaintenance:
    started = time.monotonic()
    result = TableMaintenance(name, 0, 0, 0, 0, 0, 0.0)
    try:
        result.files_before, result.bytes_before = _files(settings, name)
        layout = lake.layout_problem(settings, name)
        if layout and lake.repartition(settings, name) and progress:
            progress(f"  {layout}: rewritten in the contract's layout")
        lake.optimize(settings, name)
        result.files_deleted = len(lake.vacuum(settings, name, retention_hours=retention_hours, dry_run=False))
        result.files_after, result.bytes_after = _files(settings, name)
    except Exception as exc:  # noqa: BLE001 - one table's failure is recorded, the others go on
        result.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    result.seconds = time.monotonic() - started
    return result


def maintain(settings: Settings, *, tables: list[str] | None = None, progress=None) -> list[TableMaintenance]:
    """Compact and vacuum every table of the lake that exists (or only ``tables``); recorded in ops.maintenance."""
    names = tables or [n for n in sorted(all_contracts()) if n != "ops.maintenance" and lake.exists(settings, n)]
    retention_hours = round(settings.vacuum_retention_days * 24)
    swept = lake.sweep_staging(settings)
    if swept and progress:
        progress(
            f"  {len(swept)} staging folder(s) left by killed runs deleted (untouched for {lake.STALE_STAGING_HOURS} h): {', '.join(swept)}"
        )
    results = []
    for name in names:
        result = maintain_table(settings, name, retention_hours=retention_hours, progress=progress)
        results.append(result)
        if progress:
            progress(f"  {result.line()}")
    record(settings, results)
    return results


def record(settings: Settings, results: list[TableMaintenance]) -> None:
    """Append one row per table to ops.maintenance, with ``deltalake`` (no engine needed)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from citybrain.schemas import get_contract

    contract = get_contract("ops.maintenance")
    now = datetime.now(UTC)
    rows = [{**vars(r), "maintained_at": now} for r in results]
    table = pa.Table.from_pylist(rows, schema=contract.arrow_schema())
    write_deltalake(lake.table_location(settings, contract.name), table, mode="append")
