"""The service stack a city runs on one server: ``citybrain up`` / ``citybrain down``.

On 127.0.0.1 only, each health-checked, each logging to ``<state_dir>/logs/<service>.log``:

* PostgreSQL (the Debian package) as Airflow's metadata DB: a cluster of the project's own
  in ``<state_dir>/postgres`` (initialised on first ``up``), its unix socket in that folder,
  TCP only on 127.0.0.1 with a generated password (``<state_dir>/secrets/postgres.password``);
* the Sail engine as a service on a fixed port (``CITYBRAIN_ENGINE_PORT``, default 15002);
  tasks reach it through ``CITYBRAIN_SPARK_REMOTE`` and never start one;
* Airflow 3: api-server (``CITYBRAIN_AIRFLOW_PORT``), scheduler (LocalExecutor,
  ``AIRFLOW_PARALLELISM`` workers; started through citybrain.warm_scheduler, so that each task
  forked from it has the jobs and great_expectations imported), dag-processor and triggerer,
  on the project's dags/;
  the log servers are skipped (task logs are local files the api-server reads);
* Superset, when its environment (``make superset-setup``) is installed.

``down`` stops each by its recorded pid (with every process below it, so LocalExecutor workers
and task processes go too), PostgreSQL with ``pg_ctl stop``, and names any it could not stop.
SQLite stays the zero-install default of ``citybrain demo`` (citybrain.airflow_runner).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from citybrain import airflow_runner, engine
from citybrain.dag_defaults import SPARK_POOL, SPARK_POOL_SLOTS
from citybrain.settings import Settings

HOST = "127.0.0.1"
#: LocalExecutor workers (Airflow pre-forks this many; its default of 32 costs ~800 MiB idle)
AIRFLOW_PARALLELISM = 4
DEFAULT_ENGINE_PORT = 15002
AIRFLOW_SERVICES = ("api-server", "dag-processor", "scheduler", "triggerer")
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
ADMIN = "admin"


class StackError(RuntimeError):
    """A service of the stack could not be started, reached or stopped."""


def stack_dir(settings: Settings) -> Path:
    return settings.state_dir / "stack"


def _state_path(settings: Settings) -> Path:
    return stack_dir(settings) / "services.json"


def _read_state(settings: Settings) -> dict[str, dict]:
    with contextlib.suppress(OSError, ValueError):
        return json.loads(_state_path(settings).read_text())
    return {}


def _record(settings: Settings, name: str, pid: int, log: Path) -> None:
    state = _read_state(settings)
    state[name] = {"pid": pid, "log": str(log)}
    _state_path(settings).parent.mkdir(parents=True, exist_ok=True)
    _state_path(settings).write_text(json.dumps(state, indent=1))


def _secret(settings: Settings, name: str) -> str:
    path = settings.state_dir / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


# --- PostgreSQL ------------------------------------------------------------------------


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise StackError("PostgreSQL is not installed: run `make system-packages` (Debian package postgresql)")
    return versions[-1].parent


def _pg_dirs(settings: Settings) -> tuple[Path, Path]:
    root = settings.state_dir / "postgres"
    return root / "data", root / "run"


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the package's ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise StackError(f"{what} failed (exit {done.returncode}); see {log}")


def postgres_url(settings: Settings) -> str:
    """Airflow's connection: through the cluster's unix socket, as the cluster's own user."""
    _, run = _pg_dirs(settings)
    return f"postgresql+psycopg2://citybrain@/airflow?host={run}&port={settings.postgres_port}"


def start_postgres(settings: Settings, say: Callable[[str], None]) -> int:
    data, run = _pg_dirs(settings)
    log = settings.log_dir / "postgres.log"
    bin_dir = _pg_bin()
    if _postgres_pid(settings):
        return _postgres_pid(settings)
    if not (data / "PG_VERSION").exists():
        say(f"initialising a PostgreSQL cluster in {data}")
        data.mkdir(parents=True, exist_ok=True)
        pwfile = data.parent / "initdb.pw"
        pwfile.write_text(_secret(settings, "postgres.password"))
        if os.geteuid() == 0:
            shutil.chown(data.parent, "postgres")
            shutil.chown(data, "postgres")
            shutil.chown(pwfile, "postgres")
        initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "citybrain", f"--pwfile={pwfile}", "-E", "UTF8"]
        _run(_as_postgres([*initdb, "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions"]), "initdb", log)
        pwfile.unlink()
    run.mkdir(parents=True, exist_ok=True, mode=0o700)
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(run, "postgres")
        shutil.chown(log, "postgres")  # the server appends to it as postgres
    options = f"-p {settings.postgres_port} -c listen_addresses={HOST} -c unix_socket_directories={run} -c max_connections=60"
    _run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]),
        "pg_ctl start",
        log,
    )
    pid = _postgres_pid(settings)
    if not pid:
        raise StackError(f"PostgreSQL did not start; see {log}")
    psql = [str(bin_dir / "psql"), "-h", str(run), "-p", str(settings.postgres_port), "-U", "citybrain", "-d", "postgres", "-tAc"]
    exists = subprocess.run([*psql, "SELECT 1 FROM pg_database WHERE datname = 'airflow'"], capture_output=True, text=True)
    if exists.stdout.strip() != "1":
        _run([*psql, "CREATE DATABASE airflow"], "create database airflow", log)
    return pid


