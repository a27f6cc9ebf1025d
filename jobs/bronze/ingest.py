"""Ingest one department's new drop files into its append-only bronze table.

extract: find the source's drop files, skip those whose checksum is already in the lake;
transform: read each into text records mapped to bronze columns (``to_bronze_table``);
load: stage them as Parquet beside the lake, append them to ``bronze.<source>`` in one
Delta commit through the contract, check the row count, and record each file in
``ops.ingest_ledger``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from citybrain import lake
from citybrain.jobs.bronze.readers import DecodedDrop, read_drop
from citybrain.schemas import get_contract
from citybrain.schemas.sources import SourceSpec, get_source
from citybrain.settings import Settings

log = logging.getLogger(__name__)


class IngestError(RuntimeError):
    """A drop could not be taken into bronze; the message says which file and why."""


@dataclass(frozen=True)
class DropFile:
    path: Path
    relative: str
    sha256: str
    size: int
    drop_date: date


@dataclass
class FileResult:
    file: str
    records: int
    parse_errors: int
    encoding: str
    unknown_fields: list[str]
    missing_fields: list[str]


@dataclass
class IngestReport:
    source: str
    batch_id: str
    files_found: int = 0
    files_already_ingested: int = 0
    files_identical_to_another: list[str] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def parse_errors(self) -> int:
        return sum(f.parse_errors for f in self.files)

    def summary(self) -> str:
        drift = sorted({u for f in self.files for u in f.unknown_fields})
        text = (
            f"{self.source}: {len(self.files)} new file(s), {self.records:,} records"
            f" ({self.parse_errors} unparsable, kept), {self.files_already_ingested} file(s) already in bronze"
        )
        if self.files_identical_to_another:
            text += f", {len(self.files_identical_to_another)} identical copy(ies) skipped"
        if drift:
            text += f"; unknown fields kept in _extra: {', '.join(drift)}"
        return text + f" [{self.seconds:.1f} s]"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def discover(folder: Path, spec: SourceSpec) -> list[DropFile]:
    """The source's drop files in ``folder``, oldest drop date first (named ``<source>/<file>``)."""
    found = []
    for path in sorted(folder.glob(spec.glob)) if folder.is_dir() else []:
        drop_date = _drop_date(path, spec)
        relative = f"{spec.name}/{path.relative_to(folder)}"
        found.append(DropFile(path, relative, sha256_of(path), path.stat().st_size, drop_date))
    return sorted(found, key=lambda f: (f.drop_date, f.relative))


def _drop_date(path: Path, spec: SourceSpec) -> date:
    if spec.drop_date is None:  # the mapping says the file names carry no date
        return datetime.now(UTC).date()
    match = spec.drop_date.search(path.name)
    if not match:
        raise IngestError(f"{path}: cannot find the drop date in the file name (pattern {spec.drop_date.pattern})")
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        raise IngestError(f"{path}: {match.group(1)!r} in the file name is not a date (YYYYMMDD)") from None


def to_bronze_table(drop: DecodedDrop, spec: SourceSpec, meta: dict) -> tuple[pa.Table, FileResult]:
    """Map decoded records onto the bronze contract's columns (all text) plus metadata."""
    contract = get_contract(f"bronze.{spec.name}")
    lookup = spec.field_lookup()
    raw_columns = list(spec.columns)
    values: dict[str, list] = {c: [] for c in raw_columns}
    extra, errors = [], []
    for rec in drop.records:
        row: dict[str, str | None] = {}
        unknown: dict[str, str | None] = {}
        for name, value in rec.fields.items():
            column = lookup.get(name)
            if column is None or column in row:
                unknown[name] = value
            else:
                row[column] = value
        for column in raw_columns:
            values[column].append(row.get(column))
        extra.append(json.dumps(unknown, ensure_ascii=False, sort_keys=True) if unknown else None)
        errors.append(rec.error)
    n = len(drop.records)
    columns = {
        **values,
        "dt": [meta["drop_date"]] * n,
        "_batch_id": [meta["batch_id"]] * n,
        "_source_file": [meta["file"]] * n,
        "_file_sha256": [meta["sha256"]] * n,
        "_source_row": list(range(1, n + 1)),
        "_ingested_at": [meta["ingested_at"]] * n,
        "_extra": extra,
        "_parse_error": errors,
    }
    table = pa.table(columns, schema=contract.arrow_schema())
    seen = set(drop.field_names)
    result = FileResult(
        file=meta["file"],
        records=n,
        parse_errors=sum(e is not None for e in errors),
        encoding=drop.encoding,
        unknown_fields=[f for f in drop.field_names if f not in lookup],
        missing_fields=[c for c, aliases in spec.columns.items() if not seen.intersection(aliases)],
    )
    return table, result


