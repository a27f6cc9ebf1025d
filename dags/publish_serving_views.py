"""
### publish_serving_views — the DuckDB file Superset reads, rewritten after any gold build

Writes `<state dir>/serving/citybrain.duckdb`: one view per gold table and per data-quality
table over `delta_scan()` of the lake, each row placed in its district for row-level
security (`citybrain.serving`). Views read a table's latest commit, so a gold rebuild shows
in Superset at once; this DAG only has to run when a table or the grid appears or changes shape.
The file is built beside the old one and renamed over it: readers never see half a file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from airflow.sdk import Asset, dag, task

from citybrain import tasks
from citybrain.dag_defaults import default_args
from citybrain.jobs.gold import GOLD_TABLES


@dag(
    dag_id="publish_serving_views",
    description="Rewrite the serving DuckDB views over the lake (read by Superset)",
    doc_md=__doc__,
    schedule=reduce(or_, (Asset(f"gold.{table}") for table in GOLD_TABLES)),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["citybrain", "serving"],
    default_args=default_args(execution_timeout=timedelta(minutes=10)),
)
def publish_serving_views():
    @task(outlets=[Asset("serving.duckdb")])
    def publish() -> dict:
        return tasks.publish_serving_views()

    publish()


publish_serving_views()
