"""What one new day of drops costs on top of a city's history: ingest, refine and gold for that day alone
against the full run that built the history.

    .venv/bin/python infra/bench_new_day.py [--days 84] [--scale 1.0] [--keep DIR]

Generates the demo city, holds back its last day's drop files, runs every stage on the
rest (the history), then puts the last day's files back and runs every stage again: that
second run has one day to take in. Per stage it prints records in (rows out for gold), seconds,
the day's share of them and of the time. A stage whose cost follows the new data has a time share
near its record share plus a fixed cost; one that re-reads or rewrites the whole history
costs about as much as the full run. Works in a temporary folder (or --keep DIR) with its
own engine. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from citybrain import engine
from citybrain.democity import generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
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


def run_stages(spark, settings: Settings, engine_pid: int) -> dict[str, tuple[int, float, float]]:
    """(records, seconds, CPU seconds of engine and client) per stage: ingest and refine of every source,
    every gold table. On a shared machine the CPU seconds vary less than the wall time."""
    from citybrain.jobs.gold import GOLD_TABLES

    def timed(work):
        cpu = cpu_seconds(engine_pid) + time.process_time()
        result = work()
        return result, cpu_seconds(engine_pid) + time.process_time() - cpu

    figures = {}
    ingested, cpu = timed(lambda: [ingest.run(spark, settings, s) for s in all_sources()])
    figures["ingest"] = (sum(r.records for r in ingested), sum(r.seconds for r in ingested), cpu)
    for source in sorted(all_sources(), key=lambda s: s != "registry"):
        r, cpu = timed(lambda source=source: refine.refine(spark, settings, source))
        figures[f"refine {source}"] = (r.records_in, r.seconds, cpu)
    for table in GOLD_TABLES:
        g, cpu = timed(lambda table=table: importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings))
        figures[f"gold {table}"] = (g.rows, g.seconds, cpu)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20260831)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

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
        history = run_stages(spark, settings, info.pid)
        for path in moved:
            shutil.move(work / "held" / path.relative_to(drops), path)
        day = run_stages(spark, settings, info.pid)
        print("seconds: wall time; cpu: CPU seconds of the engine and this client together")
        print(
            f"{'stage':<30} {'history':>9} {'seconds':>8} {'cpu':>7} {'new day':>8} {'seconds':>8} {'cpu':>7}"
            f" {'rows %':>7} {'time %':>7} {'cpu %':>6}"
        )
        for stage, (n, s, c) in history.items():
            dn, ds, dc = day[stage]
            shares = [f"{100 * dn / n:.1f}" if n else "-", *(f"{100 * d / h:.1f}" if h >= 0.01 else "-" for d, h in ((ds, s), (dc, c)))]
            print(f"{stage:<30} {n:>9,} {s:>8.2f} {c:>7.2f} {dn:>8,} {ds:>8.2f} {dc:>7.2f} {shares[0]:>7} {shares[1]:>7} {shares[2]:>6}")
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