def _lake_state(spark, settings: Settings, source: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """(checksum -> first file with it, {(file, checksum)} already in the ledger)."""
    first_file: dict[str, str] = {}
    in_ledger: set[tuple[str, str]] = set()
    if lake.exists(settings, "ops.ingest_ledger"):
        ledger = lake.read(spark, settings, "ops.ingest_ledger").where(f"source = '{source}'")
        for file, sha, duplicate_of in ledger.select("file", "file_sha256", "duplicate_of").orderBy("ingested_at", "file").collect():
            in_ledger.add((file, sha))
            first_file.setdefault(sha, duplicate_of or file)
    if lake.exists(settings, f"bronze.{source}"):
        # Bronze is the truth should a run have stopped between its bronze and ledger commits.
        for file, sha in lake.read(spark, settings, f"bronze.{source}").select("_source_file", "_file_sha256").distinct().collect():
            first_file.setdefault(sha, file)
    return first_file, in_ledger


def run(
    spark, settings: Settings, source: str, *, drops_dir: Path | None = None, folder: Path | None = None, progress=None
) -> IngestReport:
    """Take every new drop file of ``source`` into ``bronze.<source>``; a no-op when there is none.

    A file is identified by its checksum: a file already in the lake is skipped; a new
    file whose bytes equal an earlier one's (a re-sent export) adds no rows and is
    recorded in the ledger as a copy of it.
    """
    started = time.monotonic()
    spec = get_source(source)
    folder = Path(folder) if folder else Path(drops_dir or settings.demo_dir / "drops") / spec.name
    now = datetime.now(UTC)
    batch_id = f"{source}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = IngestReport(source, batch_id)
    files = discover(folder, spec)
    report.files_found = len(files)
    first_file, in_ledger = _lake_state(spark, settings, source)
    todo: list[DropFile] = []
    ledger_rows = []
    for f in files:
        if (f.relative, f.sha256) in in_ledger or first_file.get(f.sha256) == f.relative:
            report.files_already_ingested += 1
        elif f.sha256 in first_file:
            report.files_identical_to_another.append(f.relative)
            copy = FileResult(f.relative, 0, 0, "-", [], [])
            ledger_rows.append(_ledger_row(source, f, copy, batch_id, now, duplicate_of=first_file[f.sha256]))
        else:
            first_file[f.sha256] = f.relative
            todo.append(f)
    if not todo and not ledger_rows:
        report.seconds = time.monotonic() - started
        return report

    staging = f"{settings.lake_root}/_staging/{batch_id}"
    filesystem, staging_path = pafs.FileSystem.from_uri(staging if "://" in staging else f"file://{staging}")
    for part in ("bronze", "ledger"):
        filesystem.create_dir(f"{staging_path}/{part}", recursive=True)
    try:
        for i, f in enumerate(todo):
            meta = {"drop_date": f.drop_date, "batch_id": batch_id, "file": f.relative, "sha256": f.sha256, "ingested_at": now}
            table, result = to_bronze_table(read_drop(f.path.read_bytes(), spec, file_name=f.path.name), spec, meta)
            pq.write_table(table, f"{staging_path}/bronze/part-{i:05d}.parquet", filesystem=filesystem)
            report.files.append(result)
            ledger_rows.append(_ledger_row(source, f, result, batch_id, now))
            if progress and (i + 1) % 20 == 0:
                progress(f"{source}: read {i + 1}/{len(todo)} files")
        if todo:
            staged = spark.read.schema(get_contract(f"bronze.{source}").ddl()).parquet(f"{staging}/bronze")
            lake.write(spark, settings, f"bronze.{source}", staged)
            written = lake.read(spark, settings, f"bronze.{source}").where(f"_batch_id = '{batch_id}'").count()
            if written != report.records:
                raise IngestError(f"bronze.{source}: batch {batch_id} read {report.records} records but {written} rows are in the table")
        ledger = get_contract("ops.ingest_ledger")
        pq.write_table(
            pa.Table.from_pylist(ledger_rows, schema=ledger.arrow_schema()),
            f"{staging_path}/ledger/part-00000.parquet",
            filesystem=filesystem,
        )
        lake.write(spark, settings, "ops.ingest_ledger", spark.read.schema(ledger.ddl()).parquet(f"{staging}/ledger"))
    finally:
        filesystem.delete_dir(staging_path)
    report.seconds = time.monotonic() - started
    return report


def _ledger_row(source: str, f: DropFile, result: FileResult, batch_id: str, now: datetime, duplicate_of: str | None = None) -> dict:
    return {
        "source": source,
        "file": f.relative,
        "file_sha256": f.sha256,
        "file_bytes": f.size,
        "drop_date": f.drop_date,
        "encoding": result.encoding,
        "records": result.records,
        "parse_errors": result.parse_errors,
        "unknown_fields": ",".join(result.unknown_fields) or None,
        "missing_fields": ",".join(result.missing_fields) or None,
        "duplicate_of": duplicate_of,
        "batch_id": batch_id,
        "ingested_at": now,
    }
