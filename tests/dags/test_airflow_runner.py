"""Real Airflow runs through citybrain.airflow_runner: a tiny TaskFlow DAG that works and one that fails.

No mocks: each test writes DAG files into a temporary folder, points the runner at it and
runs them with ``dag.test()`` against the test run's SQLite metadata DB.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from citybrain import airflow_runner
from citybrain.airflow_runner import AirflowConfiguredElsewhere, DagNotFound, DagRunFailed

TINY_DAGS = '''
"""Two tiny DAGs for the runner tests."""
import json, os, pathlib
from datetime import datetime, timedelta
from airflow.sdk import Asset, dag, get_current_context, task

@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 0})
def chain_ok():
    @task(outlets=[Asset("test.chain_ok")], execution_timeout=timedelta(seconds=60))
    def extract() -> int:
        print("extract prints to stdout")
        return 41

    @task
    def load(x: int) -> None:
        ctx = get_current_context()
        out = pathlib.Path(ctx["dag_run"].conf["out"])
        out.write_text(json.dumps({"x": x + 1, "pid": os.getpid(), "logical_date": ctx["logical_date"].isoformat()}))

    load(extract())

chain_ok()

@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 0})
def chain_bad():
    @task
    def start() -> int:
        return 1

    @task
    def explode(x: int) -> int:
        raise ValueError("planted failure in explode")

    @task
    def after(y: int) -> int:
        return y

    after(explode(start()))

chain_bad()
'''


@pytest.fixture(scope="module")
def tiny_dags(airflow_home, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_dags")
    (folder / "tiny.py").write_text(TINY_DAGS)
    airflow_runner.prepare_airflow_home(airflow_home, folder)
    yield folder
    airflow_runner.prepare_airflow_home(airflow_home, airflow_runner.DEFAULT_DAGS_FOLDER)


def test_good_dag_succeeds_with_task_states_and_durations(tiny_dags, tmp_path):
    out = tmp_path / "load.json"
    when = datetime(2026, 3, 2, tzinfo=UTC)

    result = airflow_runner.run_dag("chain_ok", logical_date=when, conf={"out": str(out)})

    assert result.state == "success" and result.succeeded
    assert [(t.task_id, t.state, t.try_number) for t in result.tasks] == [
        ("extract", "success", 1),
        ("load", "success", 1),
    ]
    for t in result.tasks:
        assert t.duration_s is not None and 0 < t.duration_s < 10, t
    assert result.logical_date == when
    written = json.loads(out.read_text())
    assert written["x"] == 42  # XCom passed from extract to load
    assert written["pid"] == os.getpid()  # tasks run in this process
    assert written["logical_date"].startswith("2026-03-02")
    assert result.log_path.exists() and "extract prints to stdout" in result.log_path.read_text()


def test_failing_dag_raises_naming_the_task(tiny_dags):
    with pytest.raises(DagRunFailed) as caught:
        airflow_runner.run_dag("chain_bad")

    message = str(caught.value)
    assert "failed task(s): explode" in message
    assert "ValueError: planted failure in explode" in message
    result = caught.value.result
    assert result.state == "failed"
    assert {t.task_id: t.state for t in result.tasks} == {
        "start": "success",
        "explode": "failed",
        "after": "upstream_failed",
    }
    assert [t.task_id for t in result.failed_tasks] == ["explode"]
    assert str(result.log_path) in message
    assert "Traceback" in result.log_path.read_text()


def test_airflow_output_stays_out_of_the_console(tiny_dags, tmp_path, capfd):
    airflow_runner.run_dag("chain_ok", conf={"out": str(tmp_path / "x.json")})
    out, err = capfd.readouterr()
    assert "DAG TEST" not in out + err and "extract prints to stdout" not in out + err
    assert out + err == ""


def test_run_leaves_the_callers_signal_handlers_alone(tiny_dags, tmp_path):
    """Airflow's task runner installs SIGTERM/SIGALRM handlers and cancels alarms; the runner undoes it."""
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)}
    own_alarm = signal.getitimer(signal.ITIMER_REAL)[0] == 0  # pytest-timeout may have one pending
    if own_alarm:
        signal.setitimer(signal.ITIMER_REAL, 600)
    pending = signal.getitimer(signal.ITIMER_REAL)[0]
    try:
        airflow_runner.run_dag("chain_ok", conf={"out": str(tmp_path / "x.json")})
        assert {s: signal.getsignal(s) for s in before} == before
        assert signal.getitimer(signal.ITIMER_REAL)[0] > pending - 60
    finally:
        if own_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)


