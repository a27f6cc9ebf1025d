"""Run the pipeline stage by stage on a demo city of a given size, each stage beside its DuckDB reference.

Per stage (bronze per source, silver per entity, each gold table) it measures the wall time,
records per second, the peak memory of the engine and of this client during the stage (both
peaks reset before it through /proc/<pid>/clear_refs), then builds the stage's DuckDB reference
(citybrain.bench.reference_silver / reference_gold) from the same Delta inputs, times it,
measures its own peak memory, and checks that both sides agree on rows and key checksum.
Figures are printed, never asserted.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import platform
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import duckdb

from citybrain import lake
from citybrain.bench import Reference, key_checksum
from citybrain.settings import Settings

#: demo city volume per size (S = the default city); days stay the default 84
SIZES = {"S": 1.0, "M": 10.0, "L": 30.0}
STAGES = ("bronze", "silver", "gold")
#: the engine's memory pool (Sail's runtime.memory_pool.*): a fair pool, so one operator cannot take it all
DEFAULT_ENGINE_MEMORY = "8G"
_UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}


@dataclass
class StageResult:
    stage: str  # bronze | silver | gold
    name: str  # source, entity or gold table
    records: int  # records in (bronze, silver) or rows out (gold)
    seconds: float
    engine_mb: float
    client_mb: float
    reference_seconds: float | None = None
    reference_mb: float | None = None
    agree: str = ""  # "yes", "NO: ...", "" when there is no reference
    error: str = ""

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.reference_seconds if self.reference_seconds else None


def memory_bytes(text: str) -> int:
    """'8G', '512M', '1073741824' -> bytes."""
    text = text.strip().upper().removesuffix("B")
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def engine_memory_env(limit: str) -> dict[str, str]:
    """Environment that makes the Sail engine use a fair memory pool of ``limit`` (default: unbounded)."""
    return {"SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair", "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(memory_bytes(limit))}


def reset_peak(pid: int) -> None:
    """Reset the peak resident memory (VmHWM) of ``pid``."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # not ours or not Linux: the peak then runs from the process start


def peak_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reference_process() -> ProcessPoolExecutor:
    """The process the DuckDB references run in: its own, so its memory never counts as the client's."""
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def reference_connection(path: Path, memory_limit: str = DEFAULT_ENGINE_MEMORY):
    """A DuckDB connection (file-backed, so a large city may spill) with delta loaded, UTC as its time
    zone and the same memory limit as the engine (DuckDB's default, 80 % of the machine, got the
    reference process killed beside the engine at M)."""
    from citybrain.serving import connect

    path.unlink(missing_ok=True)
    connection = connect(path, read_only=False)
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"SET memory_limit = '{memory_bytes(memory_limit) // 2**20}MiB'")
    return connection


