"""Run CityBrain's Airflow DAGs in-process, without a scheduler (the embedded default profile).

Two calls::

    from citybrain import airflow_runner               # imports no Airflow
    airflow_runner.prepare_airflow_home(state_dir / "airflow", dags_folder)
    result = airflow_runner.run_dag("ingest_hotline")   # raises DagRunFailed on failure

``prepare_airflow_home`` writes the Airflow settings into ``os.environ`` and migrates the
SQLite metadata DB when (and only when) it is missing or older than the installed Airflow.
``run_dag`` runs one DAG end to end with ``dag.test()`` in this process, with Airflow's
console output written to a log file under ``AIRFLOW_HOME/logs/dag_runs/``.

Why in-process, and not a subprocess per run
--------------------------------------------
Airflow reads its configuration when ``airflow`` is first imported, so the environment
must be set before that import. Two designs meet that: set ``os.environ`` first and run in
this process, or run every DAG in a child process with the environment. In-process is the
choice here:

* it is much faster: a process pays about 4 s to import Airflow and about 5 s to build and
  warm up the in-process Execution API on its first task run. A subprocess per DAG pays
  both for every DAG (~10 s x 7 ingest DAGs in the demo); in-process pays them once and
  each further small DAG run takes ~0.3 s;
* tasks see the caller's environment (``CITYBRAIN_*``) and the embedded engine the caller
  started, and a test can assert on them directly;
* its failure mode is made loud instead of silent: if Airflow was already imported with a
  different ``AIRFLOW_HOME`` or database, ``prepare_airflow_home`` raises
  ``AirflowConfiguredElsewhere`` instead of letting runs land in ``~/airflow``.

The price is shared global state, handled here: Airflow configures the root logger on
import (``run_dag`` points its handlers at the run's log file for the duration); its task
runner installs SIGTERM and SIGALRM handlers and cancels pending alarms without undoing
it (``run_dag`` restores them, so Ctrl-C/SIGTERM and pytest-timeout keep working);
``execution_timeout`` uses SIGALRM, so it only works when ``run_dag`` is called from the
main thread (elsewhere Airflow logs a warning and runs *without* the timeout). Changing
only the DAGs folder between calls is fine: the bundle config is re-read on every run.
Use a fresh process to switch ``AIRFLOW_HOME``. One home is one SQLite file: a file lock
serialises migrations; for DAG runs in parallel processes give each its own home.

What ``dag.test()`` does in Airflow 3.3 (read in ``airflow/sdk/definitions/dag.py`` and
measured; see tests/dags/test_airflow_runner.py)
-------------------------------------------------------------------------------------
* It needs the metadata DB: it raises if ``settings.Session`` is unset, syncs the DAG
  bundle (every DAG file of the dags folder is parsed and serialised) to the DB, creates a
  DagRun (``triggered_by=TEST``), and loops ``dr.update_state()`` like a mini scheduler.
* Tasks run in this process, one at a time (``run_task_in_process``: same pid, no
  executor, no fork), talking to an in-process Execution API app (FastAPI over WSGI) that
  is built once per process and reads/writes the same DB.
* A task exception does not raise out of ``dag.test()``: the run comes back with state
  ``failed``, the task ``failed`` and its downstream tasks ``upstream_failed``; the
  traceback is only logged. This module collects the exception through Airflow's task
  listener hook (``on_task_instance_failed``) and raises ``DagRunFailed``.
* Retries are honoured, with the real ``retry_delay``: the loop sleeps 1 s at a time until
  the retry is due (a DAG with ``retries=2, retry_delay=1 min`` takes 2 min to fail).
* ``execution_timeout`` works (SIGALRM, main thread only).
* Assets: a task's outlets write ``asset_event`` rows to the DB, but no consumer DAG runs
  (there is no scheduler; DAGs are also paused at creation, so nothing is even queued).
  Run consumers explicitly, in order.
* Running the same DAG again with the same ``logical_date`` replaces the earlier run.
* Task logs (and ``print`` output) go to the process's stdout, not to per-task files.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from citybrain.locks import file_lock

#: The only tags a CityBrain DAG may carry (checked by tests/dags/test_dag_integrity.py).
APPROVED_TAGS: frozenset[str] = frozenset({"citybrain", "bronze", "silver", "gold", "ingest", "refine", "report", "serving", "ops"})
#: verb_object DAG ids: lowercase snake case, at least two words (ingest_hotline).
DAG_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DAGS_FOLDER = PROJECT_ROOT / "dags"

_STAMP_FILE = "citybrain-db.json"
_RUN_LOG_DIR = "dag_runs"
_FINISHED_STATES = {"success", "failed", "skipped", "upstream_failed", "removed"}

_prepared_env: dict[str, str] | None = None


class AirflowConfiguredElsewhere(RuntimeError):
    """Airflow was imported in this process before ``prepare_airflow_home`` set its environment."""


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived while a DAG ran in this process: the running task was interrupted
    and no further task started."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"{signal.Signals(signum).name} received: the DAG run was stopped")


class DagNotFound(LookupError):
    """The DAGs folder has no DAG with that id (the message lists import errors, if any)."""


@dataclass(frozen=True)
class TaskResult:
    """One task instance of a finished run."""

    task_id: str
    state: str
    duration_s: float | None
    try_number: int
    map_index: int = -1
    error: str | None = None  # "ExceptionType: message" of the last failed try


@dataclass(frozen=True)
class DagRunResult:
    """A finished DAG run: its state, each task's state and duration, and where the log is."""

    dag_id: str
    run_id: str
    state: str
    logical_date: datetime | None
    tasks: tuple[TaskResult, ...]
    log_path: Path
    seconds: float  # wall time of run_dag, including parsing and Airflow's warm-up

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    @property
    def failed_tasks(self) -> tuple[TaskResult, ...]:
        return tuple(t for t in self.tasks if t.state == "failed")

    def task(self, task_id: str) -> TaskResult:
        return next(t for t in self.tasks if t.task_id == task_id)


