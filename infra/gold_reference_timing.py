"""Time each gold job beside its DuckDB reference on the current lake, and check that they agree.

    .venv/bin/python infra/gold_reference_timing.py [--repeat N] [table ...]

Reads the lake of the environment's settings (CITYBRAIN_LAKE_ROOT; the default city after
`citybrain demo`), rebuilds each gold table whole with its job (demand_forecast: the scoring; a
model is trained first, untimed, when the lake has none), then builds its reference in an
in-memory DuckDB and prints both wall times (the best of N runs of each: the machine may be
shared), their ratio and whether rows and key checksums agree. `citybrain bench` times the same references inside the full benchmark.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time

from citybrain import engine, serving
from citybrain.bench import key_checksum
from citybrain.bench.reference_gold import GOLD_REFERENCES
from citybrain.bench.reference_performance import scan
from citybrain.jobs.gold import GOLD_TABLES, TRAINED_TABLES
from citybrain.models import demand_pipeline
from citybrain.settings import Settings


def best_of(repeat: int, run) -> float:
    """The shortest wall time of ``repeat`` calls of ``run``."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def main(tables: list[str], repeat: int = 1) -> None:
    settings = Settings.from_env()
    _, started = engine.start(settings)
    spark = engine.get_session(settings)
    duck = serving.connect(":memory:", read_only=False)
    duck.execute("SET TimeZone = 'UTC'")
    print(f"{'table':24} {'job s':>8} {'reference s':>12} {'ratio':>6}  agree")
    try:
        for table in tables or list(GOLD_TABLES):
            job = importlib.import_module(f"citybrain.jobs.gold.{table}")
            if table in TRAINED_TABLES and not demand_pipeline.versions(settings):
                job.train(spark, settings)
            # a job that builds in part is timed building whole, as the benchmark's first build is
            whole = {"full": True} if "full" in inspect.signature(job.run).parameters else {}
            job_s = best_of(repeat, lambda job=job, whole=whole: job.run(spark, settings, **whole))
            reference = GOLD_REFERENCES[table]
            ref_s = best_of(repeat, lambda reference=reference, table=table: reference.build(duck, settings, f"ref_{table}"))
            ours = key_checksum(duck, f"ref_{table}", reference.key_columns)
            theirs = key_checksum(duck, scan(settings, reference.table), reference.key_columns)
            agree = "yes" if ours == theirs else f"NO {theirs} vs {ours}"
            print(f"{table:24} {job_s:8.2f} {ref_s:12.2f} {job_s / ref_s:6.2f}  {agree} ({theirs[0]:,} rows)", flush=True)
    finally:
        spark.stop()
        if started:
            engine.stop(settings)


if __name__ == "__main__":
    args = sys.argv[1:]
    repeat = 1
    if args[:1] == ["--repeat"]:
        repeat, args = int(args[1]), args[2:]
    main(args, repeat)
