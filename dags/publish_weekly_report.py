"""
### publish_weekly_report — the weekly insight report for leaders

Builds `<reports_dir>/<ISO week>/report.html` and `report.pdf` (Chinese; English on request)
for the latest complete ISO week, from the gold, ops and quarantine tables each pinned at
one Delta version, and lists the build in `gold.report_index` with those versions and a
digest of its numbers (`citybrain.jobs.report`, see jobs/report/README.md). Runs once every
gold table it reads has been rebuilt since its last run.

Run parameters: `week` ("2026-W35"; empty = the latest complete week) and `languages`
(["zh"], ["zh", "en"]). To rebuild a past week from its recorded versions use
`citybrain report --week W --rebuild`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Asset, Param, dag, task

from citybrain import tasks
from citybrain.dag_defaults import SPARK_POOL, default_args
from citybrain.jobs.gold import GOLD_TABLES

#: every gold table built from silver (citybrain.jobs.gold.GOLD_TABLES); a rebuild of all of them schedules a report
REPORT_INPUTS = tuple(f"gold.{table}" for table in GOLD_TABLES)


@dag(
    dag_id="publish_weekly_report",
    description="Build the weekly insight report (HTML + PDF) and list it in gold.report_index",
    doc_md=__doc__,
    schedule=[Asset(name) for name in REPORT_INPUTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["citybrain", "gold", "report"],
    params={
        "week": Param("", type="string", description="ISO week such as 2026-W35; empty = the latest complete week"),
        "languages": Param(["zh"], type="array", description="report languages: zh, en"),
    },
    default_args=default_args(execution_timeout=timedelta(minutes=20)),
)
def publish_weekly_report():
    @task(execution_timeout=timedelta(minutes=2))
    def check_engine() -> str:
        return tasks.check_engine()

    @task(outlets=[Asset("gold.report_index")], pool=SPARK_POOL)
    def publish(params=None) -> dict:
        params = params or {}
        return tasks.publish_weekly_report(week=params.get("week") or None, languages=tuple(params.get("languages") or ("zh",)))

    check_engine() >> publish()


publish_weekly_report()