def _postgres_pid(settings: Settings) -> int | None:
    data, _ = _pg_dirs(settings)
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        return pid if engine.pid_alive(pid) else None
    return None


def stop_postgres(settings: Settings) -> bool:
    data, _ = _pg_dirs(settings)
    pid = _postgres_pid(settings)
    if not pid:
        return True
    with contextlib.suppress(StackError):
        _run(
            _as_postgres([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]),
            "pg_ctl stop",
            settings.log_dir / "postgres.log",
        )
    return _stop_pid(pid)


# --- Airflow ---------------------------------------------------------------------------


def airflow_home(settings: Settings) -> Path:
    return stack_dir(settings) / "airflow"


def airflow_url(settings: Settings) -> str:
    return f"http://{HOST}:{settings.airflow_port}"


def airflow_environment(settings: Settings) -> dict[str, str]:
    """The environment of every Airflow service and task of the stack (and of its ``airflow`` CLI calls)."""
    home = airflow_home(settings)
    env = airflow_runner.airflow_env(home, airflow_runner.DEFAULT_DAGS_FOLDER)
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url(settings),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": postgres_url(settings).replace("+psycopg2", "+asyncpg"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(AIRFLOW_PARALLELISM),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url(settings)}/execution/",
            "AIRFLOW__API__BASE_URL": airflow_url(settings),
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(settings, "airflow-jwt"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "0",
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": "0",
            # every task reaches the engine service; none starts one
            "CITYBRAIN_SPARK_REMOTE": engine_remote(settings),
            "CITYBRAIN_LAKE_ROOT": settings.lake_root,
            "CITYBRAIN_STATE_DIR": str(settings.state_dir),
            "CITYBRAIN_DEMO_DIR": str(settings.demo_dir),
            "CITYBRAIN_REPORTS_DIR": str(settings.reports_dir),
        }
    )
    return {**os.environ, **env}


