"""Where one source's refine spends its time, in a warm process: every Spark Connect call and every
full garbage collection, per run.

    .venv/bin/python infra/refine_profile.py --source petitions [--repeat 10]

Like infra/fresh_refine_timing.py, it copies the source's bronze table (and silver.grid for
located sources) from the environment's lake into a temporary lake, once per run, and refines
it against the running engine (started when none is, and waited for ``--settle`` seconds). Here
every run is in this one process, as a pipeline runs its refines one after another. Per run it
prints the wall and client CPU seconds, the Spark Connect calls and the time spent in them, and
the garbage collections of the oldest generation (how many, how long). The first run pays the
imports. Each run's lake is a new copy, so a located source builds its grid index every run (a
pipeline builds it once per process). Then it prints the calls of the last run, grouped by the line of the project that made
them, slowest first. These are figures to read, not to assert.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import tempfile
import time
import traceback
from pathlib import Path

from citybrain import engine
from citybrain.jobs.silver import refine
from citybrain.settings import Settings

PROJECT = str(Path(__file__).resolve().parents[1]) + os.sep
VENV = f"{os.sep}.venv{os.sep}"


def _caller() -> str:
    """The innermost frame of the project's own code (not its virtualenv), as folder/file:line function."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if frame.filename.startswith(PROJECT) and VENV not in frame.filename and not frame.filename.endswith("refine_profile.py"):
            path = Path(frame.filename)
            return f"{path.parent.name}/{path.name}:{frame.lineno} {frame.name}"
    return "(outside the project)"


class CallTimer:
    """Times every Spark Connect round trip (AnalyzePlan and ExecutePlan) of this process."""

    def __init__(self) -> None:
        from pyspark.sql.connect.client.core import SparkConnectClient

        self.calls: list[tuple[str, str, float]] = []
        analyze, execute = SparkConnectClient._analyze, SparkConnectClient._execute_and_fetch_as_iterator
        timer = self

        def timed_analyze(client, method, **kwargs):
            began = time.perf_counter()
            try:
                return analyze(client, method, **kwargs)
            finally:
                timer.calls.append((f"analyze {method}", _caller(), time.perf_counter() - began))

        def timed_execute(client, *args, **kwargs):
            began, who = time.perf_counter(), _caller()
            try:
                yield from execute(client, *args, **kwargs)
            finally:
                timer.calls.append(("execute", who, time.perf_counter() - began))

        SparkConnectClient._analyze = timed_analyze
        SparkConnectClient._execute_and_fetch_as_iterator = timed_execute


class CollectionTimer:
    """Counts and times the garbage collections of the oldest generation."""

    def __init__(self) -> None:
        self.count, self.seconds, self._began = 0, 0.0, 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.count += 1
            self.seconds += time.perf_counter() - self._began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Needs a local lake with the source's bronze table (run `citybrain demo` first)."
    )
    parser.add_argument("--source", default="petitions", help="the source whose refine is profiled (default: petitions)")
    parser.add_argument("--repeat", type=int, default=5, help="runs, each on a fresh copy of its inputs (default: 5)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait after starting an engine (default: 3)")
    args = parser.parse_args()
    from fresh_refine_timing import copy_inputs  # infra/ is this script's folder, first on sys.path

    settings = Settings.from_env()
    _, started = engine.start(settings)
    if started:
        time.sleep(args.settle)  # let the engine preload what its Python UDFs import, as a running stack has
    try:
        spark = engine.get_session(settings)
        calls, collections_ = CallTimer(), CollectionTimer()
        print(f"{'run':>3} {'records':>8} {'wall s':>7} {'cpu s':>6} {'calls':>6} {'in calls s':>10} {'full gc':>8} {'gc s':>6}")
        for run in range(1, args.repeat + 1):
            with tempfile.TemporaryDirectory(prefix="citybrain-refine-profile-") as folder:
                copy_inputs(settings, args.source, Path(folder) / "lake")
                copy = settings.with_(lake_root=str(Path(folder) / "lake"))
                calls.calls.clear()
                collections_.count, collections_.seconds = 0, 0.0
                wall, cpu = time.perf_counter(), time.process_time()
                report = refine.refine(spark, copy, args.source)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            in_calls = sum(seconds for _, _, seconds in calls.calls)
            print(
                f"{run:>3} {report.records_in:>8,} {wall:>7.2f} {cpu:>6.2f} {len(calls.calls):>6} {in_calls:>10.2f}"
                f" {collections_.count:>8} {collections_.seconds:>6.2f}",
                flush=True,
            )
        groups: dict[tuple[str, str], list] = collections.defaultdict(lambda: [0, 0.0])
        for kind, who, seconds in calls.calls:
            groups[(kind, who)][0] += 1
            groups[(kind, who)][1] += seconds
        print(f"\nthe last run's calls, by the line that made them:\n{'ms':>8} {'calls':>5}  {'kind':<24} line")
        for (kind, who), (n, seconds) in sorted(groups.items(), key=lambda item: -item[1][1]):
            print(f"{seconds * 1000:>8.1f} {n:>5}  {kind:<24} {who}")
    finally:
        if started:
            engine.stop(settings)


if __name__ == "__main__":
    main()
