"""
### ingest_&lt;source&gt; — one DAG per department feed

Takes the department's new drop files (checksums not yet in the lake) into its
append-only bronze table and announces the table as an Asset, so refine jobs run when
it changes; a run that finds nothing new announces nothing. Runs when a drop file arrives
in the department's folder (the Asset `drops.<source>`, watched by the triggerer:
`citybrain.drop_watch`), taking every new file, and daily once a day is over (00:00 UTC,
08:00 in the demo city), taking only that day's files (`citybrain.run_dates`: `airflow backfill create` and
`citybrain backfill` run those dated runs, a rerun of a day takes nothing twice). The
bronze Asset event says which day was taken in, so the refine it starts refines that day.
One run of a source's ingest at a time (and the ingest holds the source's lock). One DAG per source,
generated from the source mappings in `schemas/sources/*.toml`: adding a department
adds a mapping, not a DAG file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, dag, task

from citybrain import run_dates, tasks
from citybrain.dag_defaults import SPARK_POOL, default_args
from citybrain.drop_watch import DropArrivalTrigger, drop_folder
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings


def arrival_asset(source: str, pattern: str) -> Asset:
    """The Asset ``drops.<source>``, updated by the triggerer when a file arrives in the source's drop folder."""
    folder = drop_folder(Settings.from_env(), source)
    trigger = DropArrivalTrigger(folder=str(folder), pattern=pattern)
    return Asset(f"drops.{source}", watchers=[AssetWatcher(name=f"drops_{source}_arrival", trigger=trigger)])


def build_ingest_dag(source: str, department: str, pattern: str):
    @dag(
        dag_id=f"ingest_{source}",
        description=f"Ingest {department} drops into bronze.{source}",
        doc_md=__doc__,
        schedule=AssetOrTimeSchedule(timetable=run_dates.daily_timetable(), assets=arrival_asset(source, pattern)),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["citybrain", "ingest", "bronze"],
        default_args=default_args(execution_timeout=timedelta(minutes=30)),
    )
    def ingest_dag():
        @task(execution_timeout=timedelta(minutes=2))
        def check_engine() -> str:
            return tasks.check_engine()

        @task(pool=SPARK_POOL, max_active_tis_per_dag=1)
        def ingest(**context) -> dict:
            return tasks.ingest_source(source, day=run_dates.run_day(context))

        @task.short_circuit
        def changed(summary: dict) -> bool:
            return tasks.changed(summary)

        bronze = Asset(f"bronze.{source}")

        @task(outlets=[bronze])
        def announce(summary: dict, *, outlet_events=None) -> None:
            """Emits the bronze Asset event, with the day taken in (only reached when the ingest took in something new)."""
            outlet_events[bronze].extra = {"day": summary["day"]}

        summary = ingest()
        check_engine() >> summary
        changed(summary) >> announce(summary)

    return ingest_dag()


for _name, _spec in all_sources().items():
    globals()[f"ingest_{_name}"] = build_ingest_dag(_name, _spec.department, _spec.glob)
