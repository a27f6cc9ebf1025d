"""How the DAGs behave under Airflow (real runs through ``dag.test()``): refine waits for the
grid without failing, an ingest with nothing new announces nothing, a failed try is recorded
in ops.run_events and sent to the alert webhook."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from deltalake import DeltaTable

from citybrain import airflow_runner, lake, run_events
from citybrain.airflow_runner import DagRunFailed

HEADER = "order_id,pickup_time,fare_yuan\n"


@pytest.fixture
def city_env(spark, settings, tmp_path, monkeypatch, airflow_home):
    """Tasks read their settings from the environment: a lake and drops of this test's own, the shared engine."""
    own = settings.with_(lake_root=str(tmp_path / "lake"), demo_dir=tmp_path / "demo_city")
    monkeypatch.setenv("CITYBRAIN_LAKE_ROOT", own.lake_root)
    monkeypatch.setenv("CITYBRAIN_DEMO_DIR", str(own.demo_dir))
    monkeypatch.setenv("CITYBRAIN_STATE_DIR", str(own.state_dir))
    monkeypatch.setenv("CITYBRAIN_SPARK_REMOTE", own.spark_remote)
    monkeypatch.setenv("CITYBRAIN_PII_KEY", "a-test-key")
    return own


def _states(result) -> dict[str, str]:
    return {t.task_id: t.state for t in result.tasks}


def _asset_events(airflow_home, name: str) -> int:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        query = "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ?"
        return db.execute(query, (name,)).fetchone()[0]


def test_refine_before_the_grid_skips_cleanly(city_env):
    assert not lake.exists(city_env, "silver.grid")
    result = airflow_runner.run_dag("refine_hotline")
    assert result.succeeded
    assert _states(result) == {
        "grid_ready": "success",
        "check_engine": "skipped",
        "refine": "skipped",
        "changed": "skipped",
        "announce": "skipped",
    }
    assert all(t.try_number <= 1 for t in result.tasks)


def test_gold_before_its_inputs_skips_cleanly(city_env):
    """The weekly timetable starts a gold run as soon as the DAG exists, often on a lake not built yet."""
    assert not lake.exists(city_env, "silver.complaint")
    result = airflow_runner.run_dag("build_gold_hotline_performance")
    assert result.succeeded
    states = _states(result)
    assert states.pop("inputs_ready") == "success"
    assert set(states.values()) == {"skipped"}, states
    assert all(t.try_number <= 1 for t in result.tasks)


def test_an_ingest_with_nothing_new_announces_nothing(city_env, airflow_home):
    drops = city_env.demo_dir / "drops" / "ridehailing"
    drops.mkdir(parents=True)
    (drops / "ridehailing_20260901.csv").write_text(HEADER + "C1,2026-09-01 08:00:00,9\n")
    before = _asset_events(airflow_home, "bronze.ridehailing")

    first = airflow_runner.run_dag("ingest_ridehailing")
    assert _states(first)["announce"] == "success"
    assert _asset_events(airflow_home, "bronze.ridehailing") == before + 1

    again = airflow_runner.run_dag("ingest_ridehailing")
    assert again.succeeded and _states(again)["announce"] == "skipped"
    assert _asset_events(airflow_home, "bronze.ridehailing") == before + 1


FAILING_DAG = '''
"""A DAG whose only task fails, with the project's default arguments."""
from datetime import datetime, timedelta
from airflow.sdk import dag, task
from citybrain.dag_defaults import default_args

@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     default_args={**default_args(timedelta(minutes=1)), "retries": 0})
def fail_recorded():
    @task
    def explode():
        raise ValueError("planted failure for the run events")

    explode()

fail_recorded()
'''


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", _Hook.received
    server.shutdown()
    server.server_close()


