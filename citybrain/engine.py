"""The one place that hands out a Spark Connect session.

Embedded default (profiles ``local`` and ``ci``): the project runs a Sail Spark Connect
server as its own background process on 127.0.0.1 (``CITYBRAIN_ENGINE_PORT``, default a
free port), records its pid, port and log in ``<state_dir>/engine.json``, writes its log
to a file of its own (``<state_dir>/logs/sail-<start time>.log``), and reuses it while it
answers. Cluster profile: ``CITYBRAIN_SPARK_REMOTE=sc://host:port`` points the same code
at a Spark 4.1 Connect server with delta-spark.

Who starts an engine: only a command (``citybrain demo``, ``run``, ``ingest``, ``engine
start``, ``up``), under a file lock so that two callers never start two servers; a
command stops the engine it started, even on failure. An Airflow task never starts one:
it uses ``CITYBRAIN_SPARK_REMOTE`` or the running engine and fails with one line when
there is none.

A dead engine fails fast: every session hand-out checks that the server's port answers;
Spark Connect's retries (minutes by default) go on only while it still does (a killed
server is given up within seconds); gRPC keepalive pings notice a peer that stopped
answering on an open connection; ``spark.stop()`` is bounded; closing a session never waits
for the release calls of other sessions (``_release_pool_shutdown_without_waiting``). Each
task makes a fresh session and stops it, so a retry never reuses a session of a server that
went away.

Idle sessions: Sail drops a session that made no call for ``spark.session_timeout_secs`` (900 s
by default), and every later call on it fails with "session ... is not running". A cached session
is therefore confirmed before it is handed out again (``_server_keeps``), and a process that holds
one session across long idle stretches on purpose (the test run) starts its engine with a longer
``idle_session_s``.

Fixed costs kept out of the jobs: the embedded engine imports what the jobs' Python UDFs need
once it answers (``_preload_udf_modules``), and no session records PySpark's call sites
(``_without_call_sites``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from citybrain import locks
from citybrain.settings import Settings

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
#: how long a task waits for an engine that is not (yet) answering before it fails
TASK_WAIT_S = 5.0
#: the longest ``spark.stop()`` may take (it releases the session on the server)
SESSION_STOP_S = 10.0
#: gRPC keepalive: a ping every 10 s on a busy connection, a peer silent for 10 s more is dead
CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)
#: the Sail setting (as its environment variable) for how long a session may make no call before the
#: server drops it, and Sail 0.7's default for it
IDLE_SESSION_ENV = "SAIL_SPARK__SESSION_TIMEOUT_SECS"
SAIL_IDLE_SESSION_S = 900
#: PySpark's record of the calling file and line for every DataFrame and Column call, quoted in a
#: server's error; off in every session made here (``_without_call_sites``)
CALL_SITES_CONF = "spark.python.sql.dataFrameDebugging.enabled"
#: what the jobs' Python UDFs (``mapInArrow``) import in the embedded engine, which runs them in its
#: own interpreter: PySpark's worker and the modules the functions come from (``_preload_udf_modules``)
UDF_MODULES = (
    "pyspark.worker",
    "pyspark.sql.pandas.serializers",
    "h3ronpy.vector",
    "citybrain.jobs.silver.geo",
    "citybrain.jobs.silver.grid",
    "citybrain.jobs.gold.ride_hailing_demand",
)


class EngineError(RuntimeError):
    """The Spark Connect engine could not be started, reached or stopped."""


@dataclass(frozen=True)
class EngineInfo:
    pid: int
    host: str
    port: int
    log: str

    @property
    def remote(self) -> str:
        return f"sc://{self.host}:{self.port}"


def _state_file(settings: Settings) -> Path:
    return settings.state_dir / "engine.json"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not; used for every server the project starts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def idle_session_limit_s() -> int:
    """How long an engine started by this process keeps an idle session: ``IDLE_SESSION_ENV`` when
    set, else Sail's default (``start`` sets it for the server it starts from ``idle_session_s``)."""
    return int(float(os.environ.get(IDLE_SESSION_ENV, SAIL_IDLE_SESSION_S)))


