"""Airflow's scheduler with the tasks' code imported first, so that every task starts warm.

    python -m citybrain.warm_scheduler scheduler --skip-serve-logs   (what ``citybrain up`` runs)

With the LocalExecutor, the scheduler forks its workers, and on Linux Airflow's supervisor forks
each task from a worker without starting a new interpreter. A module the scheduler imported
before that is in every task already; one a task imports itself is imported again by every task.
great_expectations alone takes about 3 s of CPU to import (its ``__init__`` loads pandas, scipy,
altair and its pydantic models, whatever part of it is asked for), which made the fixed cost of a
small source's refine task about 4.5 s where the refine itself takes 0.5 s. Importing it here
once, with the engine client and the jobs, leaves each task its own work.

The modules are imported, not run: no session, no engine, no thread is started before the fork.
"""

from __future__ import annotations

import gc
import importlib
import logging
import sys
import time

log = logging.getLogger(__name__)

#: what the tasks of dags/ import when they run (citybrain.tasks imports each job on first use),
#: besides the gold jobs (``task_modules``)
TASK_MODULES = (
    "great_expectations",
    "pyspark.sql.connect.session",
    "citybrain.tasks",
    "citybrain.jobs.bronze.ingest",
    "citybrain.jobs.silver.refine",
    "citybrain.jobs.report.publish",
    "citybrain.jobs.maintenance",
    "citybrain.serving",
)


def task_modules() -> list[str]:
    from citybrain.jobs.gold import GOLD_TABLES

    return [*TASK_MODULES, *(f"citybrain.jobs.gold.{table}" for table in GOLD_TABLES)]


def preload() -> float:
    """Import the tasks' modules; returns the seconds it took. A module that fails to import is
    left to the task that needs it, which then says why."""
    started = time.monotonic()
    for name in task_modules():
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the task importing it reports the error where it matters
            log.warning("not preloaded for the tasks: %s (%s)", name, exc)
    # what is loaded now stays as it is: the collector does not walk it again, and the pages the
    # forked workers and tasks share with this process are not copied by its passes
    gc.freeze()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    seconds = preload()
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *(sys.argv[1:] if argv is None else argv)]
    print(f"citybrain: the tasks' modules preloaded in {seconds:.1f} s", file=sys.stderr, flush=True)
    return airflow_main()


if __name__ == "__main__":
    sys.exit(main())
