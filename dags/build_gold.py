"""
### build_gold_&lt;table&gt; — one DAG per gold table, rebuilt from silver

Builds a gold table from the silver tables it reads (`citybrain.jobs.gold.GOLD_TABLES`
lists them) through the table's contract, and announces it as an Asset: whole, or, for a table
built before whose job knows how, only the periods silver's changes since can affect
(`jobs/gold/README.md`, *Incremental builds*; the watermark is in `ops.gold_builds`). A table built from
silver runs weekly, Monday 10:00 city time, after Sunday's daily ingests and refines
(`citybrain.run_dates.weekly_timetable`); a table built from another gold table runs when
that table is announced (the first input listed): `build_gold_demand_forecast` after
`gold.ride_hailing_demand` (it trains a new model version in `train`, then scores with it in
`build`). Every gold table announced schedules `publish_weekly_report` once all are new. The task's summary says what could not be computed and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

from citybrain import run_dates, tasks
from citybrain.dag_defaults import SPARK_POOL, default_args
from citybrain.jobs.gold import GOLD_TABLES, TRAINED_TABLES


def build_gold_dag(table: str, inputs: tuple[str, ...]):
    @dag(
        dag_id=f"build_gold_{table}",
        description=f"Rebuild gold.{table} from {', '.join(inputs)}",
        doc_md=__doc__,
        schedule=run_dates.weekly_timetable() if inputs[0].startswith("silver.") else [Asset(inputs[0])],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["citybrain", "gold"],
        default_args=default_args(execution_timeout=timedelta(minutes=60)),
    )
    def gold_dag():
        @task.short_circuit
        def inputs_ready() -> bool:
            return tasks.inputs_ready(table)

        @task(execution_timeout=timedelta(minutes=2))
        def check_engine() -> str:
            return tasks.check_engine()

        @task(outlets=[Asset(f"gold.{table}")], pool=SPARK_POOL)
        def build() -> dict:
            return tasks.build_gold(table)

        if table in TRAINED_TABLES:  # a model's table: train a new version, then score with it

            @task(pool=SPARK_POOL)
            def train() -> dict:
                return tasks.train_gold_model(table)

            inputs_ready() >> check_engine() >> train() >> build()
        else:
            inputs_ready() >> check_engine() >> build()

    return gold_dag()


for _table, _inputs in GOLD_TABLES.items():
    globals()[f"build_gold_{_table}"] = build_gold_dag(_table, _inputs)
