"""
### refine_&lt;source&gt; — one DAG per department feed, bronze to silver

Types the source's new bronze batches by its mapping (`schemas/sources/<source>.toml`),
tokenises personal data, places every record on the grid, sends records that break a
rule to `quarantine.<entity>` with the reason, merges the latest version of each record
into `silver.<entity>` and checks that records in = accepted + quarantined + collapsed
(`ops.batch_audit`). Runs when the source's bronze table changes; `refine_registry`
rebuilds `silver.grid`, which every other refine locates against, so those refines are
also scheduled on `silver.grid` and skip cleanly (no failure, no retry) while it does not
exist: the grid's first appearance runs them again. A run started by a dated ingest refines
the pending batches of the day its event names (`citybrain.run_dates`); one started by the
grid, or without a day, refines every pending batch. A run that refined no batch announces
nothing, so gold never runs on a silver table that did not change or does not exist yet.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task

from citybrain import run_dates, tasks
from citybrain.dag_defaults import SPARK_POOL, default_args
from citybrain.schemas.sources import all_sources


def build_refine_dag(source: str, outputs: tuple[str, ...]):
    @dag(
        dag_id=f"refine_{source}",
        description=f"Refine bronze.{source} into {', '.join(outputs)}",
        doc_md=__doc__,
        schedule=(Asset(f"bronze.{source}") | Asset("silver.grid")) if tasks.needs_grid(source) else [Asset(f"bronze.{source}")],
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["citybrain", "refine", "silver"],
        default_args=default_args(execution_timeout=timedelta(minutes=60)),
    )
    def refine_dag():
        @task.short_circuit
        def grid_ready() -> bool:
            return tasks.grid_ready(source)

        @task(execution_timeout=timedelta(minutes=2))
        def check_engine() -> str:
            return tasks.check_engine()

        @task(pool=SPARK_POOL)
        def refine(**context) -> dict:
            return tasks.refine_source(source, days=run_dates.run_days(context))

        @task.short_circuit
        def changed(summary: dict) -> bool:
            return tasks.changed(summary)

        @task(outlets=[Asset(name) for name in outputs])
        def announce() -> None:
            """Emits the silver Asset events (only reached when a batch was refined)."""

        summary = refine()
        grid_ready() >> check_engine() >> summary
        changed(summary) >> announce()

    return refine_dag()


for _name, _spec in all_sources().items():
    globals()[f"refine_{_name}"] = build_refine_dag(_name, _spec.silver.outputs if _spec.silver else ("silver.grid",))
