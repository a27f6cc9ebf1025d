"""What one new day of drops costs on top of a city's history: ingest, refine and gold for that day alone
against the full run that built the history.

    .venv/bin/python infra/bench_new_day.py [--days 84] [--scale 1.0] [--keep DIR] [--gold-rounds N]

Generates the demo city, holds back its last day's drop files, runs every stage on the
rest (the history), then puts the last day's files back and runs every stage again: that
second run has one day to take in. Per stage it prints records in (rows out for gold), seconds,
the day's share of them and of the time. A stage whose cost follows the new data has a time share
near its record share plus a fixed cost; one that re-reads or rewrites the whole history
costs about as much as the full run. Works in a temporary folder (or --keep DIR) with its
own engine. Figures are printed, not asserted.

A gold table's new day takes a second or two, so one run of it is at the mercy of whatever
else the machine does. ``--gold-rounds N`` builds the new day's gold N times, each time from
the gold tables and build watermarks as the history left them (copied aside before the first
round, put back before the next), and reports each table's median.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path

from citybrain import engine, lake
from citybrain.democity import generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas.ops import GOLD_BUILDS
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings


def hold_back(drops: Path, day: str, held: Path) -> list[Path]:
    """Move the drop files of ``day`` (YYYYMMDD in their name) into ``held``; return where they were."""
    moved = []
    for path in sorted(p for p in drops.rglob(f"*{day}*") if p.is_file()):
        target = held / path.relative_to(drops)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        moved.append(path)
    return moved


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its finished children so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


Figures = dict[str, tuple[int, float, float]]  # stage -> (records, seconds, CPU seconds of engine and client)
#: one stage's printed row (``main``): stage, history records, seconds, cpu, new day records, seconds, cpu
STAGE_ROW = re.compile(
    r"^(?P<stage>ingest|refine \S+|gold \S+)\s+(?P<records>[\d,]+)\s+(?P<seconds>[\d.]+)\s+(?P<cpu>[\d.]+)"
    r"\s+(?P<day_records>[\d,]+)\s+(?P<day_seconds>[\d.]+)\s+(?P<day_cpu>[\d.]+)"
)


def stage_row(stage: str, history: tuple[int, float, float], day: tuple[int, float, float]) -> str:
    """One stage's printed row: its history's and its new day's figures, and the day's shares of them (read back by ``STAGE_ROW``)."""
    (n, s, c), (dn, ds, dc) = history, day
    shares = [f"{100 * dn / n:.1f}" if n else "-", *(f"{100 * d / h:.1f}" if h >= 0.01 else "-" for d, h in ((ds, s), (dc, c)))]
    return f"{stage:<30} {n:>9,} {s:>8.2f} {c:>7.2f} {dn:>8,} {ds:>8.2f} {dc:>7.2f} {shares[0]:>7} {shares[1]:>7} {shares[2]:>6}"


def _timed(engine_pid: int, work):
    cpu = cpu_seconds(engine_pid) + time.process_time()
    result = work()
    return result, cpu_seconds(engine_pid) + time.process_time() - cpu


def run_bronze_and_silver(spark, settings: Settings, engine_pid: int) -> Figures:
    """Ingest of every source, then refine of every source. On a shared machine the CPU seconds vary
    less than the wall time."""
    figures = {}
    ingested, cpu = _timed(engine_pid, lambda: [ingest.run(spark, settings, s) for s in all_sources()])
    figures["ingest"] = (sum(r.records for r in ingested), sum(r.seconds for r in ingested), cpu)
    for source in sorted(all_sources(), key=lambda s: s != "registry"):
        r, cpu = _timed(engine_pid, lambda source=source: refine.refine(spark, settings, source))
        figures[f"refine {source}"] = (r.records_in, r.seconds, cpu)
    return figures


def run_gold(spark, settings: Settings, engine_pid: int) -> Figures:
    """Every gold table, in the pipeline's order."""
    from citybrain.jobs.gold import GOLD_TABLES

    figures = {}
    for table in GOLD_TABLES:
        g, cpu = _timed(engine_pid, lambda table=table: importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings))
        figures[f"gold {table}"] = (g.rows, g.seconds, cpu)
    return figures


