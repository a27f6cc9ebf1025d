"""
### ingest_&lt;source&gt; — one DAG per department feed

Takes the department's new drop files (checksums not yet in the lake) into its
append-only bronze table and announces the table as an Asset, so refine jobs run when
it changes; a run that finds nothing new announces nothing. Hourly; one run of a
source's ingest at a time (and the ingest holds the source's lock). One DAG per source,
generated from the source mappings in `schemas/sources/*.toml`: adding a department
adds a mapping, not a DAG file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

from citybrain import tasks
from citybrain.dag_defaults import SPARK_POOL, default_args
from citybrain.schemas.sources import all_sources


def build_ingest_dag(source: str, department: str):
    @dag(
        dag_id=f"ingest_{source}",
        description=f"Ingest {department} drops into bronze.{source}",
        doc_md=__doc__,
        schedule="@hourly",
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
        def ingest() -> dict:
            return tasks.ingest_source(source)

        @task.short_circuit
        def changed(summary: dict) -> bool:
            return tasks.changed(summary)

        @task(outlets=[Asset(f"bronze.{source}")])
        def announce() -> None:
            """Emits the bronze Asset event (only reached when the ingest took in something new)."""

        summary = ingest()
        check_engine() >> summary
        changed(summary) >> announce()

    return ingest_dag()


for _name, _spec in all_sources().items():
    globals()[f"ingest_{_name}"] = build_ingest_dag(_name, _spec.department)