class DagRunFailed(RuntimeError):
    """A DAG run ended in a state other than success; names the failed tasks and the log."""

    def __init__(self, result: DagRunResult):
        self.result = result
        failed = result.failed_tasks
        lines = [
            f"DAG run {result.dag_id} ({result.run_id}) ended {result.state}: "
            + (f"failed task(s): {', '.join(t.task_id for t in failed)}" if failed else "no task failed")
        ]
        for t in failed:
            lines.append(f"  {t.task_id} (try {t.try_number}): {t.error or 'no exception recorded, see the log'}")
        not_run = [t.task_id for t in result.tasks if t.state == "upstream_failed"]
        if not_run:
            lines.append(f"  not run (upstream failed): {', '.join(not_run)}")
        others = [f"{t.task_id}={t.state}" for t in result.tasks if t.state not in _FINISHED_STATES]
        if others:
            lines.append(f"  unfinished: {', '.join(others)}")
        lines.append(f"  task logs: {result.log_path}")
        super().__init__("\n".join(lines))


def airflow_env(home: Path, dags_folder: Path) -> dict[str, str]:
    """The environment Airflow needs for a CityBrain home; pure, sets nothing."""
    home, dags_folder = Path(home).resolve(), Path(dags_folder).resolve()
    bundles = [
        {
            "name": "dags-folder",  # the name dag.test(use_executor=True) expects
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(dags_folder)},
        }
    ]
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),  # never written: environment only
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        # Read on every run (unlike DAGS_FOLDER, which is fixed at import), so the dags
        # folder can change within one process.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",  # no ANSI codes in log files
    }


def prepare_airflow_home(home: Path, dags_folder: Path) -> dict[str, str]:
    """Set up an Airflow home for in-process runs; call it before anything imports Airflow.

    Creates ``home`` (SQLite DB ``airflow.db``, ``logs/``), sets the returned variables in
    ``os.environ``, and migrates the DB only when it is missing or was migrated by another
    Airflow version (a stamp file plus the DB's alembic revision decide, without importing
    Airflow; a file lock keeps concurrent callers from migrating twice).

    Raises ``AirflowConfiguredElsewhere`` when Airflow is already imported in this process
    with a different home or database.
    """
    global _prepared_env
    env = airflow_env(home, dags_folder)
    home = Path(env["AIRFLOW_HOME"])
    _check_not_configured_elsewhere(env)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    os.environ.update(env)
    with file_lock(home / ".migrate.lock"):
        if not _db_is_current(home):
            _migrate(home)
    _prepared_env = env
    return dict(env)


