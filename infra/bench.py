"""CityBrain benchmark: prints how long the demo city, bronze ingestion, silver refining, every gold job, the serving
views and the weekly report take, and peak memory.

    .venv/bin/python infra/bench.py [--days 84] [--scale 1.0] [--keep DIR]

Works in a temporary folder (or --keep DIR) with its own engine, so it never touches ./lake.
Figures are printed, not asserted: compare runs on the same machine.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

from citybrain import engine, serving
from citybrain.democity import generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.report import publish
from citybrain.jobs.silver import refine
from citybrain.schemas.gold.report_index import LANGUAGES
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=84)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20260831)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="citybrain-bench-"))
    settings = Settings.from_env().with_(
        lake_root=str(work / "lake"),
        state_dir=work / "state",
        demo_dir=work / "demo_city",
        reports_dir=work / "reports",
        spark_remote="",
    )
    print(f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}")
    print(f"demo city: {args.days} days, scale {args.scale}, seed {args.seed}; work folder {work}")

    t = time.monotonic()
    manifest = generate(settings.demo_dir, seed=args.seed, days=args.days, scale=args.scale)
    gen_s = time.monotonic() - t
    drop_bytes = sum(p.stat().st_size for p in (settings.demo_dir / "drops").rglob("*") if p.is_file())
    print(f"generate: {gen_s:.1f} s, {drop_bytes / 1e6:.0f} MB of drops, {manifest.get('totals')}")

    t = time.monotonic()
    info, _ = engine.start(settings)
    print(f"engine start: {time.monotonic() - t:.2f} s (Sail pid {info.pid})")
    try:
        spark = engine.get_session(settings)
        total_records, total_s = 0, 0.0
        print(f"{'source':<12} {'files':>6} {'records':>10} {'seconds':>8} {'records/s':>10}")
        for source in all_sources():
            report = ingest.run(spark, settings, source)
            total_records += report.records
            total_s += report.seconds
            rate = report.records / report.seconds if report.seconds else 0
            print(f"{source:<12} {len(report.files):>6} {report.records:>10,} {report.seconds:>8.1f} {rate:>10,.0f}")
        print(f"{'all':<12} {'':>6} {total_records:>10,} {total_s:>8.1f} {total_records / total_s:>10,.0f}")
        print(f"{'refine':<12} {'in':>10} {'accepted':>9} {'quarantined':>11} {'collapsed':>9} {'seconds':>8} {'records/s':>10}")
        refine_in, refine_s = 0, 0.0
        for source in sorted(all_sources(), key=lambda s: s != "registry"):
            r = refine.refine(spark, settings, source)
            refine_in += r.records_in
            refine_s += r.seconds
            rate = r.records_in / r.seconds if r.seconds else 0
            print(
                f"{source:<12} {r.records_in:>10,} {r.accepted:>9,} {r.quarantined:>11,} {r.collapsed:>9,} {r.seconds:>8.1f} {rate:>10,.0f}"
            )
        print(f"{'all':<12} {refine_in:>10,} {'':>9} {'':>11} {'':>9} {refine_s:>8.1f} {refine_in / refine_s:>10,.0f}")
        from citybrain.jobs.gold import GOLD_TABLES

        print(f"{'gold':<24} {'rows':>8} {'seconds':>8}")
        for table in GOLD_TABLES:
            g = importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings)
            print(f"{table:<24} {g.rows:>8,} {g.seconds:>8.1f}")
        t = time.monotonic()
        views = serving.build_serving_db(settings)
        print(f"serving views: {time.monotonic() - t:.1f} s ({len(views.views)} views)")
        for lang in LANGUAGES:
            t = time.monotonic()
            report = publish.run(spark, settings, lang=lang)
            print(
                f"weekly report {report.iso_week} ({lang}): {time.monotonic() - t:.1f} s, PDF {report.pdf_path.stat().st_size / 1e3:.0f} kB"
            )
        t = time.monotonic()
        again = [ingest.run(spark, settings, s).files for s in all_sources()]
        assert not any(again), "a second ingest found new files"
        print(f"re-ingest of the same drops (no-op): {time.monotonic() - t:.2f} s")
        print(
            f"peak memory: Sail engine {_peak_rss_mb(info.pid):.0f} MB, client {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
        spark.stop()
    finally:
        engine.stop(settings)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
