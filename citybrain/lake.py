"""Read, write and merge Delta tables by logical name (``bronze.hotline``, ``gold.hotspots``).

Every write goes through the table's contract, so a DataFrame with a missing, extra or
wrongly typed column is refused before anything is written. Table maintenance (history,
optimize, vacuum) goes through the ``deltalake`` package, which works on the same paths
whatever the Spark engine is (Sail has no DESCRIBE HISTORY, OPTIMIZE or VACUUM).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from citybrain.schemas import Contract, get_contract
from citybrain.settings import Settings


class LakeWriteError(RuntimeError):
    """A write to a table failed in the engine or the file system (read-only or full disk,
    a damaged log); the message names the table, its location and the cause's first line."""


@contextlib.contextmanager
def _naming(name: str, location: str, action: str):
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - any engine or file-system failure: say which table
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LakeWriteError(f"could not {action} {name} at {location}: {cause}") from exc


class LakeLayoutError(LakeWriteError):
    """A table on disk is partitioned otherwise than its contract says (a lake built before
    the contract changed); ``citybrain maintain`` rewrites it in the contract's layout."""


_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def table_location(settings: Settings, name: str) -> str:
    """``<lake_root>/<layer>/<table>`` for a logical name ``layer.table``."""
    if not _NAME.match(name):
        raise ValueError(f"table name {name!r} must look like layer.table (lowercase, e.g. bronze.hotline)")
    layer, table = name.split(".")
    return f"{settings.lake_root}/{layer}/{table}"


def exists(settings: Settings, name: str) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(table_location(settings, name))


def partitioning(settings: Settings, name: str) -> tuple[str, ...] | None:
    """The partition columns of the table on disk, or None when it does not exist yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return tuple(DeltaTable(table_location(settings, name)).metadata().partition_columns)
    except TableNotFoundError:
        return None


def layout_problem(settings: Settings, name: str, action: str = "read the layout of") -> str | None:
    """Why the table on disk does not have its contract's partitioning, or None when it has
    (or does not exist yet); a log that cannot be read fails naming the table."""
    with _naming(name, table_location(settings, name), action):
        on_disk = partitioning(settings, name)
    wanted = get_contract(name).partition_by
    if on_disk is None or on_disk == wanted:
        return None
    return f"{name} is partitioned by ({', '.join(on_disk) or 'nothing'}) on disk but its contract says ({', '.join(wanted) or 'nothing'})"


def check_layout(settings: Settings, name: str, action: str, problem: str | None = "") -> None:
    """Refuse to add to a table laid out otherwise than its contract: an append would go on in
    the old layout, and a merge or a partial overwrite cannot change it. ``problem`` is what
    ``layout_problem`` already said, if the caller asked it."""
    if problem == "":
        problem = layout_problem(settings, name, action)
    if problem:
        raise LakeLayoutError(f"{problem}: run `citybrain maintain`, which rewrites it in the contract's layout (same rows)")


def repartition(settings: Settings, name: str) -> bool:
    """Rewrite a table in its contract's partitioning, the same rows, as one new version
    (through ``deltalake``, streaming, no engine); False when it already had it."""
    from deltalake import DeltaTable, write_deltalake

    if layout_problem(settings, name) is None:
        return False
    location = table_location(settings, name)
    batches = _batches(DeltaTable(location))
    partition_by = list(get_contract(name).partition_by)  # [] unpartitions; None would keep the old columns
    with _naming(name, location, "repartition"):
        write_deltalake(location, batches, mode="overwrite", schema_mode="overwrite", partition_by=partition_by)
    return True


def read(spark, settings: Settings, name: str):
    if not exists(settings, name):
        raise FileNotFoundError(f"table {name} does not exist yet at {table_location(settings, name)}")
    return spark.read.format("delta").load(table_location(settings, name))


def ensure(spark, settings: Settings, name: str) -> None:
    """Create the table, empty, with its contract's schema, unless it exists."""
    if not exists(settings, name):
        write(spark, settings, name, spark.createDataFrame([], get_contract(name).ddl().replace(" NOT NULL", "")))


def write(spark, settings: Settings, name: str, df, *, mode: str = "append", replace_where: str | None = None) -> None:
    """Append to or overwrite a table; the contract is checked first.

    An append may add the columns a contract gained since the table was created (additive
    schema evolution, ``mergeSchema``); the contract has already refused any other column.
    """
    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode must be append or overwrite, not {mode!r}")
    contract = get_contract(name)
    writer = contract.conform(df).write.format("delta").mode(mode)
    if contract.partition_by:
        writer = writer.partitionBy(*contract.partition_by)
    if contract.deletion_vectors:  # taken when the write creates the table (schemas.contract: deletion vectors)
        writer = writer.option("delta.enableDeletionVectors", "true")
    problem = layout_problem(settings, name, "write")
    if problem and mode == "overwrite" and not replace_where:
        writer = writer.option("overwriteSchema", "true")  # a whole rewrite takes the contract's layout
    else:
        check_layout(settings, name, "write", problem)
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    if mode == "append":
        writer = writer.option("mergeSchema", "true")
    location = table_location(settings, name)
    with _naming(name, location, "write"):
        writer.save(location)