def compare(connection, settings: Settings, reference: Reference, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """(product's (rows, checksum), reference's) over the reference's key columns."""
    product = f"delta_scan('{lake.table_location(settings, reference.table)}')"
    return key_checksum(connection, product, reference.key_columns), key_checksum(connection, name, reference.key_columns)


_connection = None  # the reference process's DuckDB connection, kept between stages


def build_references(
    layer: str, tables: list[str], settings: Settings, db_path: Path, memory_limit: str = DEFAULT_ENGINE_MEMORY
) -> tuple[float, float, list[str]]:
    """In the reference process: build ``layer``'s references of ``tables`` in order, compare each with
    the product; (seconds spent building, peak memory MB of this process meanwhile, disagreements)."""
    global _connection
    from citybrain.bench.reference_gold import GOLD_REFERENCES
    from citybrain.bench.reference_silver import SILVER_REFERENCES

    if _connection is None:
        _connection = reference_connection(db_path, memory_limit)
    registry = SILVER_REFERENCES if layer == "silver" else GOLD_REFERENCES
    reset_peak(os.getpid())
    seconds, verdicts = 0.0, []
    for table in tables:
        reference, name = registry[table], f"ref_{layer}_{table}"
        started = time.monotonic()
        reference.build(_connection, settings, name)
        seconds += time.monotonic() - started
        product, ours = compare(_connection, settings, reference, name)
        if product != ours:
            verdicts.append(f"NO: {reference.table} rows {product[0]:,} vs reference {ours[0]:,}, checksums differ")
    peak = peak_mb(os.getpid())
    for table in tables:
        _connection.execute(f"DROP TABLE IF EXISTS ref_{layer}_{table}")
    return seconds, peak, verdicts


class Bench:
    """One benchmark run over ``settings`` (its lake, state and demo folders), against engine ``engine_pid``."""

    def __init__(
        self, spark, settings: Settings, engine_pid: int, db_path: Path, memory_limit: str = DEFAULT_ENGINE_MEMORY,
        say: Callable[[str], None] = print,
    ) -> None:  # fmt: skip
        self.spark, self.settings, self.engine_pid, self.say = spark, settings, engine_pid, say
        self.db_path, self.memory_limit = db_path, memory_limit  # the references' DuckDB file and memory limit
        self.references = reference_process()
        self.results: list[StageResult] = []

    def _measure(self, stage: str, name: str, job: Callable[[], int]) -> StageResult:
        self.say(f"  ... {stage} {name}")
        for pid in (self.engine_pid, os.getpid()):
            reset_peak(pid)
        started = time.monotonic()
        error, records = "", 0
        try:
            records = job()
        except Exception as exc:  # noqa: BLE001 - a failed stage is reported, the others still run
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
        seconds = time.monotonic() - started
        result = StageResult(stage, name, records, seconds, peak_mb(self.engine_pid), peak_mb(os.getpid()), error=error)
        self.results.append(result)
        return result

    def _reference(self, result: StageResult, layer: str, tables: list[str]) -> None:
        """Build the stage's references (a refine may write several tables) in the reference process
        and compare each with the product."""
        if not tables or result.error:
            return
        try:
            job = self.references.submit(build_references, layer, tables, self.settings, self.db_path, self.memory_limit)
            seconds, peak, verdicts = job.result()
        except Exception as exc:  # noqa: BLE001 - reported in the table, the other stages still run
            result.agree = f"NO: reference failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
            if isinstance(exc, BrokenProcessPool):  # the process died (e.g. out of memory): the next stages get a new one
                self.references.shutdown()
                self.references = reference_process()
            return
        result.reference_seconds, result.reference_mb = seconds, peak
        result.agree = "; ".join(verdicts) or ("yes" if len(tables) == 1 else f"yes ({len(tables)} tables)")

    def _said(self, result: StageResult) -> None:
        self.say(format_line(result))

    def bronze(self, sources) -> None:
        from citybrain.jobs.bronze import ingest

        for source in sources:
            result = self._measure("bronze", source, lambda s=source: ingest.run(self.spark, self.settings, s).records)
            self._said(result)

    def silver(self, sources) -> None:
        from citybrain.bench.reference_silver import SILVER_REFERENCES
        from citybrain.jobs.silver import refine
        from citybrain.schemas.sources import get_source

        for source in sorted(sources, key=lambda s: s != "registry"):  # the grid first: every other entity is placed on it
            spec = get_source(source)
            entity = spec.silver.entity if spec.silver else "grid"
            written = (entity, *(spec.silver.derived if spec.silver else ()))
            result = self._measure("silver", entity, lambda s=source: refine.refine(self.spark, self.settings, s).records_in)
            self._reference(result, "silver", [t for t in written if t in SILVER_REFERENCES])
            self._said(result)

    def gold(self, tables) -> None:
        from citybrain.bench.reference_gold import GOLD_REFERENCES
        from citybrain.jobs.gold import TRAINED_TABLES

        def train(module) -> int:
            module.train(self.spark, self.settings)
            return 0

        for table in tables:
            module = importlib.import_module(f"citybrain.jobs.gold.{table}")
            if table in TRAINED_TABLES:  # as its DAG does: train a new model version, then score with it.
                # Training is a row of its own: the reference scores with the stored model, it does not train.
                self._said(self._measure("gold", f"{table} (training)", lambda m=module: train(m)))
            result = self._measure("gold", table, lambda m=module: m.run(self.spark, self.settings).rows)
            self._reference(result, "gold", [table] if table in GOLD_REFERENCES else [])
            self._said(result)


HEADER = (
    f"{'stage':<7} {'table':<26} {'records':>11} {'seconds':>8} {'records/s':>10} {'engine MB':>9} {'client MB':>9}"
    f" {'ref s':>7} {'ref MB':>7} {'ratio':>6}  agree"
)


def format_line(r: StageResult) -> str:
    rate = f"{r.records / r.seconds:,.0f}" if r.seconds and r.records else "-"
    ref_s = f"{r.reference_seconds:.2f}" if r.reference_seconds else "-"
    ref_mb = f"{r.reference_mb:.0f}" if r.reference_mb else "-"
    ratio = f"{r.ratio:.1f}x" if r.ratio else "-"
    line = (
        f"{r.stage:<7} {r.name:<26} {r.records:>11,} {r.seconds:>8.2f} {rate:>10} {r.engine_mb:>9.0f} {r.client_mb:>9.0f}"
        f" {ref_s:>7} {ref_mb:>7} {ratio:>6}  {r.agree}"
    )
    return f"{line}  FAILED: {r.error}" if r.error else line


def totals(results: list[StageResult]) -> list[str]:
    """Per stage and overall: product seconds, and product vs reference over the stages that have one."""
    lines = []
    for stage in (*STAGES, "all"):
        rs = [r for r in results if stage in ("all", r.stage)]
        if not rs:
            continue
        compared = [r for r in rs if r.reference_seconds]
        line = f"{stage:<7} {sum(r.seconds for r in rs):8.1f} s"
        if compared:
            product, reference = sum(r.seconds for r in compared), sum(r.reference_seconds for r in compared)
            line += f"; the {len(compared)} compared stages: {product:.1f} s vs reference {reference:.1f} s = {product / reference:.1f}x"
        lines.append(line)
    return lines


def markdown(results: list[StageResult], preamble: list[str]) -> str:
    head = "| stage | table | records | seconds | records/s | engine MB | client MB | ref s | ref MB | ratio | agree |"
    rows = [head, "|" + "---|" * 11]
    for r in results:
        rate = f"{r.records / r.seconds:,.0f}" if r.seconds and r.records else "-"
        cells = [
            r.stage, r.name, f"{r.records:,}", f"{r.seconds:.2f}", rate, f"{r.engine_mb:.0f}", f"{r.client_mb:.0f}",
            f"{r.reference_seconds:.2f}" if r.reference_seconds else "-",
            f"{r.reference_mb:.0f}" if r.reference_mb else "-",
            f"{r.ratio:.1f}x" if r.ratio else "-",
            r.agree + (f" FAILED: {r.error}" if r.error else ""),
        ]  # fmt: skip
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([*preamble, "", *rows, "", *(f"- {line}" for line in totals(results)), ""])


def read_markdown(text: str) -> tuple[float, dict[tuple[str, str], tuple[int, float]]]:
    """The demo city's scale and {(stage, table): (records, seconds)} of a table ``markdown`` wrote."""
    scale = re.search(r"^demo city: .*scale ([0-9.]+)", text, re.MULTILINE)
    if scale is None:
        raise ValueError("not a benchmark table: no 'demo city: ... scale N' line (write one with citybrain bench --markdown)")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 11 and cells[0] in STAGES:
            rows[(cells[0], cells[1])] = (int(cells[2].replace(",", "")), float(cells[3]))
    return float(scale.group(1)), rows


def scaling(small: str, large: str) -> str:
    """Time per record of every stage of the ``large`` run against the ``small`` one, as markdown.

    Per stage: (large seconds / large records) / (small seconds / small records). A gold table
    counts the rows it writes, which do not grow with the city, so for gold the time is compared
    with the growth of the city (the ratio of the two scales) instead.
    """
    small_scale, small_rows = read_markdown(small)
    large_scale, large_rows = read_markdown(large)
    growth = large_scale / small_scale
    lines = [
        "| stage | small records | small s | large records | large s | records large/small | time large/small | time per record large/small |",
        "|" + "---|" * 8,
    ]
    for key, (records, seconds) in small_rows.items():
        if key not in large_rows or not seconds:
            continue
        big_records, big_seconds = large_rows[key]
        by_city = key[0] == "gold" or not records
        grew = growth if by_city else big_records / records
        shown = ("(input)", f"({growth:g}x)") if by_city else (f"{records:,}", f"{big_records:,}")
        time_ratio = big_seconds / seconds
        lines.append(
            f"| {key[0]} {key[1]} | {shown[0]} | {seconds:.2f} | {shown[1]} | {big_seconds:.2f} | {grew:.1f} | {time_ratio:.1f} | {time_ratio / grew:.2f} |"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    memory = next(
        (int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")), 0
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.1f} GiB memory, load average {load}, Python {platform.python_version()}"


def run(
    settings: Settings,
    *,
    size: str = "S",
    scale: float | None = None,
    stages: tuple[str, ...] = STAGES,
    work: Path,
    engine_memory: str = DEFAULT_ENGINE_MEMORY,
    say: Callable[[str], None] = print,
) -> tuple[list[StageResult], list[str]]:
    """Generate the city (reused when ``work`` already holds the same one), build a fresh lake in
    ``work`` stage by stage and return the results and the lines that describe the run."""
    from citybrain import engine
    from citybrain.democity import DEMO_SOURCES, generate
    from citybrain.jobs.gold import GOLD_TABLES

    scale = SIZES[size] if scale is None else scale
    settings = settings.with_(
        lake_root=str(work / "lake"), state_dir=work / "state", demo_dir=work / "demo_city", reports_dir=work / "reports",
        spark_remote="", scale=scale,
    )  # fmt: skip
    wanted = STAGES[: max(STAGES.index(s) for s in stages) + 1]  # a stage needs the ones before it
    preamble = [f"machine: {machine()}", f"demo city: size {size}, scale {scale}, {settings.days} days, seed {settings.seed}"]
    for line in preamble:
        say(line)
    manifest = work / "demo_city" / "manifest.json"
    same = {"seed": settings.seed, "days": settings.days, "scale": scale}
    if manifest.exists() and all(json.loads(manifest.read_text()).get(k) == v for k, v in same.items()):
        say(f"demo city already in {settings.demo_dir}: reused")
    else:
        shutil.rmtree(settings.demo_dir, ignore_errors=True)  # another size's drops must not stay beside this one's
        started = time.monotonic()
        say(f"generating the demo city in {settings.demo_dir} ...")
        totals_ = generate(settings.demo_dir, seed=settings.seed, days=settings.days, scale=scale, progress=lambda m: say(f"  {m}"))
        say(f"generated in {time.monotonic() - started:.1f} s: {totals_.get('totals')}")
    for folder in ("lake", "state"):
        shutil.rmtree(work / folder, ignore_errors=True)
    os.environ.update(engine_memory_env(engine_memory))
    limit = f"memory limit: {engine_memory} for the engine (Sail fair memory pool: SAIL_RUNTIME__MEMORY_POOL__TYPE=fair, __FAIR__MAX_SIZE) and for the references (DuckDB memory_limit)"
    preamble.append(limit)
    say(limit)
    info, _ = engine.start(settings)
    say(f"engine: Sail pid {info.pid}; references: DuckDB {duckdb.__version__} in a process of their own ({work / 'reference.duckdb'})")
    spark = engine.get_session(settings)
    bench = Bench(spark, settings, info.pid, work / "reference.duckdb", engine_memory, say=say)
    try:
        say(HEADER)
        sources = [s for s in DEMO_SOURCES if (settings.demo_dir / "drops" / s).exists()] or list(DEMO_SOURCES)
        if "bronze" in wanted:
            bench.bronze(sources)
        if "silver" in wanted:
            bench.silver(sources)
        if "gold" in wanted:
            bench.gold(list(GOLD_TABLES))
    finally:
        bench.references.shutdown()
        spark.stop()
        engine.stop(settings)
    results = [r for r in bench.results if r.stage in stages]
    for line in totals(results):
        say(line)
    return results, preamble
