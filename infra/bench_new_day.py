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


def run_stages(spark, settings: Settings) -> dict[str, tuple[int, float]]:
    """(records, seconds) per stage: ingest and refine of every source, every gold table."""
    from citybrain.jobs.gold import GOLD_TABLES

    figures = {}
    ingested = [ingest.run(spark, settings, s) for s in all_sources()]
    figures["ingest"] = (sum(r.records for r in ingested), sum(r.seconds for r in ingested))
    for source in sorted(all_sources(), key=lambda s: s != "registry"):
        r = refine.refine(spark, settings, source)
        figures[f"refine {source}"] = (r.records_in, r.seconds)
    for table in GOLD_TABLES:
        g = importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings)
        figures[f"gold {table}"] = (g.rows, g.seconds)
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
    engine.start(settings)
    try:
        spark = engine.get_session(settings)
        history = run_stages(spark, settings)
        for path in moved:
            shutil.move(work / "held" / path.relative_to(drops), path)
        day = run_stages(spark, settings)
        print(f"{'stage':<32} {'history':>10} {'seconds':>8} {'new day':>8} {'seconds':>8} {'rows %':>7} {'time %':>7}")
        for stage, (n, s) in history.items():
            dn, ds = day[stage]
            rows = f"{100 * dn / n:.1f}" if n else "-"
            seconds = f"{100 * ds / s:.1f}" if s >= 0.01 else "-"
            print(f"{stage:<32} {n:>10,} {s:>8.2f} {dn:>8,} {ds:>8.2f} {rows:>7} {seconds:>7}")
        for layer in ("ingest", "refine", "gold"):
            h = sum(s for k, (_, s) in history.items() if k.startswith(layer))
            d = sum(s for k, (_, s) in day.items() if k.startswith(layer))
            print(f"{layer}: history {h:.1f} s, new day {d:.1f} s ({100 * d / h:.1f} %)")
        spark.stop()
    finally:
        engine.stop(settings)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