def run_dag(
    dag_id: str,
    *,
    logical_date: datetime | None = None,
    conf: dict[str, Any] | None = None,
) -> DagRunResult:
    """Run one DAG end to end in this process with ``dag.test()``.

    Uses the home prepared by ``prepare_airflow_home`` (when none was, the project's:
    ``<CITYBRAIN_STATE_DIR>/airflow`` and ``dags/``). ``logical_date`` defaults to now (a
    naive datetime is taken as UTC); ``conf`` becomes the run's ``dag_run.conf``.

    Returns the run's state and each task's state and duration. Raises ``DagRunFailed``
    (naming the failed tasks, their exceptions and the log file) when the run does not
    succeed, and ``DagNotFound`` when the DAG does not exist or its file does not import.
    """
    env = _prepared_env if _prepared_env is not None else _prepare_default()
    if logical_date is not None and logical_date.tzinfo is None:
        logical_date = logical_date.replace(tzinfo=UTC)
    started = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    log_path = Path(env["AIRFLOW_HOME"]) / "logs" / _RUN_LOG_DIR / dag_id / f"{stamp}.log"
    errors: dict[tuple[str, int], str] = {}

    with _output_to(log_path), _preserve_signals(), _stop_on_signal():
        dag, import_errors = _load_dag(dag_id, Path(env["AIRFLOW__CORE__DAGS_FOLDER"]))
        if dag is not None:
            _warm_up_execution_api()
            kwargs: dict[str, Any] = {"run_conf": conf}
            if logical_date is not None:
                kwargs["logical_date"] = logical_date
            try:
                with _collect_task_errors(errors):
                    dr = dag.test(**kwargs)
                result = _result(dr, errors, log_path, time.monotonic() - started)
            except Exception as exc:
                exc.add_note(f"Airflow log: {log_path}")
                raise
            print(f"[citybrain] {dag_id} {result.run_id}: {result.state} in {result.seconds:.2f} s", flush=True)

    if dag is None:
        detail = "".join(f"\n  {path}: {err.strip().splitlines()[-1]}" for path, err in import_errors.items())
        raise DagNotFound(
            f"no DAG {dag_id!r} in {env['AIRFLOW__CORE__DAGS_FOLDER']}"
            + (f"; import errors:{detail}\n  full log: {log_path}" if detail else "")
        )
    if not result.succeeded:
        raise DagRunFailed(result)
    return result


# --- helpers ---------------------------------------------------------------------------


def _prepare_default() -> dict[str, str]:
    from citybrain.settings import Settings

    return prepare_airflow_home(Settings.from_env().state_dir / "airflow", DEFAULT_DAGS_FOLDER)


def _check_not_configured_elsewhere(env: dict[str, str]) -> None:
    configuration = sys.modules.get("airflow.configuration")
    if configuration is None:
        return
    imported_home = str(Path(configuration.AIRFLOW_HOME).resolve())
    settings = sys.modules.get("airflow.settings")
    imported_db = getattr(settings, "SQL_ALCHEMY_CONN", None) if settings else None
    wanted_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if imported_home != env["AIRFLOW_HOME"] or (imported_db is not None and imported_db != wanted_db):
        raise AirflowConfiguredElsewhere(
            f"Airflow was imported in this process with AIRFLOW_HOME={imported_home} "
            f"(database {imported_db}) before prepare_airflow_home({env['AIRFLOW_HOME']}) ran; "
            "Airflow reads its configuration once, at import. Call prepare_airflow_home "
            "before anything imports airflow, or run in a fresh process."
        )


def _airflow_version() -> str:
    return metadata.version("apache-airflow-core")