def test_unknown_dag_is_reported(tiny_dags):
    with pytest.raises(DagNotFound, match="no DAG 'not_a_dag'"):
        airflow_runner.run_dag("not_a_dag")


def test_prepare_migrates_once(airflow_home):
    stamp = airflow_home / "citybrain-db.json"
    before = stamp.read_text()
    env = airflow_runner.prepare_airflow_home(airflow_home, airflow_runner.DEFAULT_DAGS_FOLDER)
    assert stamp.read_text() == before  # no second migration
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{airflow_home.resolve() / 'airflow.db'}"


def test_prepare_refuses_a_second_home_once_airflow_is_imported(airflow_home, tmp_path):
    import airflow  # noqa: F401 - the point: Airflow is configured in this process now

    with pytest.raises(AirflowConfiguredElsewhere, match="before anything imports airflow"):
        airflow_runner.prepare_airflow_home(tmp_path / "other", airflow_runner.DEFAULT_DAGS_FOLDER)
    assert not (tmp_path / "other").exists()


SLOW_DAG = '''
"""A task that waits, then one after it; retries that a stop must not set off."""
import os, pathlib, time
from datetime import datetime, timedelta
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 2, "retry_delay": timedelta(seconds=1)})
def wait_then_after():
    @task
    def wait() -> None:
        with open(os.environ["MARKS"], "a") as marks:
            marks.write("wait started\\n")
        time.sleep(300)

    @task
    def after() -> None:
        with open(os.environ["MARKS"], "a") as marks:
            marks.write("after started\\n")

    wait() >> after()

wait_then_after()
'''

INTERRUPTED_RUNS = """
import sys
from pathlib import Path
from citybrain import airflow_runner
airflow_runner.prepare_airflow_home(Path(sys.argv[1]), Path(sys.argv[2]))
for attempt in (1, 2):  # the second run shows the first left the handlers working
    try:
        airflow_runner.run_dag("wait_then_after")
    except airflow_runner.RunInterrupted as stop:
        print(f"run {attempt} stopped by {stop.signum}", flush=True)
"""


def test_sigterm_and_ctrl_c_stop_a_run_mid_task_without_retrying_or_going_on(airflow_home, tmp_path):
    """Airflow's in-process task runner swallows SIGTERM and takes Ctrl-C as a task failure to retry;
    a run in this process must still stop at once, and start nothing after the task."""
    home, dags, marks = tmp_path / "home", tmp_path / "dags", tmp_path / "marks.txt"
    home.mkdir()
    dags.mkdir()
    (dags / "slow.py").write_text(SLOW_DAG)
    for name in ("airflow.db", "citybrain-db.json"):  # the session's migrated database: no second migration
        shutil.copy(airflow_home / name, home / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")} | {"MARKS": str(marks)}
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUNS, str(home), str(dags)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )

    def started_waits() -> int:
        return marks.read_text().count("wait started") if marks.exists() else 0

    try:
        for expected, signum in ((1, signal.SIGTERM), (2, signal.SIGINT)):
            deadline = time.monotonic() + 180
            while started_waits() < expected and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert started_waits() == expected, f"the task did not start (exit code {proc.poll()})"
            time.sleep(0.5)
            proc.send_signal(signum)
        output, _ = proc.communicate(timeout=60)  # each stop ends its run at once; the task alone would sleep 300 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert f"run 1 stopped by {int(signal.SIGTERM)}" in output and f"run 2 stopped by {int(signal.SIGINT)}" in output
    assert marks.read_text() == "wait started\n" * 2  # no retry of the stopped task, and the task after it never started
