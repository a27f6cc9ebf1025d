"""The service stack for real: ``citybrain up``, the demo pipeline triggered through Airflow's
REST API on an empty lake of a small city (eight ingests at once), ``citybrain down``.

Every DAG run succeeds with no failed try; one engine serves them all; every drop file is
in bronze once and every batch reconciles; nothing listens beyond loopback; ``down``
leaves no process behind.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import psutil
import pytest
from deltalake import DeltaTable

from citybrain import lake, stack
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.gold import GOLD_TABLES
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings

pytestmark = pytest.mark.slow

PIPELINE_TIMEOUT_S = 1200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_of(settings: Settings) -> list[psutil.Process]:
    """Every process started for this state folder: the stack's own record of its services (with
    the processes below them), and any process naming the folder in its command line or environment."""
    found = {p.pid: p for p in stack.processes(settings)}
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid():
                continue
            if str(settings.state_dir) in " ".join(proc.cmdline()) or proc.environ().get("CITYBRAIN_STATE_DIR") == str(settings.state_dir):
                found[proc.pid] = proc
        except psutil.Error:
            continue
    return [p for p in found.values() if _running(p)]


def _sockets(proc: psutil.Process) -> list:
    """The process's inet sockets; none when it ended since it was listed (a worker of a service may)."""
    try:
        return proc.net_connections(kind="inet")
    except psutil.NoSuchProcess:
        return []


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(scope="module")
def stack_settings():
    # PostgreSQL runs as the postgres user: the folders must be reachable by it (pytest's are not)
    root = Path(tempfile.mkdtemp(prefix="citybrain-stack-"))
    root.chmod(0o755)
    ports = {"ENGINE_PORT": _free_port(), "AIRFLOW_PORT": _free_port(), "POSTGRES_PORT": _free_port(), "SUPERSET_PORT": _free_port()}
    env = {
        "CITYBRAIN_STATE_DIR": str(root / "state"),
        "CITYBRAIN_LAKE_ROOT": str(root / "lake"),
        "CITYBRAIN_DEMO_DIR": str(root / "demo_city"),
        "CITYBRAIN_REPORTS_DIR": str(root / "reports"),
        "CITYBRAIN_PII_KEY": "a-test-key-for-the-stack",
        "CITYBRAIN_SPARK_REMOTE": "",
        **{f"CITYBRAIN_{k}": str(v) for k, v in ports.items()},
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    settings = Settings.from_env()
    generate(settings.demo_dir, days=14, scale=0.05)
    try:
        stack.up(settings, print)
        yield settings
    finally:
        failed = stack.down(settings, print)
        left = _processes_of(settings)
        for proc in left:  # never leave a process behind, even when the test fails
            proc.kill()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        shutil.rmtree(root, ignore_errors=True)
        assert failed == [] and left == [], (failed, left)


def test_up_listens_on_loopback_only(stack_settings):
    listening = [
        (proc.pid, conn.laddr) for proc in _processes_of(stack_settings) for conn in _sockets(proc) if conn.status == psutil.CONN_LISTEN
    ]
    ports = {addr.port for _, addr in listening}
    assert {stack_settings.airflow_port, stack_settings.postgres_port, stack_settings.engine_port} <= ports
    assert [(pid, addr) for pid, addr in listening if addr.ip != "127.0.0.1"] == []


def test_demo_pipeline_through_the_rest_api(stack_settings):
    api = stack.api(stack_settings)
    assert api.import_errors() == []
    for source in all_sources():  # eight ingests at once
        api.trigger(f"ingest_{source}")

    # refines run by their Assets alone, after bronze and the grid
    refines = {f"refine_{s}" for s in DEMO_SOURCES}
    runs = api.wait_for_success(refines, PIPELINE_TIMEOUT_S)
    assert refines - {r["dag_id"] for r in runs if r["state"] == "success"} == set()
    api.wait_idle(PIPELINE_TIMEOUT_S)
    # gold built from silver is weekly: start what Monday's schedule starts; the rest follows by Assets
    for table, inputs in GOLD_TABLES.items():
        if inputs[0].startswith("silver."):
            api.trigger(f"build_gold_{table}")
    wanted = refines | {f"build_gold_{t}" for t in GOLD_TABLES} | {"publish_serving_views", "publish_weekly_report"}
    runs = api.wait_for_success(wanted, PIPELINE_TIMEOUT_S)
    assert wanted - {r["dag_id"] for r in runs if r["state"] == "success"} == set()
    runs = api.wait_idle(PIPELINE_TIMEOUT_S)

    assert [(r["dag_id"], r["state"]) for r in runs if r["state"] != "success"] == []
    tries = api.task_instances()
    assert [
        (t["dag_id"], t["task_id"], t["state"], t["try_number"])
        for t in tries
        if t["state"] not in ("success", "skipped") or t["try_number"] > 1
    ] == []

    engines = [p for p in _processes_of(stack_settings) if "citybrain.engine" in " ".join(_cmdline(p))]
    assert len(engines) == 1, engines

    for source in DEMO_SOURCES:
        bronze = DeltaTable(lake.table_location(stack_settings, f"bronze.{source}")).to_pyarrow_table(columns=["_source_file", "_batch_id"])
        ledger = [
            r
            for r in DeltaTable(lake.table_location(stack_settings, "ops.ingest_ledger")).to_pyarrow_table().to_pylist()
            if r["source"] == source
        ]
        files = [r["file"] for r in ledger if r["records"]]
        assert len(files) == len(set(files)), source
        batches_per_file = {}
        for row in bronze.to_pylist():
            batches_per_file.setdefault(row["_source_file"], set()).add(row["_batch_id"])
        assert {f for f, b in batches_per_file.items() if len(b) > 1} == set(), source
        assert set(batches_per_file) == set(files), source
        audit = [
            r
            for r in DeltaTable(lake.table_location(stack_settings, "ops.batch_audit")).to_pyarrow_table().to_pylist()
            if r["source"] == source
        ]
        assert audit and all(r["balanced"] for r in audit), source
        assert sum(r["records_in"] for r in audit) == bronze.num_rows, source


def test_superset_joins_the_stack_on_the_built_lake_and_its_dashboards_answer(stack_settings):
    """On the empty lake `up` skipped Superset (no grid to scope analysts to); on the lake the
    pipeline built, `up` starts it, every dataset of the hotspot dashboard answers its count,
    and `down` (the fixture) stops it with the rest."""
    import requests

    from citybrain import superset

    if not lake.exists(stack_settings, "gold.complaint_hotspots"):
        pytest.fail("the lake is not built: this test runs after test_demo_pipeline_through_the_rest_api")
    superset.ensure_venv(print)
    started = stack.up(stack_settings, print)
    info = superset.status(stack_settings)
    assert info and started["superset"] == info.pid and info.port == int(os.environ["CITYBRAIN_SUPERSET_PORT"])

    http = requests.Session()
    password = superset.credentials(stack_settings)[0]["admin"]
    login = http.post(f"{info.url}/api/v1/security/login", json={"username": "admin", "password": password, "provider": "db"}, timeout=60)
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    csrf = http.get(f"{info.url}/api/v1/security/csrf_token/", timeout=60).json()["result"]
    http.headers.update({"X-CSRFToken": csrf, "Referer": info.url})
    dashboards = http.get(f"{info.url}/api/v1/dashboard/", params={"q": "(page_size:100)"}, timeout=60).json()["result"]
    [hotspots] = [d for d in dashboards if "hotspot" in d["dashboard_title"].lower()]
    datasets = http.get(f"{info.url}/api/v1/dashboard/{hotspots['id']}/datasets", timeout=60).json()["result"]
    counts = {}
    for dataset in datasets:
        query = {"metrics": ["count"], "row_limit": 1, "time_range": "No filter"}
        body = {"datasource": {"id": dataset["id"], "type": "table"}, "queries": [query], "result_format": "json", "result_type": "full"}
        answer = http.post(f"{info.url}/api/v1/chart/data", json=body, timeout=120)
        counts[dataset["table_name"]] = answer.json()["result"][0]["data"][0]["count"] if answer.ok else answer.status_code
    assert datasets and all(isinstance(n, int) for n in counts.values()), counts
    assert sum(counts.values()) > 0, counts