def _db_revision(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _db_is_current(home: Path) -> bool:
    stamp_path = home / _STAMP_FILE
    if not stamp_path.exists():
        return False
    try:
        stamp = json.loads(stamp_path.read_text())
    except ValueError:
        return False
    return stamp.get("airflow") == _airflow_version() and stamp.get("revision") == _db_revision(home / "airflow.db")


def _migrate(home: Path) -> None:
    log_path = home / "logs" / "db_migrate.log"
    started = time.monotonic()
    with _output_to(log_path), _preserve_signals():
        from airflow.utils.db import upgradedb

        upgradedb()
        print(f"[citybrain] migrated in {time.monotonic() - started:.2f} s", flush=True)
    revision = _db_revision(home / "airflow.db")
    if revision is None:
        raise RuntimeError(f"Airflow DB migration left no alembic revision; see {log_path}")
    (home / _STAMP_FILE).write_text(json.dumps({"airflow": _airflow_version(), "revision": revision, "migrated_at": time.time()}))


def _load_dag(dag_id: str, dags_folder: Path) -> tuple[Any, dict[str, str]]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags_folder)
    return bag.dags.get(dag_id), dict(bag.import_errors)


def _warm_up_execution_api() -> None:
    """Build Airflow's in-process Execution API before the first task, not inside it.

    Its first request costs ~5 s per process; without this, that time is counted in the
    first task's duration. Best effort: it relies on an Airflow-internal helper.
    """
    try:
        import httpx
        from airflow.sdk.execution_time.supervisor import in_process_api_server

        api = in_process_api_server()
        with httpx.Client(transport=api.transport, base_url="http://in-process.invalid./") as client:
            client.get("/health")
    except Exception:  # noqa: BLE001 - an optimisation only; dag.test() does the real work
        logging.getLogger(__name__).debug("execution API warm-up skipped", exc_info=True)


@contextlib.contextmanager
def _collect_task_errors(errors: dict[tuple[str, int], str]) -> Iterator[None]:
    """Record each failed try's exception via Airflow's task listener hook."""
    from airflow.listeners import hookimpl
    from airflow.sdk.listener import get_listener_manager

    class _Collector:
        @hookimpl
        def on_task_instance_failed(self, previous_state, task_instance, error):
            key = (task_instance.task_id, getattr(task_instance, "map_index", -1))
            if isinstance(error, BaseException):
                errors[key] = f"{type(error).__name__}: {error}"
            elif error:
                errors[key] = str(error)

    collector = _Collector()
    manager = get_listener_manager()
    manager.add_listener(collector)
    try:
        yield
    finally:
        manager.pm.unregister(collector)


@contextlib.contextmanager
def _preserve_signals() -> Iterator[None]:
    """Undo what Airflow's in-process task runner leaves behind in the caller's process.

    Each task installs a SIGTERM handler (and, with ``execution_timeout``, a SIGALRM handler
    and ``setitimer(0)``) and never restores them: afterwards SIGTERM no longer stops the
    process, and a pending alarm of the caller (e.g. pytest-timeout) is cancelled.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be read back and set from the main thread
        return
    names = ("SIGTERM", "SIGINT", "SIGALRM", "SIGUSR2")
    saved = {n: signal.getsignal(getattr(signal, n)) for n in names if hasattr(signal, n)}
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    try:
        yield
    finally:
        for name, handler in saved.items():
            if handler is not None:
                signal.signal(getattr(signal, name), handler)
        if delay > 0:
            signal.setitimer(signal.ITIMER_REAL, max(delay - (time.monotonic() - started), 0.001), interval)


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[None]:
    """SIGTERM and SIGINT stop the DAG run: the running task is interrupted, no further task starts,
    and ``RunInterrupted`` leaves ``run_dag``.

    Without this a signal does not stop an in-process run. At the start of each task Airflow's
    task runner sets a SIGTERM handler that only calls the operator's ``on_kill()`` (the task runs
    on), and it takes whatever a task raises, KeyboardInterrupt too, as that task's failure, so
    ``dag.test()`` retries it or goes on to the next task. So the handler below is set again at
    the start of every task (the ``on_task_instance_running`` listener hook, called after Airflow
    set its own), and once a task's runner returns after a signal, ``RunInterrupted`` is raised
    again outside it, where ``dag.test()`` (which catches only ``Exception``) lets it through.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    from airflow.listeners import hookimpl
    from airflow.sdk.execution_time import supervisor
    from airflow.sdk.listener import get_listener_manager

    received: list[int] = []

    def interrupt(signum, _frame):
        received.append(signum)
        raise RunInterrupted(signum)

    class _Rearm:
        @hookimpl
        def on_task_instance_running(self, previous_state, task_instance):
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, interrupt)
                signal.signal(signal.SIGINT, interrupt)

    run_task = supervisor.run_task_in_process

    def run_task_then_stop_if_signalled(*args, **kwargs):
        result = run_task(*args, **kwargs)
        if received:
            raise RunInterrupted(received[0])
        return result

    rearm = _Rearm()
    manager = get_listener_manager()
    manager.add_listener(rearm)
    supervisor.run_task_in_process = run_task_then_stop_if_signalled  # dag.test() imports it by name at each task
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        supervisor.run_task_in_process = run_task
        manager.pm.unregister(rearm)


