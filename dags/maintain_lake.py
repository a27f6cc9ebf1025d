"""
### maintain_lake — weekly compaction and vacuum of every table

Sunday 03:00 city time, when no department sends drops: every table of the lake is compacted
(Delta OPTIMIZE: each partition's small files rewritten into fewer, larger ones, the same
rows) and vacuumed (files no version younger than `CITYBRAIN_VACUUM_RETENTION_DAYS`, 30 by
default, still needs are deleted). Through `deltalake`, so it needs no engine. Each table's
file counts before and after go to `ops.maintenance`; a table that could not be maintained
is recorded with the reason and the others are still done (`citybrain.jobs.maintenance`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

from citybrain import dag_defaults, tasks


@dag(
    dag_id="maintain_lake",
    description="Compact and vacuum every lake table (weekly)",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 3 * * 0", timezone="Asia/Shanghai"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["citybrain", "ops"],
    default_args=dag_defaults.default_args(execution_timeout=timedelta(hours=2)),
)
def maintain_lake():
    @task(outlets=[Asset("ops.maintenance")])
    def compact_and_vacuum() -> dict:
        return tasks.maintain_lake()

    compact_and_vacuum()


maintain_lake()