def _port_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def status(settings: Settings) -> EngineInfo | None:
    """The running embedded engine, or None when there is none (a stale state file is removed)."""
    path = _state_file(settings)
    if not path.exists():
        return None
    try:
        info = EngineInfo(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if pid_alive(info.pid) and _port_answers(info.host, info.port):
        return info
    if not pid_alive(info.pid):
        path.unlink(missing_ok=True)
    return None


def start(settings: Settings, *, owner_pid: int | None = None, idle_session_s: int | None = None) -> tuple[EngineInfo, bool]:
    """Start the embedded Sail server unless one is running; returns (info, started_now).

    ``owner_pid``: a server started now stops by itself once that process is gone, even when it
    could not stop the server (a test run ended by its hang watchdog); without it the server runs
    until it is stopped, as ``citybrain engine start`` wants.
    ``idle_session_s``: how long a session may make no call before a server started now drops it
    (default: Sail's, ``SAIL_IDLE_SESSION_S``, unless ``IDLE_SESSION_ENV`` is set)."""
    with locks.file_lock(settings.state_dir / "engine.lock"):  # check -> start -> wait, one caller at a time
        running = status(settings)
        if running:
            return running, False
        return _start_server(settings, owner_pid, idle_session_s), True


def _start_server(settings: Settings, owner_pid: int | None = None, idle_session_s: int | None = None) -> EngineInfo:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    state = _state_file(settings)
    state.unlink(missing_ok=True)
    log_path = settings.log_dir / f"sail-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.log"
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
    if idle_session_s is not None:
        env[IDLE_SESSION_ENV] = str(idle_session_s)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "citybrain.engine", "serve", "--state-file", str(state), "--log", str(log_path)]
            + ["--port", str(settings.engine_port)]
            + (["--owner-pid", str(owner_pid)] if owner_pid else []),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed by a Ctrl-C meant for the client
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"the Sail engine exited with code {proc.returncode} while starting; see {log_path}")
        info = status(settings)
        if info and info.pid == proc.pid:
            return info
        time.sleep(0.1)
    _terminate(proc.pid)
    raise EngineError(f"the Sail engine did not answer within {START_TIMEOUT_S:.0f} s; see {log_path}")


def stop(settings: Settings) -> bool:
    """Stop the embedded engine by its pid; True when one was running."""
    path = _state_file(settings)
    if not path.exists():
        return False
    try:
        state = json.loads(path.read_text())
        pid = state["pid"]
    except (ValueError, KeyError):
        path.unlink(missing_ok=True)
        return False
    was_alive = pid_alive(pid)
    if was_alive:
        close_sessions(f"sc://{state.get('host')}:{state.get('port')}")  # a client left on a dead server retries for minutes
        _terminate(pid)
    path.unlink(missing_ok=True)
    return was_alive


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def remote_url(settings: Settings, wait_s: float | None = None) -> str:
    """The sc:// address to use: ``CITYBRAIN_SPARK_REMOTE``, else the running embedded engine.

    Never starts an engine (commands do that, see ``start``); waits up to ``wait_s`` for one
    that is starting, then fails with one line saying how to start one.
    """
    if settings.spark_remote:
        return settings.spark_remote
    wait_s = TASK_WAIT_S if wait_s is None else wait_s
    deadline = time.monotonic() + wait_s
    while True:
        info = status(settings)
        if info:
            return info.remote
        if time.monotonic() >= deadline:
            raise EngineError(
                f"no Spark Connect engine is running for {settings.state_dir} (waited {wait_s:.0f} s): "
                "start one with `citybrain engine start` or `citybrain up`, or set CITYBRAIN_SPARK_REMOTE"
            )
        time.sleep(0.5)


def _host_port(remote: str) -> tuple[str, int]:
    hostport = remote.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host or "127.0.0.1", int(port or 15002)


def answers(remote: str) -> bool:
    """Whether the server behind ``remote`` accepts connections."""
    return _port_answers(*_host_port(remote))


def check_healthy(remote: str) -> None:
    """Fail fast when the server behind ``remote`` does not accept connections."""
    if not answers(remote):
        raise EngineError(f"the Spark Connect server at {remote} does not answer")


def describe(settings: Settings, remote: str) -> str:
    """The engine behind ``remote`` in words, with its log when it is the embedded one."""
    info = _recorded(settings)
    if info and info.remote == remote:
        return f"the Sail engine at {remote} (pid {info.pid}; log {info.log})"
    return f"the Spark Connect server at {remote}"


def _still_serving(settings: Settings, remote: str) -> bool:
    """Whether the engine behind ``remote`` still runs and accepts connections."""
    info = _recorded(settings)
    if info and info.remote == remote and not pid_alive(info.pid):
        return False
    return answers(remote)


def _recorded(settings: Settings) -> EngineInfo | None:
    """What engine.json says, alive or not."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        return EngineInfo(**json.loads(_state_file(settings).read_text()))
    return None


_sessions: dict[str, object] = {}


def close_sessions(remote: str | None = None) -> None:
    """Stop the sessions this process holds on ``remote`` (all when None), before their server goes away."""
    for address in [a for a in _sessions if remote is None or a == remote]:
        stop_session(_sessions.pop(address))


def _make_active(session) -> None:
    """Make ``session`` the one PySpark's helpers find (another session's stop() clears it)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    if isinstance(session, ConnectSession):
        ConnectSession._set_default_and_active_session(session)