def _result(dr: Any, errors: dict[tuple[str, int], str], log_path: Path, seconds: float) -> DagRunResult:
    tasks = []
    for ti in sorted(dr.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date or 0, t.task_id)):
        state = str(getattr(ti.state, "value", ti.state)) if ti.state is not None else "none"
        tasks.append(
            TaskResult(
                task_id=ti.task_id,
                state=state,
                duration_s=ti.duration,
                try_number=ti.try_number,
                map_index=ti.map_index,
                error=errors.get((ti.task_id, ti.map_index)),
            )
        )
    return DagRunResult(
        dag_id=dr.dag_id,
        run_id=dr.run_id,
        state=str(getattr(dr.state, "value", dr.state)),
        logical_date=dr.logical_date,
        tasks=tuple(tasks),
        log_path=log_path,
        seconds=seconds,
    )


class _Sink(io.TextIOBase):
    """A text stream writing to the current run's log file, else to today's ``sys.<name>``.

    Loggers that look up ``sys.stdout`` while a run is under way keep a reference to this
    object; after the run their output goes back where it would have gone.
    """

    def __init__(self, name: str):
        self._name = name
        self._target: Any = None
        self._lock = threading.RLock()

    def _current(self) -> Any:
        if self._target is not None:
            return self._target
        stream = getattr(sys, self._name)
        return stream if stream is not self else getattr(sys, f"__{self._name}__")

    def write(self, s: str) -> int:
        with self._lock:
            return self._current().write(s)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._current().flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._current().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True


_sink_out: _Sink | None = None
_sink_err: _Sink | None = None


@contextlib.contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """Send everything this process prints or logs to stdout/stderr into ``log_path``.

    Covers Python writes (``sys.stdout``/``sys.stderr``, including loggers that looked them
    up before the run: their handlers are pointed at the file for the duration) and native
    writes to file descriptors 1 and 2 (child processes, Rust/C libraries).
    """
    global _sink_out, _sink_err
    log_path.parent.mkdir(parents=True, exist_ok=True)
    logfile = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
    old_out, old_err = sys.stdout, sys.stderr
    if _sink_out is None:
        _sink_out, _sink_err = _Sink("stdout"), _Sink("stderr")
    assert _sink_err is not None
    saved_targets = (_sink_out._target, _sink_err._target)
    _sink_out._target = _sink_err._target = logfile

    retargeted = []
    for logger in [logging.getLogger(), *_named_loggers()]:
        for handler in getattr(logger, "handlers", []):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and stream in (
                old_out,
                old_err,
                sys.__stdout__,
                sys.__stderr__,
            ):
                with contextlib.suppress(AttributeError):  # logging.lastResort: read-only stream
                    handler.setStream(logfile)
                    retargeted.append((handler, stream))

    for stream in (old_out, old_err):
        with contextlib.suppress(Exception):
            stream.flush()
    saved_fds = []
    for fd in (1, 2):
        try:
            saved_fds.append((fd, os.dup(fd)))
            os.dup2(logfile.fileno(), fd)
        except OSError:
            pass
    sys.stdout, sys.stderr = _sink_out, _sink_err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        for fd, saved in saved_fds:
            os.dup2(saved, fd)
            os.close(saved)
        for handler, stream in retargeted:
            handler.setStream(stream)
        _sink_out._target, _sink_err._target = saved_targets
        logfile.close()


def _named_loggers() -> list[logging.Logger]:
    return [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]


__all__ = [
    "APPROVED_TAGS",
    "DAG_ID_PATTERN",
    "DEFAULT_DAGS_FOLDER",
    "AirflowConfiguredElsewhere",
    "DagNotFound",
    "DagRunFailed",
    "DagRunResult",
    "TaskResult",
    "airflow_env",
    "prepare_airflow_home",
    "run_dag",
]