def write_client_table(settings: Settings, name: str, table, *, mode: str = "append", replace_where: str | None = None) -> None:
    """``write`` for a pyarrow Table built on this client (a gold table the statistics computed in
    pandas): written from here by ``deltalake``, so its rows do not travel to the engine and back.
    The contract is checked first (``Contract.conform_arrow``), the layout as ``write`` checks it.
    ``replace_where`` is the same SQL predicate, and a row outside it is refused, as the engine's
    ``replaceWhere`` refuses it. A whole overwrite takes the contract's schema and layout. This
    client must reach the lake, as the staging folders already need.
    """
    from deltalake import write_deltalake

    if mode not in ("append", "overwrite"):
        raise ValueError(f"mode must be append or overwrite, not {mode!r}")
    contract = get_contract(name)
    rows = contract.conform_arrow(table)
    options: dict = {"schema_mode": "merge"} if mode == "append" else {}
    if mode == "overwrite" and not replace_where:
        options["schema_mode"] = "overwrite"
    else:
        check_layout(settings, name, "write")
    if replace_where:
        options["predicate"] = replace_where
    location = table_location(settings, name)
    with _naming(name, location, "write"):
        write_deltalake(location, rows, mode=mode, partition_by=list(contract.partition_by) or None, **options)


class StagingFolder(NamedTuple):
    """A folder under ``<lake root>/_staging``: ``uri`` for the engine, ``filesystem`` and
    ``path`` for pyarrow on this client."""

    uri: str
    filesystem: object
    path: str


@contextlib.contextmanager
def staging_folder(settings: Settings, name: str):
    """A new folder ``<lake root>/_staging/<name>`` that this client and the engine both reach,
    deleted with what it holds when the block ends, whether it ended well or not.

    The one place for files on their way into the lake: bronze ingest stages the files it read,
    and a refine stages its typed batch.
    """
    from pyarrow import fs as pafs

    uri = f"{settings.lake_root}/_staging/{name}"
    filesystem, path = pafs.FileSystem.from_uri(uri if "://" in uri else f"file://{uri}")
    filesystem.create_dir(path, recursive=True)
    try:
        yield StagingFolder(uri, filesystem, path)
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            filesystem.delete_dir(path)


#: a staging folder nothing wrote to for this long was left by a run killed before its block could
#: end (SIGKILL, out of memory, a power cut): no live run keeps one that long
STALE_STAGING_HOURS = 24


def sweep_staging(settings: Settings, *, older_than_hours: float = STALE_STAGING_HOURS) -> list[str]:
    """Delete the staging folders with nothing written in them for ``older_than_hours``; their names.

    ``staging_folder`` deletes its folder however its block ends, but a process that is killed
    never gets there. The weekly maintenance sweeps what such runs left.
    """
    from pyarrow import fs as pafs

    root = f"{settings.lake_root}/_staging"
    filesystem, path = pafs.FileSystem.from_uri(root if "://" in root else f"file://{root}")
    if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    cutoff = datetime.now(UTC) - timedelta(hours=older_than_hours)
    swept = []
    for folder in filesystem.get_file_info(pafs.FileSelector(path)):
        inside = filesystem.get_file_info(pafs.FileSelector(folder.path, recursive=True)) if folder.type == pafs.FileType.Directory else []
        written = [info.mtime for info in (folder, *inside) if info.mtime is not None]
        if written and max(written) >= cutoff:
            continue
        with contextlib.suppress(FileNotFoundError, OSError):
            if folder.type == pafs.FileType.Directory:
                filesystem.delete_dir(folder.path)
            else:
                filesystem.delete_file(folder.path)
            swept.append(folder.base_name)
    return sorted(swept)


def append_rows(settings: Settings, name: str, rows: list[dict]) -> None:
    """Append a few rows (dicts) through the contract without an engine (``deltalake``): for what
    must be written even when the engine is down, such as ``ops.run_events``, and for a job's own
    records (the audit, check results, build watermarks), a few rows that an engine write would
    spend a tenth of a second or more on. A NOT NULL column left out or None is refused."""
    import pyarrow as pa
    from deltalake import write_deltalake

    contract = get_contract(name)
    table = contract.conform_arrow(pa.Table.from_pylist(rows, schema=contract.arrow_schema()))
    check_layout(settings, name, "append to")
    location = table_location(settings, name)
    with _naming(name, location, "append to"):
        write_deltalake(location, table, mode="append", partition_by=list(contract.partition_by) or None)


