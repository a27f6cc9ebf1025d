"""Ingest one department's new drop files into its append-only bronze table.

extract: find the source's drop files, skip those whose checksum is already in the lake;
transform: read each into text records mapped to bronze columns (``to_bronze_table``);
load: stage them as Parquet beside the lake, append them to ``bronze.<source>`` in one
Delta commit through the contract, check the row count, and record each file in
``ops.ingest_ledger``.

Only regular files are read. A symbolic link (unless ``drops_follow_links`` allows links to
files inside the drop folder), a directory, a pipe, a device or a socket named like a drop
is rejected unread; so is a file without a drop date in its name, or one that cannot be
read. A rejected file gets a ledger row with the reason and adds no rows; the other files
of the run are taken in, and the summary names it (``rejected_files``: warn or fail).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from citybrain import lake, locks
from citybrain.jobs.bronze.readers import DecodedDrop, read_drop
from citybrain.schemas import get_contract
from citybrain.schemas.sources import SourceSpec, get_source
from citybrain.settings import Settings
from citybrain.text import printable

log = logging.getLogger(__name__)


#: characters of an unknown field's name a summary shows (a binary file's "header" can be any length)
FIELD_NAME_SHOWN = 40


class IngestError(RuntimeError):
    """A drop could not be taken into bronze; the message says which file and why."""


@dataclass(frozen=True)
class DropFile:
    path: Path
    relative: str
    sha256: str
    size: int
    drop_date: date


@dataclass(frozen=True)
class RejectedFile:
    relative: str
    reason: str
    sha256: str = ""  # empty when the file was rejected unread
    size: int = 0
    drop_date: date | None = None


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
    rejected: list[RejectedFile] = field(default_factory=list)
    seconds: float = 0.0
    day: date | None = None  # a dated run's day (None: every new file)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def parse_errors(self) -> int:
        return sum(f.parse_errors for f in self.files)

    def summary(self) -> str:
        drift = sorted({u for f in self.files for u in f.unknown_fields})
        text = (
            f"{self.source}{'' if self.day is None else f' ({self.day})'}: {len(self.files)} new file(s), {self.records:,} records"
            f" ({self.parse_errors} unparsable, kept), {self.files_already_ingested} file(s) already in bronze"
        )
        if self.files_identical_to_another:
            text += f", {len(self.files_identical_to_another)} identical copy(ies) skipped"
        if drift:
            names = [name if len(name) <= FIELD_NAME_SHOWN else name[:FIELD_NAME_SHOWN] + "…" for name in drift]
            text += f"; unknown fields kept in _extra: {printable(', '.join(names))}"
        if self.rejected:
            named = "; ".join(f"{printable(r.relative)} ({printable(r.reason)})" for r in self.rejected)
            text += f"; REJECTED {len(self.rejected)} file(s), no rows taken from them: {named}"
        return text + f" [{self.seconds:.1f} s]"


def _not_regular(path: Path, folder: Path, follow_links: bool) -> str | None:
    """Why ``path`` may not be read as a drop (None: it is a regular file, or an allowed link to one)."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        if not follow_links:
            return "a symbolic link, not followed (CITYBRAIN_DROPS_FOLLOW_LINKS=yes follows links to files inside the drop folder)"
        if not path.resolve().is_relative_to(folder.resolve()):
            return "a symbolic link to outside the drop folder, not followed"
        mode = os.stat(path).st_mode
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
    )
    for is_kind, kind in kinds:
        if is_kind(mode):
            return f"{kind}, not a regular file"
    return None if stat.S_ISREG(mode) else "not a regular file"


