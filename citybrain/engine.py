"""The one place that hands out a Spark Connect session.

Embedded default (profiles ``local`` and ``ci``): the project runs a Sail Spark Connect
server as its own background process on 127.0.0.1 (a free port), records its pid and
port in ``<state_dir>/engine.json``, writes its log to ``<state_dir>/logs/sail.log``,
and reuses it while it answers. Cluster profile: ``CITYBRAIN_SPARK_REMOTE=sc://host:port``
points the same code at a Spark 4.1 Connect server with delta-spark.

A Spark Connect client whose server died keeps retrying for minutes, so every session
hand-out first checks that the server's port answers and fails fast when it does not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from citybrain.settings import Settings

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


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


def start(settings: Settings) -> tuple[EngineInfo, bool]:
    """Start the embedded Sail server unless one is running; returns (info, started_now)."""
    running = status(settings)
    if running:
        return running, False
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    state = _state_file(settings)
    state.unlink(missing_ok=True)
    log_path = settings.log_dir / "sail.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "citybrain.engine", "serve", "--state-file", str(state)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed by a Ctrl-C meant for the client
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EngineError(f"the Sail engine exited with code {proc.returncode} while starting; see {log_path}")
        info = status(settings)
        if info and info.pid == proc.pid:
            return info, True
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


def remote_url(settings: Settings) -> str:
    """The sc:// address to use, starting the embedded engine when needed."""
    if settings.spark_remote:
        return settings.spark_remote
    info, _ = start(settings)
    return info.remote


def check_healthy(remote: str) -> None:
    """Fail fast when the server behind ``remote`` does not accept connections."""
    hostport = remote.removeprefix("sc://").split("/", 1)[0].split(";", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not _port_answers(host or "127.0.0.1", int(port or 15002)):
        raise EngineError(f"the Spark Connect server at {remote} does not answer")


_sessions: dict[str, object] = {}


def close_sessions(remote: str | None = None) -> None:
    """Stop the sessions this process holds on ``remote`` (all when None), before their server goes away."""
    for address in [a for a in _sessions if remote is None or a == remote]:
        with contextlib.suppress(Exception):
            _sessions.pop(address).stop()


def _make_active(session) -> None:
    """Make ``session`` the one PySpark's helpers find (another session's stop() clears it)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    if isinstance(session, ConnectSession):
        ConnectSession._set_default_and_active_session(session)


def get_session(settings: Settings, *, new: bool = False):
    """A Spark Connect session on the configured engine (health-checked).

    Sessions are shared per server address within a process unless ``new`` is asked for;
    a session whose server went away is replaced rather than handed out again.
    """
    from pyspark.sql import SparkSession

    remote = remote_url(settings)
    check_healthy(remote)
    cached = _sessions.get(remote)
    if cached is not None and not new and not getattr(cached, "is_stopped", False):
        _make_active(cached)
        return cached
    session = SparkSession.builder.remote(remote).create()
    # Jobs parse local times with the source's own zone (see the source mappings), so the
    # session works in UTC and every stored timestamp is an unambiguous instant.
    session.conf.set("spark.sql.session.timeZone", "UTC")
    if not new:
        _sessions[remote] = session
    return session


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator:
    """A session for one command; stops the embedded engine afterwards if this scope started it."""
    from pyspark.sql import SparkSession

    started_here = False
    if not settings.spark_remote:
        _, started_here = start(settings)
    previous = SparkSession.getActiveSession()
    spark = get_session(settings, new=True)
    try:
        yield spark
    finally:
        with contextlib.suppress(Exception):
            spark.stop()
        if previous is not None and not previous.is_stopped:
            _make_active(previous)
        if started_here:
            stop(settings)


def _serve(state_file: Path) -> None:
    """Run a Sail Spark Connect server in this process until SIGTERM/SIGINT."""
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port, "log": str(state_file.parent / "logs" / "sail.log")}))
    tmp.replace(state_file)
    print(f"Sail Spark Connect server listening on {host}:{port} (pid {os.getpid()})", flush=True)

    stopping = False

    def _on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stopping and server.running:
        time.sleep(0.2)
    server.stop()
    print("Sail Spark Connect server stopped", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m citybrain.engine")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the embedded Sail server in the foreground")
    serve.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args()
    _serve(args.state_file)
