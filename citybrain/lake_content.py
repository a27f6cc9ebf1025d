"""Content checksums of lake tables: what a rerun of a day must leave unchanged, and what a
backfill must reproduce.

A table's checksum is (rows, an order-independent sum of one hash per row) over its columns
but those a run rewrites by design, computed by DuckDB through ``citybrain.bench.key_checksum``
(floats to 6 decimals, timestamps in UTC). Two kinds of column are left out, and only where asked:

- ``REBUILD_COLUMNS``: a gold table is rebuilt whole from silver on every run, so its
  ``built_at`` is the run's time; a rerun of ``build_gold_demand_forecast`` trains a new
  version of the same model (``model_version``, the same forecasts); a report build has its
  own ``build_id`` and records the Delta versions it read (``table_versions``), which any
  rebuild of gold moves on.
- ``batch_columns(table)``: which ingest or refine batch wrote a row and when. The same drops
  taken in day by day (a backfill) or all at once give other batches, and other times. For
  the same reason ``BATCHING_TABLES`` are left out of such a comparison whole: the weekly
  report's data-quality section counts the batches refined and the lag from a drop's date to
  its ingest, which is how the drops were taken in, not what they hold.

``LOG_TABLES`` keep one row per run by design (each run records its own checks, failures,
maintenance); they are not compared. ``gold.report_index`` lists every build: a rerun adds a
build of the same report, so it is compared as a set of distinct rows.
"""

from __future__ import annotations

from citybrain import lake
from citybrain.schemas import all_contracts
from citybrain.settings import Settings

REBUILD_COLUMNS = frozenset({"built_at", "model_version", "build_id", "table_versions"})
#: the batch bookkeeping every layer has: bronze's batch and ingest time, silver's batch and
#: refine time, quarantine's refine and when, the ledger's and audit's batch, refine and time
_BATCH_COLUMNS = frozenset(
    {"_batch_id", "_ingested_at", "_refined_at", "batch_id", "refine_id", "ingested_at", "refined_at", "quarantined_at"}
)
#: per table, further columns that name the batch: the grid's write time, and a quarantined
#: record's copy of its bronze row (which carries the bronze batch id)
_TABLE_BATCH_COLUMNS = {"silver.grid": frozenset({"updated_at"})}
_QUARANTINE_BATCH_COLUMNS = frozenset({"record"})
LOG_TABLES = frozenset({"ops.quality_results", "ops.run_events", "ops.maintenance", "ops.gold_builds"})
BATCHING_TABLES = frozenset({"gold.report_index"})
#: tables compared as a set of distinct rows (see the module's doc)
SET_TABLES = frozenset({"gold.report_index"})


def batch_columns(name: str) -> frozenset[str]:
    """The columns of ``name`` that say which batch wrote a row, and when."""
    extra = _QUARANTINE_BATCH_COLUMNS if name.startswith("quarantine.") else _TABLE_BATCH_COLUMNS.get(name, frozenset())
    return _BATCH_COLUMNS | extra


def content_checksum(settings: Settings, name: str, ignore: frozenset[str] = frozenset()) -> tuple[int, int]:
    """(rows, checksum) of the table ``name`` over every column but ``ignore``."""
    import duckdb

    from citybrain.bench import key_checksum

    table = lake.arrow(settings, name)
    columns = tuple(c for c in table.column_names if c not in ignore)
    with duckdb.connect() as connection:
        connection.register("content", table)
        listed = ", ".join(f'"{c}"' for c in columns)
        relation = f"(SELECT DISTINCT {listed} FROM content)" if name in SET_TABLES else "content"
        return key_checksum(connection, relation, columns)


def lake_checksums(settings: Settings, layers: tuple[str, ...], *, ignore_batches: bool = False) -> dict[str, tuple[int, int]]:
    """{table: (rows, checksum)} of every existing table of ``layers`` but the log tables, without the
    rebuild columns (and, with ``ignore_batches``, without the batch columns and the batching tables)."""
    sums = {}
    left_out = LOG_TABLES | (BATCHING_TABLES if ignore_batches else frozenset())
    for name in sorted(all_contracts()):
        if name.split(".")[0] in layers and name not in left_out and lake.exists(settings, name):
            ignore = REBUILD_COLUMNS | (batch_columns(name) if ignore_batches else frozenset())
            sums[name] = content_checksum(settings, name, ignore)
    return sums