def read_regular(path: Path, follow_links: bool = False) -> bytes:
    """The bytes of a regular file, opened so that a link, pipe or device swapped in after the check is refused."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_links else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IngestError(f"{path}: not a regular file")
        return fh.read()


def discover(
    folder: Path, spec: SourceSpec, *, follow_links: bool = False, day: date | None = None
) -> tuple[list[DropFile], list[RejectedFile]]:
    """The source's drop files in ``folder``, oldest drop date first (named ``<source>/<file>``),
    and those that may not be read, each with the reason. With ``day``, only the files dated
    that day (a source whose file names carry no date dates its files by the run's day)."""
    found, rejected = [], []
    for path in sorted(folder.glob(spec.glob)) if folder.is_dir() else []:
        relative = f"{spec.name}/{path.relative_to(folder)}"
        reason = _not_regular(path, folder, follow_links)
        if reason:
            rejected.append(RejectedFile(relative, reason))
            continue
        try:
            data = read_regular(path, follow_links)
        except OSError as error:
            rejected.append(RejectedFile(relative, f"unreadable: {error.strerror or error}"))
            continue
        digest = hashlib.sha256(data).hexdigest()
        try:
            found.append(DropFile(path, relative, digest, len(data), _drop_date(path, spec, day)))
        except IngestError as error:
            rejected.append(RejectedFile(relative, str(error).split(": ", 1)[-1], digest, len(data)))
    if day is not None:
        found = [f for f in found if f.drop_date == day]
        rejected = [r for r in rejected if r.drop_date in (None, day)]
    return sorted(found, key=lambda f: (f.drop_date, f.relative)), rejected


def _drop_date(path: Path, spec: SourceSpec, day: date | None = None) -> date:
    if spec.drop_date is None:  # the mapping says the file names carry no date
        return day or datetime.now(UTC).date()
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
    """(checksum -> first file taken in with it, {(file, checksum)} already in the ledger, rejected or not)."""
    first_file: dict[str, str] = {}
    in_ledger: set[tuple[str, str]] = set()
    if lake.exists(settings, "ops.ingest_ledger"):
        ledger = lake.read(spark, settings, "ops.ingest_ledger").where(f"source = '{source}'")
        # a ledger written before files could be rejected has no rejected_reason column
        rejected = "rejected_reason" if "rejected_reason" in ledger.columns else "CAST(NULL AS STRING)"
        rows = ledger.selectExpr("file", "file_sha256", "duplicate_of", f"{rejected} AS rejected_reason").orderBy("ingested_at", "file")
        for file, sha, duplicate_of, rejected_reason in rows.collect():
            in_ledger.add((file, sha))
            if rejected_reason is None:
                first_file.setdefault(sha, duplicate_of or file)
    if lake.exists(settings, f"bronze.{source}"):
        # Bronze is the truth should a run have stopped between its bronze and ledger commits.
        for file, sha in lake.read(spark, settings, f"bronze.{source}").select("_source_file", "_file_sha256").distinct().collect():
            first_file.setdefault(sha, file)
    return first_file, in_ledger


def run(
    spark,
    settings: Settings,
    source: str,
    *,
    drops_dir: Path | None = None,
    folder: Path | None = None,
    progress=None,
    day: date | None = None,
) -> IngestReport:
    """Take every new drop file of ``source`` into ``bronze.<source>``; a no-op when there is none.
    With ``day`` (a dated run: citybrain.run_dates), only the new files dated that day.

    A file is identified by its checksum: a file already in the lake is skipped; a new
    file whose bytes equal an earlier one's (a re-sent export) adds no rows and is
    recorded in the ledger as a copy of it.
    """
    started = time.monotonic()
    spec = get_source(source)
    folder = Path(folder) if folder else Path(drops_dir or settings.demo_dir / "drops") / spec.name
    now = datetime.now(UTC)
    batch_id = f"{source}-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = IngestReport(source, batch_id, day=day)
    files, rejected = discover(folder, spec, follow_links=settings.drops_follow_links, day=day)
    report.files_found = len(files) + len(rejected)
    # Two runs of one source never load a file twice: the ledger check and the commits
    # that follow are one step under the source's lock.
    with locks.file_lock(locks.lock_path(settings, f"ingest-{source}")):
        _take_in(spark, settings, spec, files, rejected, report, now, progress)
    report.seconds = time.monotonic() - started
    if report.rejected:
        log.warning(report.summary())
        if settings.rejected_files == "fail":
            raise IngestError(f"{report.summary()} (CITYBRAIN_REJECTED_FILES=fail)")
    return report


def _take_in(spark, settings: Settings, spec: SourceSpec, files, rejected, report: IngestReport, now: datetime, progress) -> None:
    """Skip what the lake already holds, then load the rest (``run`` holds the source's lock)."""
    source, batch_id = spec.name, report.batch_id
    first_file, in_ledger = _lake_state(spark, settings, source)
    todo: list[DropFile] = []
    ledger_rows = []
    for r in rejected:
        if (r.relative, r.sha256) not in in_ledger:  # recorded once, until the file changes
            report.rejected.append(r)
            ledger_rows.append(_rejected_row(source, r, batch_id, now))
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
    if todo or ledger_rows:
        _load(spark, settings, spec, todo, ledger_rows, report, batch_id, now, progress)


def _load(
    spark, settings: Settings, spec: SourceSpec, todo, ledger_rows, report: IngestReport, batch_id: str, now: datetime, progress
) -> None:
    """Read and stage every file to take in, append them to bronze in one commit, then write the ledger rows."""
    source = spec.name
    with lake.staging_folder(settings, batch_id) as folder:
        for part in ("bronze", "ledger"):
            folder.filesystem.create_dir(f"{folder.path}/{part}", recursive=True)
        staged_parts = 0
        for i, f in enumerate(todo):
            meta = {"drop_date": f.drop_date, "batch_id": batch_id, "file": f.relative, "sha256": f.sha256, "ingested_at": now}
            try:
                data = read_regular(f.path, settings.drops_follow_links)
                if hashlib.sha256(data).hexdigest() != f.sha256:
                    raise IngestError("the file changed while it was being read; it is taken in on the next run")
                table, result = to_bronze_table(read_drop(data, spec, file_name=f.path.name), spec, meta)
            except Exception as error:  # noqa: BLE001 - one bad file must not block the good ones beside it
                reason = f"unreadable: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:500]
                rejected = RejectedFile(f.relative, reason, f.sha256, f.size, f.drop_date)
                report.rejected.append(rejected)
                ledger_rows.append(_rejected_row(source, rejected, batch_id, now))
                continue
            pq.write_table(table, f"{folder.path}/bronze/part-{i:05d}.parquet", filesystem=folder.filesystem)
            staged_parts += 1
            report.files.append(result)
            ledger_rows.append(_ledger_row(source, f, result, batch_id, now))
            if progress and (i + 1) % 20 == 0:
                progress(f"{source}: read {i + 1}/{len(todo)} files")
        if staged_parts:
            staged = spark.read.schema(get_contract(f"bronze.{source}").ddl()).parquet(f"{folder.uri}/bronze")
            lake.write(spark, settings, f"bronze.{source}", staged)
            written = lake.read(spark, settings, f"bronze.{source}").where(f"_batch_id = '{batch_id}'").count()
            if written != report.records:
                raise IngestError(f"bronze.{source}: batch {batch_id} read {report.records} records but {written} rows are in the table")
        ledger = get_contract("ops.ingest_ledger")
        pq.write_table(
            pa.Table.from_pylist(ledger_rows, schema=ledger.arrow_schema()),
            f"{folder.path}/ledger/part-00000.parquet",
            filesystem=folder.filesystem,
        )
        lake.write(spark, settings, "ops.ingest_ledger", spark.read.schema(ledger.ddl()).parquet(f"{folder.uri}/ledger"))


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
        "rejected_reason": None,
    }


def _rejected_row(source: str, r: RejectedFile, batch_id: str, now: datetime) -> dict:
    return {
        "source": source,
        "file": r.relative,
        "file_sha256": r.sha256,
        "file_bytes": r.size,
        "drop_date": r.drop_date or now.date(),
        "encoding": "-",
        "records": 0,
        "parse_errors": 0,
        "unknown_fields": None,
        "missing_fields": None,
        "duplicate_of": None,
        "batch_id": batch_id,
        "ingested_at": now,
        "rejected_reason": r.reason,
    }