def test_a_failed_try_is_recorded_and_sent_to_the_webhook(city_env, airflow_home, tmp_path, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv("CITYBRAIN_ALERT_WEBHOOK", url)
    folder = tmp_path / "failing_dags"
    folder.mkdir()
    (folder / "failing.py").write_text(FAILING_DAG)
    airflow_runner.prepare_airflow_home(airflow_home, folder)
    try:
        with pytest.raises(DagRunFailed, match="explode"):
            airflow_runner.run_dag("fail_recorded")
    finally:
        airflow_runner.prepare_airflow_home(airflow_home, airflow_runner.DEFAULT_DAGS_FOLDER)
    events = DeltaTable(lake.table_location(city_env, "ops.run_events")).to_pyarrow_table().to_pylist()
    assert [(e["dag_id"], e["task_id"], e["try_number"]) for e in events] == [("fail_recorded", "explode", 1)]
    assert events[0]["error"] == "ValueError: planted failure for the run events"
    assert events[0]["webhook"] == "sent: HTTP 204"
    assert [(r["dag_id"], r["task_id"], r["error"]) for r in received] == [("fail_recorded", "explode", events[0]["error"])]


def test_an_unreachable_webhook_is_recorded_not_raised(settings, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    own = settings.with_(lake_root=str(tmp_path / "lake"), alert_webhook=f"http://127.0.0.1:{port}/")
    event = run_events.record(own, {**run_events.failure_event({"exception": RuntimeError("boom")}), "dag_id": "d"})
    assert event["webhook"].startswith("not sent: URLError")
    assert DeltaTable(lake.table_location(own, "ops.run_events")).to_pyarrow_table().to_pylist()[0]["error"] == "RuntimeError: boom"


def test_every_dag_retries_with_backoff_and_records_failures(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=airflow_runner.DEFAULT_DAGS_FOLDER)
    for dag in bag.dags.values():
        for t in dag.tasks:
            assert t.retries >= 1 and t.retry_exponential_backoff, (dag.dag_id, t.task_id)
            assert t.max_retry_delay == timedelta(minutes=10), (dag.dag_id, t.task_id)
            assert run_events.on_task_failure in (t.on_failure_callback or []), (dag.dag_id, t.task_id)


def test_a_task_never_starts_an_engine(settings, tmp_path, monkeypatch, airflow_home):
    from airflow.sdk.exceptions import AirflowFailException

    from citybrain import engine, tasks

    own = settings.with_(state_dir=tmp_path / "state", spark_remote="")
    monkeypatch.setenv("CITYBRAIN_STATE_DIR", str(own.state_dir))
    monkeypatch.delenv("CITYBRAIN_SPARK_REMOTE", raising=False)
    monkeypatch.setattr(engine, "TASK_WAIT_S", 0.5)
    with pytest.raises(AirflowFailException, match="no Spark Connect engine is running .*citybrain engine start"):
        tasks.check_engine()  # fails without retries: a retry cannot start an engine
    with pytest.raises(AirflowFailException, match="no Spark Connect engine is running"):
        tasks.refine_source("hotline")
    assert engine.status(own) is None
    assert not (own.state_dir / "engine.json").exists()


def test_a_refine_with_no_new_batch_announces_nothing(city_env, airflow_home):
    """A refine runs on every grid change too; with no new bronze batch it must not announce
    silver (gold would run on a table that did not change, or does not exist yet)."""
    drops = city_env.demo_dir / "drops" / "boston311"
    drops.mkdir(parents=True)
    header = "case_enquiry_id,open_dt,closed_dt,case_status,case_title,subject,reason,type,latitude,longitude\n"
    rows = "".join(f"10100{i},2026-09-0{i} 08:00:00,,Open,Pothole,Public Works,Street,Pothole,42.35,-71.06\n" for i in range(1, 4))
    (drops / "boston311-20260903.csv").write_text(header + rows)
    airflow_runner.run_dag("ingest_boston311")
    before = _asset_events(airflow_home, "silver.complaint")

    first = airflow_runner.run_dag("refine_boston311")
    assert _states(first)["announce"] == "success"
    assert _asset_events(airflow_home, "silver.complaint") == before + 1

    again = airflow_runner.run_dag("refine_boston311")
    assert _states(again)["refine"] == "success" and _states(again)["announce"] == "skipped"
    assert _asset_events(airflow_home, "silver.complaint") == before + 1


def _asset_extras(airflow_home, name: str) -> list[dict]:
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        query = "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.name = ? ORDER BY e.id"
        return [json.loads(extra or "{}") for (extra,) in db.execute(query, (name,)).fetchall()]


def test_a_dated_ingest_takes_its_days_drops_and_its_event_names_the_day(city_env, airflow_home):
    from citybrain.run_dates import logical_date_for

    drops = city_env.demo_dir / "drops" / "ridehailing"
    drops.mkdir(parents=True)
    for day in (1, 2):
        (drops / f"ridehailing_2026090{day}.csv").write_text(HEADER + f"D{day},2026-09-0{day} 08:00:00,9\n")
    day = date(2026, 9, 2)
    result = airflow_runner.run_dag("ingest_ridehailing", logical_date=logical_date_for(day), conf={"day": "2026-09-02"})
    assert _states(result)["announce"] == "success"
    assert _asset_extras(airflow_home, "bronze.ridehailing")[-1] == {"day": "2026-09-02"}
    bronze = DeltaTable(lake.table_location(city_env, "bronze.ridehailing")).to_pyarrow_table().to_pylist()
    assert [r["order_id"] for r in bronze] == ["D2"]


def test_every_schedule_is_the_one_documented(airflow_home, settings):
    """Ingest: daily (dated) and on a drop's arrival; refine: its bronze table or the grid; gold built
    from silver: weekly; gold built from gold, the report and the serving views: chained by Assets."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import AssetAll, AssetAny, AssetOrTimeSchedule, CronDataIntervalTimetable, CronTriggerTimetable

    from citybrain import run_dates, tasks
    from citybrain.drop_watch import DropArrivalTrigger, drop_folder
    from citybrain.jobs.gold import GOLD_TABLES
    from citybrain.schemas.sources import all_sources

    dags = DagBag(dag_folder=airflow_runner.DEFAULT_DAGS_FOLDER).dags

    def assets(condition) -> set[str]:
        return {a.name for a in condition.objects} if hasattr(condition, "objects") else {condition.name}

    for source, spec in all_sources().items():
        ingest = dags[f"ingest_{source}"].timetable
        assert isinstance(ingest, AssetOrTimeSchedule), source
        assert isinstance(ingest.timetable, CronDataIntervalTimetable) and ingest.timetable.expression == "0 0 * * *"
        assert str(ingest.timetable.timezone) == "UTC"
        watched = ingest.asset_condition
        assert watched.name == f"drops.{source}"
        (watcher,) = watched.watchers
        assert isinstance(watcher.trigger, DropArrivalTrigger)
        assert (watcher.trigger.folder, watcher.trigger.pattern) == (str(drop_folder(settings.from_env(), source)), spec.glob)
        refine = dags[f"refine_{source}"].timetable.asset_condition
        on_grid = tasks.needs_grid(source)
        assert assets(refine) == {f"bronze.{source}"} | ({"silver.grid"} if on_grid else set()), source
        assert isinstance(refine, AssetAny) or not on_grid, source
    assert sum(map(tasks.needs_grid, all_sources())) >= 4
    for table, inputs in GOLD_TABLES.items():
        gold = dags[f"build_gold_{table}"].timetable
        if inputs[0].startswith("silver."):
            assert isinstance(gold, CronTriggerTimetable), table
            assert (
                (gold.expression, str(gold.timezone)) == (run_dates.WEEKLY_CRON, run_dates.CITY_TIMEZONE) == ("0 10 * * 1", "Asia/Shanghai")
            )
            assert gold.interval == timedelta(weeks=1)
        else:
            assert assets(gold.asset_condition) == {inputs[0]}, table
    report = dags["publish_weekly_report"].timetable.asset_condition
    assert isinstance(report, AssetAll) and assets(report) == {f"gold.{t}" for t in GOLD_TABLES}
    serving = dags["publish_serving_views"].timetable.asset_condition
    assert isinstance(serving, AssetAny) and assets(serving) == {f"gold.{t}" for t in GOLD_TABLES}
