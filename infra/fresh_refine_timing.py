"""What a small source's refine costs in a fresh process, the way an Airflow task runs it.

    .venv/bin/python infra/fresh_refine_timing.py [--source calendar] [--repeat 3] [--forked]

Copies the source's bronze table (and silver.grid, which located sources are placed on) from
the environment's lake (a local lake: the default city after `citybrain demo`) into a
temporary lake, then runs ``refine.refine`` of that source in a new Python process against
the running engine (started when none is), ``--repeat`` times, each on a fresh copy. It prints
per run: the wall time of the whole process, its CPU seconds, and the script's own phases:
imports, session, the refine, and what is outside the script (interpreter start and exit).

``--forked`` runs it the way the service stack does instead: one process imports what the
scheduler imports (citybrain.warm_scheduler.preload), then forks a child per run, as Airflow's
supervisor forks each task; the child's wall and CPU seconds are from its fork to its exit.
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


FORKED_PARENT = """
import json, os, sys, time
from citybrain import warm_scheduler
warm_scheduler.preload()
source, child_code, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
for root in roots:
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.environ["CITYBRAIN_LAKE_ROOT"] = root
        sys.argv = ["child", source]
        exec(compile(child_code, "child", "exec"), {"__name__": "child"})
        sys.stdout.flush()
        os._exit(0)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - began
    print(json.dumps({"forked": {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "status": status}}), flush=True)
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


def forked_runs(settings: Settings, source: str, remote: str, repeat: int) -> list[dict]:
    """``repeat`` refines forked from one warm process, each on its own copy of the inputs."""
    with tempfile.TemporaryDirectory(prefix="citybrain-forked-refine-") as folder:
        roots = [Path(folder) / f"lake{i}" for i in range(repeat)]
        for root in roots:
            copy_inputs(settings, source, root)
        env = {**os.environ, "CITYBRAIN_SPARK_REMOTE": remote}
        argv = [sys.executable, "-c", FORKED_PARENT, source, CHILD, *map(str, roots)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    runs, phases = [], None
    for line in out:
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "forked" in record:
            forked = record["forked"]
            if forked["status"] != 0 or phases is None:
                raise RuntimeError(f"a forked refine failed (status {forked['status']})")
            runs.append({**phases, "wall": forked["wall"], "cpu": forked["cpu"], "outside": forked["wall"] - phases["script"]})
            phases = None
        else:
            phases = record
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Needs a local lake with the source's bronze table (run `citybrain demo` first).",
    )
    parser.add_argument("--source", default="calendar", help="the source whose refine is timed (default: calendar, 84 records)")
    parser.add_argument("--repeat", type=int, default=3, help="runs, each on a fresh copy of its inputs (default: 3)")
    parser.add_argument("--forked", action="store_true", help="fork each run from a warm process, as the service stack does")
    args = parser.parse_args()
    settings = Settings.from_env()
    _, started = engine.start(settings)
    try:
        remote = engine.remote_url(settings)
        print(f"{'run':>3} {'records':>8} {'wall s':>7} {'cpu s':>6} {'imports':>8} {'session':>8} {'refine':>7} {'start+exit':>10}")
        runs = forked_runs(settings, args.source, remote, args.repeat) if args.forked else None
        for i in range(args.repeat):
            r = runs[i] if runs else one_run(settings, args.source, remote)
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