def merge(
    spark,
    settings: Settings,
    name: str,
    df,
    *,
    keys: tuple[str, ...] | None = None,
    update_when: str | None = None,
    insert_only: bool = False,
    target_where: str | None = None,
) -> None:
    """Upsert on the contract's keys (SQL MERGE INTO: Sail has no DeltaTable API).

    ``update_when`` is an extra SQL condition over ``t`` (target) and ``s`` (source) for
    replacing a matched row, e.g. ``s.updated_at >= t.updated_at`` so that a late, older
    version never overwrites a newer one; ``insert_only`` leaves matched rows alone.
    ``target_where`` (SQL over ``t``) limits the target rows read, e.g. to the partitions that
    can hold a source key: the caller must know that no other row of the target does.
    """
    contract: Contract = get_contract(name)
    keys = keys or contract.keys
    if not keys:
        raise ValueError(f"{name} has no keys in its contract; say which columns to merge on")
    df = contract.conform(df)
    if not exists(settings, name):
        write(spark, settings, name, df)
        return
    check_layout(settings, name, "merge into")
    view = f"_merge_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys) + (f" AND ({target_where})" if target_where else "")
    matched = "" if insert_only else f"WHEN MATCHED{f' AND ({update_when})' if update_when else ''} THEN UPDATE SET * "
    location = table_location(settings, name)
    try:
        with _naming(name, location, "merge into"):
            spark.sql(f"MERGE INTO delta.`{location}` AS t USING {view} AS s ON {on} {matched}WHEN NOT MATCHED THEN INSERT *")
    finally:
        spark.catalog.dropTempView(view)


def touched_days(spark, settings: Settings, name: str, rows, key: list[str]) -> list | None:
    """The days of table ``name`` a merge of ``rows`` (with ``key`` and ``dt``) can touch: their
    own days and the days that hold one of their keys now (a version may move its row to another
    day). None (every day) when the table is not partitioned by day or does not exist yet. One
    read of the table's key and day columns, so that a merge, and whatever reads back what it
    wrote, reads those days only, not the whole history (schemas.contract.BY_DAY)."""
    if get_contract(name).partition_by != ("dt",) or not exists(settings, name):
        return None
    held = read(spark, settings, name).select(*key, "dt").join(rows.select(*key).distinct(), key, "left_semi").select("dt")
    return [r[0] for r in rows.select("dt").union(held).distinct().collect()]


def arrow(settings: Settings, name: str, columns: list[str] | None = None, *, version: int | None = None):
    """A table's rows as a pyarrow Table on this client (``arrow_at`` of its location)."""
    if not exists(settings, name):
        raise FileNotFoundError(f"table {name} does not exist yet at {table_location(settings, name)}")
    return arrow_at(table_location(settings, name), columns, version=version)


def arrow_at(location: str, columns: list[str] | None = None, *, version: int | None = None):
    """The rows of the Delta table at ``location`` as a pyarrow Table (``_batches``)."""
    from deltalake import DeltaTable

    return _batches(DeltaTable(location, version=version), columns).read_all()


def _batches(table, columns: list[str] | None = None):
    """A ``deltalake`` table's rows as a pyarrow RecordBatchReader, streamed, with its deletion
    vectors applied (schemas.contract: deletion vectors): through ``deltalake``'s DataFusion
    reader, since its pyarrow dataset refuses a table that has them. Types are the table's own
    (DataFusion's string views cast back)."""
    import pyarrow as pa
    from deltalake import QueryBuilder

    schema = pa.schema(table.schema().to_arrow())
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    listed = ", ".join('"{}"'.format(f.name.replace('"', '""')) for f in schema)
    return pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute(f"SELECT {listed} FROM t")).cast(schema)


def _delta(settings: Settings, name: str):
    from deltalake import DeltaTable

    if not exists(settings, name):
        raise FileNotFoundError(f"table {name} does not exist yet at {table_location(settings, name)}")
    return DeltaTable(table_location(settings, name))


def history(settings: Settings, name: str, limit: int | None = None) -> list[dict]:
    """Commits of a table, newest first (version, timestamp, operation, metrics)."""
    return _delta(settings, name).history(limit)


def version(settings: Settings, name: str) -> int:
    return _delta(settings, name).version()


def optimize(settings: Settings, name: str) -> dict:
    """Compact small files; returns deltalake's metrics."""
    return _delta(settings, name).optimize.compact()


def vacuum(settings: Settings, name: str, *, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
    """Files no longer referenced and older than the retention; deleted unless dry_run."""
    return _delta(settings, name).vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False)