def _airflow(settings: Settings, *args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def airflow_password(settings: Settings) -> str:
    return json.loads((airflow_home(settings) / "passwords.json").read_text())[ADMIN]


def airflow_health(settings: Settings) -> dict:
    """The api-server's health report (metadatabase, scheduler, triggerer, dag_processor), or {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"{airflow_url(settings)}/api/v2/monitor/health", timeout=5) as answer:
            return json.loads(answer.read())
    except OSError:
        return {}


def _healthy(report: dict, component: str) -> bool:
    return (report.get(component) or {}).get("status") == "healthy"


def prepare_airflow(settings: Settings, say: Callable[[str], None]) -> None:
    env = airflow_environment(settings)
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    log = settings.log_dir / "airflow-db.log"
    say("migrating Airflow's metadata DB (PostgreSQL)")
    for argv, what in (
        (_airflow(settings, "db", "migrate"), "airflow db migrate"),
        (
            _airflow(settings, "pools", "set", SPARK_POOL, str(SPARK_POOL_SLOTS), "tasks working through the Spark engine"),
            "airflow pools set",
        ),
    ):
        with open(log, "ab") as out:
            done = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if done.returncode:
            raise StackError(f"{what} failed (exit {done.returncode}); see {log}")


def _spawn(settings: Settings, name: str, argv: list[str], env: dict[str, str]) -> int:
    log = settings.log_dir / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    _record(settings, name, proc.pid, log)
    return proc.pid


def _airflow_argv(settings: Settings, service: str) -> list[str]:
    extra = {
        "api-server": ["-H", HOST, "-p", str(settings.airflow_port), "-w", "1"],
        "scheduler": ["--skip-serve-logs"],
        "triggerer": ["--skip-serve-logs"],
        "dag-processor": [],
    }[service]
    if service == "scheduler":  # its tasks are forked from it: they start with their modules imported
        return [sys.executable, "-m", "citybrain.warm_scheduler", service, *extra]
    return _airflow(settings, service, *extra)


# --- the engine ------------------------------------------------------------------------


def engine_settings(settings: Settings) -> Settings:
    return settings.with_(engine_port=settings.engine_port or DEFAULT_ENGINE_PORT, spark_remote="")


def engine_remote(settings: Settings) -> str:
    """The engine service's address: the running engine's, else the fixed port it starts on."""
    running = engine.status(settings)
    return running.remote if running else f"sc://{HOST}:{engine_settings(settings).engine_port}"


# --- up / down -------------------------------------------------------------------------


def _wait(what: str, check: Callable[[], bool], log: Path, pid: int | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None and not engine.pid_alive(pid):
            raise StackError(f"{what} exited while starting; see {log}")
        time.sleep(1)
    raise StackError(f"{what} was not healthy within {START_TIMEOUT_S:.0f} s; see {log}")


def up(settings: Settings, say: Callable[[str], None] = print) -> dict[str, int]:
    """Start every service that is not running, health-check each; returns {service: pid}."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    pids = {"postgres": start_postgres(settings, say)}
    say(f"postgres: pid {pids['postgres']}, 127.0.0.1:{settings.postgres_port} and {_pg_dirs(settings)[1]}")

    info, _ = engine.start(engine_settings(settings))
    _record(settings, "engine", info.pid, Path(info.log))
    pids["engine"] = info.pid
    say(f"engine: pid {info.pid}, {info.remote}, log {info.log}")

    prepare_airflow(settings, say)
    env = airflow_environment(settings)
    running = _read_state(settings)
    for service in AIRFLOW_SERVICES:
        known = running.get(service)
        if known and engine.pid_alive(known["pid"]):
            pids[service] = known["pid"]
            continue
        pids[service] = _spawn(settings, service, _airflow_argv(settings, service), env)
    component = {"api-server": "metadatabase", "scheduler": "scheduler", "triggerer": "triggerer", "dag-processor": "dag_processor"}
    for service in AIRFLOW_SERVICES:
        _wait(
            f"Airflow {service}",
            lambda c=component[service]: _healthy(airflow_health(settings), c),
            settings.log_dir / f"{service}.log",
            pids[service],
        )
        say(f"{service}: pid {pids[service]}, healthy")
    say(f"Airflow: {airflow_url(settings)} (user {ADMIN}, password in {airflow_home(settings) / 'passwords.json'})")

    from citybrain import superset

    if not superset.venv_ready():
        say("superset: not installed (make superset-setup), skipped")
        return pids
    try:
        info, _ = superset.start(settings, say)
    except superset.SupersetError as error:  # e.g. an empty lake: no grid to scope analysts to yet
        say(f"superset: not started: {error}; start it later with `citybrain superset start`")
        return pids
    pids["superset"] = info.pid
    say(f"superset: pid {info.pid}, {info.url}")
    return pids


def _stop_pid(pid: int, tree: bool = False) -> bool:
    """SIGTERM the process (with ``tree``, every process below it too: executor workers and
    the task processes they start in sessions of their own), SIGKILL what is left after
    STOP_TIMEOUT_S; True when all are gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *(root.children(recursive=True) if tree else [])]
    except psutil.NoSuchProcess:
        return True
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=STOP_TIMEOUT_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _, alive = psutil.wait_procs(alive, timeout=5)
    return not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _superset_pid(settings: Settings) -> dict[str, int]:
    """{"superset": pid} when Superset runs for this state folder (it keeps its own pid file)."""
    from citybrain import superset

    info = superset.status(settings)
    return {"superset": info.pid} if info else {}


def memory_mib(settings: Settings) -> dict[str, float]:
    """Resident memory of each running service with every process below it, in MiB."""
    import psutil

    pids = {name: known["pid"] for name, known in _read_state(settings).items()}
    postgres = _postgres_pid(settings)
    if postgres:
        pids["postgres"] = postgres
    pids.update(_superset_pid(settings))
    out = {}
    for name, pid in pids.items():
        try:
            root = psutil.Process(pid)
            out[name] = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
        except psutil.NoSuchProcess:
            continue
    return out


def down(settings: Settings, say: Callable[[str], None] = print) -> list[str]:
    """Stop every service of the stack by pid; returns the ones that could not be stopped."""
    from citybrain import superset

    state = _read_state(settings)
    failed = []
    if superset.status(settings):
        superset.stop(settings)
        say("superset: stopped")
    for service in reversed(AIRFLOW_SERVICES):
        known = state.pop(service, None)
        if known is None:
            continue
        if _stop_pid(known["pid"], tree=True):
            say(f"{service}: stopped (pid {known['pid']})")
        else:
            failed.append(f"{service} (pid {known['pid']})")
    if engine.stop(engine_settings(settings)):
        say("engine: stopped")
    state.pop("engine", None)
    if stop_postgres(settings):
        say("postgres: stopped")
    else:
        failed.append(f"postgres (pid {_postgres_pid(settings)})")
    _state_path(settings).parent.mkdir(parents=True, exist_ok=True)
    _state_path(settings).write_text(json.dumps(state, indent=1))
    for what in failed:
        say(f"could not stop {what}")
    return failed


def api(settings: Settings):
    """A REST client of the stack's Airflow, logged in as its admin."""
    from citybrain.airflow_api import AirflowApi

    return AirflowApi(airflow_url(settings), ADMIN, airflow_password(settings))


def processes(settings: Settings) -> list:
    """Every running process of the stack: each recorded service and PostgreSQL, with the processes below them."""
    import psutil

    pids = [known["pid"] for known in _read_state(settings).values()] + [_postgres_pid(settings) or 0, *_superset_pid(settings).values()]
    found = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                found[proc.pid] = proc
    return list(found.values())