def _live_server_policy(remote: str):
    """Spark Connect's default retry policy, retrying only while the server still accepts connections."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    class LiveServerPolicy(DefaultPolicy):
        def can_retry(self, e: BaseException) -> bool:
            return super().can_retry(e) and answers(remote)

    return LiveServerPolicy()


def _release_pool_shutdown_without_waiting() -> None:
    """Make closing a Spark Connect client stop waiting for the process-wide pool of release calls.

    In pyspark-client 4.1, ``SparkConnectClient.close()`` calls
    ``ExecutePlanResponseReattachableIterator.shutdown()``, which waits for every thread of one pool
    shared by all the process's sessions (the ReleaseExecute calls). A session's ``__del__`` closes
    its client, and the garbage collector may run that finalizer inside one of the pool's threads
    while it holds a channel's lock mid-call: it then waits for the pool's other thread, which waits
    for that lock, and every later call on the channel hangs. It did: a test session created and
    stopped in one test was collected during the next test's ``count()`` (a CI run that hung until
    its limit). This is SPARK-55362; its fix, used here, is to shut the pool down without waiting
    (the server drops executions whose release never comes). pyspark-client 4.2 reworks the pool
    (SPARK-55406) and has no ``shutdown`` left: remove this with the upgrade.
    """
    from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Reattachable

    if not hasattr(Reattachable, "shutdown") or getattr(Reattachable.shutdown, "without_waiting", False):
        return

    def shutdown(cls) -> None:
        with cls._lock:
            pool, cls._release_thread_pool_instance = cls._release_thread_pool_instance, None
        if pool is not None:
            pool.shutdown(wait=False)

    shutdown.without_waiting = True
    Reattachable.shutdown = classmethod(shutdown)


def _new_session(remote: str):
    from pyspark.sql.connect.client import DefaultChannelBuilder
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    _release_pool_shutdown_without_waiting()
    channel = DefaultChannelBuilder(remote, channelOptions=list(CHANNEL_OPTIONS))
    session = ConnectSession.builder.channelBuilder(channel).create()
    session.client.set_retry_policies([_live_server_policy(remote)])
    if not reattachable(remote):
        session.client.disable_reattachable_execute()
    _without_ml_cache_cleanup_at_exit(session)
    _without_call_sites(session)
    return session


def _without_ml_cache_cleanup_at_exit(session) -> None:
    """Drop the exit hook through which pyspark-client 4.1 asks the server to clear its Spark ML
    cache (one per client, ``SparkConnectClient._cleanup_ml_cache``).

    CityBrain runs no Spark ML over Connect (its models are scikit-learn), and when the engine is
    gone by the time the process exits (stopped by another process, killed in a test) the hook's
    call fails, and with Spark Connect's log on (``SPARK_CONNECT_LOG_LEVEL``, or a test run's log
    capture) PySpark logs a gRPC traceback after everything else has finished. A client without
    the hook (another pyspark-client version) is left as it is.
    """
    hook = getattr(session.client, "_cleanup_ml_cache", None)
    if hook is not None:
        atexit.unregister(hook)


def reattachable(remote: str) -> bool:
    """Whether a session on ``remote`` uses Spark Connect's reattachable execution: not on this machine.

    Reattachable execution lets a client resume a result stream that a network broke, and costs a
    second call per query to release the result. On a loopback connection no network can break the
    stream (the server's death ends it either way), and that call cost 2-4 ms of every query's 4-8 ms:
    a calendar refine of some 30 queries went from 0.51 s to 0.46 s (BENCHMARKS.md, M at acfb7e9).
    A remote engine keeps it: there, a long result may cross proxies that cut idle streams.
    """
    host = _host_port(remote)[0].strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return True


def _without_call_sites(session) -> None:
    """Stop PySpark recording the caller of every DataFrame and Column call (``CALL_SITES_CONF``).

    On a Connect client each such call walks the stack and tries to import IPython: a small
    refine makes some 700 of them, 0.1-0.15 s of its 1 s (petitions, default city, measured
    by timing refines in one process). The call site only decorates a server error, which the
    jobs explain themselves. PySpark reads the setting once per process, at the first call
    made while a session is active, so it is set before this session is used. A server that
    refuses it (a Spark cluster holding it as a static setting) keeps the default: set it in
    that server's own configuration instead.
    """
    try:
        session.conf.set(CALL_SITES_CONF, "false")
    except Exception as exc:  # noqa: BLE001 - a server's refusal costs speed, not correctness
        log.info("%s not set on this server (%s): PySpark records call sites", CALL_SITES_CONF, type(exc).__name__)


def stop_session(session, timeout_s: float = SESSION_STOP_S) -> None:
    """``session.stop()``, given up after ``timeout_s`` (it talks to a server that may be gone)."""

    def _stop() -> None:
        with contextlib.suppress(Exception):
            session.stop()

    stopper = threading.Thread(target=_stop, name="spark-session-stop", daemon=True)
    stopper.start()
    stopper.join(timeout_s)


def _server_keeps(session) -> bool:
    """Whether the server still holds ``session`` (one Config call, a few ms): Sail drops an idle one."""
    try:
        session.conf.get("spark.sql.session.timeZone")
    except Exception:  # noqa: BLE001 - "session ... is not running", or any other reason not to reuse it
        return False
    return True


def get_session(settings: Settings, *, new: bool = False):
    """A Spark Connect session on the configured engine (health-checked).

    Sessions are shared per server address within a process unless ``new`` is asked for;
    a session whose server went away, or dropped it for idleness, is replaced rather than handed
    out again.
    """
    remote = remote_url(settings)
    check_healthy(remote)
    cached = _sessions.pop(remote, None) if not new else None
    if cached is not None and not getattr(cached, "is_stopped", False) and _server_keeps(cached):
        _sessions[remote] = cached
        _make_active(cached)
        return cached
    if cached is not None:
        stop_session(cached)
    session = _new_session(remote)
    # Jobs parse local times with the source's own zone (see the source mappings), so the
    # session works in UTC and every stored timestamp is an unambiguous instant.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if not new:
        _sessions[remote] = session
    return session


@contextlib.contextmanager
def command_engine(settings: Settings) -> Iterator[str]:
    """The engine of one command: the configured remote, else the embedded engine, started
    here when none runs and then stopped afterwards, even on failure.

    A failure while the engine no longer answers becomes one ``EngineError`` line naming
    the engine and its log (the original error is its cause).
    """
    started_here = False
    if not settings.spark_remote:
        _, started_here = start(settings)
    remote = remote_url(settings)
    who = describe(settings, remote)
    try:
        yield remote
    except Exception as exc:
        if not isinstance(exc, EngineError) and not _still_serving(settings, remote):
            raise EngineError(f"{who} stopped answering; {type(exc).__name__} in the run") from exc
        raise
    finally:
        if started_here:
            stop(settings)


@contextlib.contextmanager
def fresh_session(settings: Settings) -> Iterator:
    """A new session on the running engine (never started here), stopped (bounded) when done."""
    from pyspark.sql import SparkSession

    previous = SparkSession.getActiveSession()
    spark = get_session(settings, new=True)
    try:
        yield spark
    finally:
        stop_session(spark)
        if previous is not None and not previous.is_stopped:
            _make_active(previous)


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator:
    """A session for one command; stops the embedded engine afterwards if this scope started it."""
    with command_engine(settings), fresh_session(settings) as spark:
        yield spark


def _preload_udf_modules() -> None:
    """Import ``UDF_MODULES`` in the engine's process, in the background once it answers.

    Sail runs a Python UDF in the server's own interpreter, which imports PySpark's worker,
    pandas, pyarrow, h3 and shapely at the first one: on a fresh engine the first refine took
    0.6 s longer than the next (the registry's, 12,078 grids). Done here, that wait is over
    before a pipeline gets to its first UDF. A module that fails to import is left to the UDF
    that needs it, which then says why.
    """
    started = time.monotonic()
    for name in UDF_MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported by the UDF that needs it
            print(f"not preloaded for Python UDFs: {name} ({type(exc).__name__}: {exc})", flush=True)
    print(f"modules of the Python UDFs preloaded in {time.monotonic() - started:.1f} s", flush=True)


def _serve(state_file: Path, log: Path, port: int, owner_pid: int | None = None) -> None:
    """Run a Sail Spark Connect server in this process until SIGTERM/SIGINT (or until process
    ``owner_pid`` is gone)."""
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", port)
    server.start(background=True)
    host, port = server.listening_address
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port, "log": str(log)}))
    tmp.replace(state_file)
    print(
        f"Sail Spark Connect server listening on {host}:{port} (pid {os.getpid()}; idle sessions dropped after {idle_session_limit_s()} s)",
        flush=True,
    )
    threading.Thread(target=_preload_udf_modules, name="preload-udf-modules", daemon=True).start()

    stopping = False

    def _on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stopping and server.running:
        if owner_pid and not pid_alive(owner_pid):
            print(f"process {owner_pid}, which this server was started for, is gone", flush=True)
            break
        time.sleep(0.2)
    server.stop()
    print("Sail Spark Connect server stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m citybrain.engine")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the embedded Sail server in the foreground")
    serve.add_argument("--state-file", type=Path, required=True)
    serve.add_argument("--log", type=Path, required=True, help="the log file this server writes to (recorded in the state file)")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    serve.add_argument("--owner-pid", type=int, help="stop once this process is gone (default: run until stopped)")
    args = parser.parse_args()
    _serve(args.state_file, args.log, args.port, args.owner_pid)
