"""What a small source's refine costs in a fresh process, the way an Airflow task runs it.

    .venv/bin/python infra/fresh_refine_timing.py [--source calendar] [--repeat 3]

Copies the source's bronze table (and silver.grid, which located sources are placed on) from
the environment's lake (a local lake: the default city after `citybrain demo`) into a
temporary lake, then runs ``refine.refine`` of that source in a new Python process against
the running engine (started when none is), ``--repeat`` times, each on a fresh copy. It prints
per run: the wall time of the whole process, its CPU seconds, and the script's own phases:
imports, session, the refine, and what is outside the script (interpreter start and exit).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from citybrain import engine, lake
from citybrain.schemas.sources import get_source
from citybrain.settings import Settings

CHILD = """
import json, sys, time
began = time.perf_counter()
from citybrain import engine
from citybrain.jobs.silver import refine
from citybrain.settings import Settings
imported = time.perf_counter()
settings = Settings.from_env()
spark = engine.get_session(settings)
connected = time.perf_counter()
report = refine.refine(spark, settings, sys.argv[1])
done = time.perf_counter()
print(json.dumps({"imports": imported - began, "session": connected - imported, "refine": done - connected,
                  "script": done - began, "records": report.records_in}))
"""


def copy_inputs(settings: Settings, source: str, root: Path) -> None:
    tables = [f"bronze.{source}"]
    spec = get_source(source)
    if spec.silver is not None and spec.silver.locate and spec.silver.registry:
        tables.append("silver.grid")
    for name in tables:
        target = root / Path(lake.table_location(settings, name)).relative_to(settings.lake_root)
        shutil.copytree(lake.table_location(settings, name), target)


def one_run(settings: Settings, source: str, remote: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="citybrain-fresh-refine-") as folder:
        root = Path(folder) / "lake"
        copy_inputs(settings, source, root)
        env = {**os.environ, "CITYBRAIN_LAKE_ROOT": str(root), "CITYBRAIN_SPARK_REMOTE": remote}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, source], env=env, capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - began
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    phases = json.loads(out.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**phases, "wall": wall, "cpu": cpu, "outside": wall - phases["script"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="calendar")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Settings.from_env()
    _, started = engine.start(settings)
    try:
        remote = engine.remote_url(settings)
        print(f"{'run':>3} {'records':>8} {'wall s':>7} {'cpu s':>6} {'imports':>8} {'session':>8} {'refine':>7} {'start+exit':>10}")
        for i in range(args.repeat):
            r = one_run(settings, args.source, remote)
            print(
                f"{i + 1:>3} {r['records']:>8,} {r['wall']:>7.2f} {r['cpu']:>6.2f} {r['imports']:>8.2f} {r['session']:>8.2f}"
                f" {r['refine']:>7.2f} {r['outside']:>10.2f}",
                flush=True,
            )
    finally:
        if started:
            engine.stop(settings)


if __name__ == "__main__":
    main()
