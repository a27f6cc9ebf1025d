"""
### ingest_&lt;source&gt; — one DAG per department feed

Takes the department's new drop files (checksums not yet in the lake) into its
append-only bronze table and announces the table as an Asset, so refine jobs run when
it changes. One DAG per source, generated from the source mappings in
`schemas/sources/*.toml`: adding a department adds a mapping, not a DAG file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

from citybrain import tasks
from citybrain.schemas.sources import all_sources


def build_ingest_dag(source: str, department: str):
    @dag(
        dag_id=f"ingest_{source}",
        description=f"Ingest {department} drops into bronze.{source}",
        doc_md=__doc__,
        schedule="@daily",
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["citybrain", "ingest", "bronze"],
        default_args={"retries": 1, "retry_delay": timedelta(seconds=30), "execution_timeout": timedelta(minutes=30)},
    )
    def ingest_dag():
        @task(execution_timeout=timedelta(minutes=2))
        def check_engine() -> str:
            return tasks.check_engine()

        @task(outlets=[Asset(f"bronze.{source}")])
        def ingest() -> dict:
            return tasks.ingest_source(source)

        check_engine() >> ingest()

    return ingest_dag()


for _name, _spec in all_sources().items():
    globals()[f"ingest_{_name}"] = build_ingest_dag(_name, _spec.department)
