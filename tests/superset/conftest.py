"""Fixtures of the Superset tests: a small demo lake, and Superset started on it through the CLI.

The server is started once per test run on a free port of 127.0.0.1 by ``citybrain superset
start`` (a subprocess, as a user would) and stopped by its pid at the end, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from citybrain.settings import _project_root

SCREENSHOTS = _project_root() / ".citybrain" / "artifacts" / "screenshots"


def citybrain(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "citybrain.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    pid: int
    env: dict
    state_dir: Path
    lake_root: Path
    passwords: dict
    district: str  # the district analyst's district_code
    districts: dict  # every district_code -> district_name of the lake


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory) -> dict:
    """A 4-week demo city at 5 % volume, run through every DAG (about a minute); returns its environment."""
    root = tmp_path_factory.mktemp("superset_city")
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": str(root / "lake"),
        "CITYBRAIN_STATE_DIR": str(root / "state"),
        "CITYBRAIN_DEMO_DIR": str(root / "demo_city"),
        "CITYBRAIN_SPARK_REMOTE": "",
        "CITYBRAIN_PROFILE": "ci",
    }
    for name in [k for k in env if k.startswith("CITYBRAIN_SUPERSET_")]:
        del env[name]
    done = citybrain(env, "demo", "--days", "28", "--scale", "0.05")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return env


@pytest.fixture(scope="session")
def superset_server(small_lake) -> Server:
    from deltalake import DeltaTable

    port = free_port()
    env = {**small_lake, "CITYBRAIN_SUPERSET_PORT": str(port)}
    state = Path(env["CITYBRAIN_STATE_DIR"])
    server_file = state / "superset" / "server.json"
    try:
        done = citybrain(env, "superset", "start")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        info = json.loads(server_file.read_text())
        grid = DeltaTable(f"{env['CITYBRAIN_LAKE_ROOT']}/silver/grid").to_pyarrow_table(columns=["district_code", "district_name"])
        districts = dict(sorted(set(zip(*grid.to_pydict().values(), strict=True))))
        yield Server(
            url=f"http://127.0.0.1:{port}",
            port=port,
            pid=info["pid"],
            env=env,
            state_dir=state,
            lake_root=Path(env["CITYBRAIN_LAKE_ROOT"]),
            passwords=json.loads((state / "superset" / "credentials.json").read_text()),
            district=min(districts),
            districts=districts,
        )
    finally:
        pid = json.loads(server_file.read_text())["pid"] if server_file.exists() else None
        citybrain(env, "superset", "stop", timeout=60)
        if pid:
            _stop_pid(pid)


def _stop_pid(pid: int) -> None:
    """Make sure the server we started is gone (by its pid only)."""
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