def gold_state(settings: Settings) -> list[Path]:
    """The folders a gold build reads and writes besides silver: the gold tables and their build watermarks."""
    return [Path(settings.lake_root) / "gold", Path(lake.table_location(settings, GOLD_BUILDS.name))]


def run_gold_rounds(spark, settings: Settings, engine_pid: int, rounds: int, aside: Path) -> Figures:
    """The new day's gold ``rounds`` times, each from the state the history left (copied to ``aside``
    first); per table the median round's seconds and CPU seconds."""
    folders = gold_state(settings)
    for folder in folders:
        shutil.copytree(folder, aside / folder.name)
    runs = []
    for round_ in range(rounds):
        if round_:
            for folder in folders:
                shutil.rmtree(folder)
                shutil.copytree(aside / folder.name, folder)
        runs.append(run_gold(spark, settings, engine_pid))
    for stage in runs[0]:
        if len({r[stage][0] for r in runs}) > 1:  # the state was not put back as it was: say so, do not hide it in a median
            print(f"warning: {stage} wrote {[r[stage][0] for r in runs]} rows in its {rounds} rounds")
    middle = rounds // 2
    return {
        stage: (runs[0][stage][0], sorted(r[stage][1] for r in runs)[middle], sorted(r[stage][2] for r in runs)[middle])
        for stage in runs[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20260831)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--gold-rounds", type=int, default=1, metavar="N", help="build the new day's gold N times from the same state; report the median"
    )
    args = parser.parse_args()
    if args.gold_rounds < 1:
        parser.error("--gold-rounds must be at least 1")

    work = args.keep or Path(tempfile.mkdtemp(prefix="citybrain-new-day-"))
    settings = Settings.from_env().with_(
        lake_root=str(work / "lake"),
        state_dir=work / "state",
        demo_dir=work / "demo_city",
        reports_dir=work / "reports",
        spark_remote="",
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    manifest = generate(settings.demo_dir, seed=args.seed, days=args.days, scale=args.scale)
    last = manifest["end"].replace("-", "")
    drops = settings.demo_dir / "drops"
    moved = hold_back(drops, last, work / "held")
    print(
        f"demo city: {args.days} days, scale {args.scale}; history = the first {args.days - 1} days, new day = {last} ({len(moved)} files)"
    )
    info, _ = engine.start(settings)
    try:
        spark = engine.get_session(settings)
        history = run_bronze_and_silver(spark, settings, info.pid) | run_gold(spark, settings, info.pid)
        for path in moved:
            shutil.move(work / "held" / path.relative_to(drops), path)
        day = run_bronze_and_silver(spark, settings, info.pid)
        with tempfile.TemporaryDirectory(prefix="gold-state-", dir=work) as aside:
            day |= run_gold_rounds(spark, settings, info.pid, args.gold_rounds, Path(aside))
        print("seconds: wall time; cpu: CPU seconds of the engine and this client together")
        if args.gold_rounds > 1:
            print(f"the new day's gold: the median of {args.gold_rounds} rounds from the same state, per table")
        print(
            f"{'stage':<30} {'history':>9} {'seconds':>8} {'cpu':>7} {'new day':>8} {'seconds':>8} {'cpu':>7}"
            f" {'rows %':>7} {'time %':>7} {'cpu %':>6}"
        )
        for stage, figures in history.items():
            print(stage_row(stage, figures, day[stage]))
        for layer in ("ingest", "refine", "gold"):
            h, hc = (sum(f[i] for k, f in history.items() if k.startswith(layer)) for i in (1, 2))
            d, dc = (sum(f[i] for k, f in day.items() if k.startswith(layer)) for i in (1, 2))
            print(
                f"{layer}: history {h:.1f} s ({hc:.1f} cpu), new day {d:.1f} s ({dc:.1f} cpu): {100 * d / h:.1f} % of the time, {100 * dc / hc:.1f} % of the cpu"
            )
        spark.stop()
    finally:
        engine.stop(settings)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
