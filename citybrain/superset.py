"""Superset for policy analysts: its environment, its assets and its web server on 127.0.0.1.

Superset 6.1 clashes with Airflow's pins, so it runs from a virtual environment of its own
(``.venv-superset``, pinned by infra/superset/constraints.txt). This module runs in the
project environment and drives Superset only through subprocesses:

- ``ensure_venv``     creates or refreshes .venv-superset (uv, pip when uv is missing);
- ``render_assets``   turns the dashboards kept as code (infra/superset/assets/) into this
                      environment's export: the serving DB's path filled in and every
                      dataset column described from its table contract;
- ``start``           rebuilds the serving DB, runs infra/superset/bootstrap.py
                      (migrations, roles, users, import, row-level security) and then
                      gunicorn on 127.0.0.1 in the background; ``stop`` and ``status``.

State: ``<state_dir>/superset/`` (metadata DB, generated credentials, rendered assets,
server.json with pid and port); log: ``<state_dir>/logs/superset.log``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from citybrain import serving
from citybrain.engine import pid_alive
from citybrain.settings import Settings, _project_root

INFRA = _project_root() / "infra" / "superset"
ASSETS = INFRA / "assets"
DEFAULT_PORT = 8088
HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
USERS = ("admin", "city_analyst", "district_analyst")
SERVING_DB_PLACEHOLDER = "{{ serving_db }}"


class SupersetError(RuntimeError):
    """Superset could not be set up, started or stopped (the message says why and where to look)."""


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def venv_dir() -> Path:
    return Path(os.environ.get("CITYBRAIN_SUPERSET_VENV", "") or _project_root() / ".venv-superset")


def home(settings: Settings) -> Path:
    return settings.state_dir / "superset"


def log_path(settings: Settings) -> Path:
    return settings.log_dir / "superset.log"


# --- environment -------------------------------------------------------------------------


def _constraints_digest() -> str:
    return hashlib.sha256((INFRA / "constraints.txt").read_bytes()).hexdigest()


def venv_ready() -> bool:
    stamp = venv_dir() / ".citybrain-installed"
    return stamp.exists() and stamp.read_text().strip() == _constraints_digest() and (venv_dir() / "bin" / "gunicorn").exists()


def ensure_venv(say: Callable[[str], None] = print) -> Path:
    """.venv-superset with exactly infra/superset/constraints.txt; a no-op when already installed."""
    venv = venv_dir()
    if venv_ready():
        return venv
    started = time.monotonic()
    say(f"installing Superset's environment into {venv} (infra/superset/constraints.txt) ...")
    python = venv / "bin" / "python"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    constraints = str(INFRA / "constraints.txt")
    if uv:
        if not python.exists():
            _run([uv, "venv", "-q", "--python", sys.executable, str(venv)], "create the Superset virtual environment")
        # bytecode compiled now: each Superset process would otherwise compile its imports again
        _run(
            [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), "-r", constraints],
            "install Superset's pinned packages",
        )
    else:
        if not python.exists():
            base = getattr(sys, "_base_executable", sys.executable)
            _run([base, "-m", "venv", str(venv)], "create the Superset virtual environment")
        _run([str(python), "-m", "pip", "install", "-q", "-r", constraints], "install Superset's pinned packages")
    (venv / ".citybrain-installed").write_text(_constraints_digest() + "\n")
    say(f"Superset environment ready in {time.monotonic() - started:.0f} s")
    return venv


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SupersetError(f"could not {what}: {detail[0]}")


# --- secrets -----------------------------------------------------------------------------

_SECRET_VARS = {
    "secret_key": "CITYBRAIN_SUPERSET_SECRET_KEY",
    "admin": "CITYBRAIN_SUPERSET_ADMIN_PASSWORD",
    "city_analyst": "CITYBRAIN_SUPERSET_CITY_ANALYST_PASSWORD",
    "district_analyst": "CITYBRAIN_SUPERSET_DISTRICT_ANALYST_PASSWORD",
}


def credentials(settings: Settings) -> tuple[dict[str, str], Path | None]:
    """The secret key and the three passwords: from the environment; under the local and ci
    profiles a missing one is generated once and kept in <state>/superset/credentials.json
    (mode 600). The cluster profile generates nothing. Returns (values, file or None)."""
    values = {name: os.environ.get(var, "").strip() for name, var in _SECRET_VARS.items()}
    missing = [name for name, value in values.items() if not value]
    if not missing:
        return values, None
    if settings.profile == "cluster":
        raise SupersetError(
            "the cluster profile needs " + ", ".join(_SECRET_VARS[n] for n in missing) + " (nothing is generated for a cluster)"
        )
    path = home(settings) / "credentials.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    for name in missing:
        stored.setdefault(name, secrets.token_urlsafe(48 if name == "secret_key" else 12))
        values[name] = stored[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return values, path


def district_code(settings: Settings) -> str:
    """CITYBRAIN_SUPERSET_DISTRICT, else the first district code of silver.grid."""
    code = os.environ.get("CITYBRAIN_SUPERSET_DISTRICT", "").strip()
    if not code:
        from deltalake import DeltaTable

        from citybrain import lake

        if not lake.exists(settings, "silver.grid"):
            raise SupersetError("silver.grid is not built yet: run the pipeline first, or set CITYBRAIN_SUPERSET_DISTRICT")
        codes = DeltaTable(lake.table_location(settings, "silver.grid")).to_pyarrow_table(columns=["district_code"]).column(0)
        found = sorted(c for c in set(codes.to_pylist()) if c)
        if not found:
            raise SupersetError("silver.grid has no district codes; set CITYBRAIN_SUPERSET_DISTRICT")
        code = found[0]
    if not re.fullmatch(r"[0-9A-Za-z_-]{1,32}", code):
        raise SupersetError(f"CITYBRAIN_SUPERSET_DISTRICT={code!r} must be a district code (letters, digits, - or _)")
    return code


# --- assets ------------------------------------------------------------------------------


def _contracts_for(dataset: dict) -> list:
    """The contracts whose columns a dataset shows: its own table's, or those its SQL reads."""
    from citybrain.schemas import all_contracts

    contracts = all_contracts()
    names = []
    if dataset.get("sql"):
        names = [n for n in re.findall(r"\b([a-z]+\.[a-z_]+)\b", dataset["sql"]) if n in contracts]
    elif dataset.get("schema"):
        names = [f"{dataset['schema']}.{dataset['table_name']}"]
    if any(n.startswith("quarantine.") for n in names) or dataset.get("table_name") == "quarantined":
        names.append(next(n for n in contracts if n.startswith("quarantine.")))
    return [contracts[n] for n in dict.fromkeys(names) if n in contracts]


def describe_dataset(dataset: dict) -> dict:
    """Fill the dataset's and its columns' descriptions from the table contracts (in place)."""
    contracts = _contracts_for(dataset)
    if contracts and not dataset.get("sql"):
        dataset["description"] = f"{contracts[0].description} Grain: {contracts[0].grain}."
    for column in dataset.get("columns", []):
        name = column["column_name"]
        for contract in contracts:
            if name in contract.column_names:
                text = contract.column(name).description
                if text:
                    column["description"] = text
                break
        else:
            if name in serving.ADDED_COLUMNS:
                column["description"] = serving.ADDED_COLUMNS[name]
    return dataset


def render_assets(settings: Settings, serving_db: Path, out: Path | None = None) -> Path:
    """Write this environment's export of the dashboards kept as code into <state>/superset/assets."""
    import yaml

    out = out or home(settings) / "assets"
    if out.exists():
        shutil.rmtree(out)
    for source in sorted(ASSETS.rglob("*.yaml")):
        relative = source.relative_to(ASSETS)
        text = source.read_text(encoding="utf-8").replace(SERVING_DB_PLACEHOLDER, str(serving_db))
        if "{{" in text:
            raise SupersetError(f"{source}: a placeholder is left after rendering")
        if relative.parts[0] == "datasets":
            text = dump_yaml(describe_dataset(yaml.safe_load(text)))
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return out


def _stable_name(path: str) -> str:
    """``charts/Hot_cells_this_week_map_8.yaml`` -> ``charts/Hot_cells_this_week_map.yaml`` (ids differ per instance)."""
    return re.sub(r"_\d+\.yaml$", ".yaml", path)


def clean_export(files: dict[str, str]) -> dict[str, str]:
    """Turn Superset's export of this instance into the templates kept in infra/superset/assets:
    the serving DB path becomes a placeholder, descriptions that the contracts provide are
    dropped (rendered at start), the export's time stamp is dropped, and every chart on a
    dashboard is referenced by its uuid (charts placed without one are exported twice)."""
    import yaml

    loaded = {_stable_name(name.split("/", 1)[1]): yaml.safe_load(text) for name, text in files.items() if name.endswith(".yaml")}
    by_title = {chart["slice_name"]: chart["uuid"] for name, chart in loaded.items() if name.startswith("charts/")}
    out = {}
    for name, doc in loaded.items():
        kind = name.split("/", 1)[0]
        if name == "metadata.yaml":
            doc.pop("timestamp", None)
        elif kind == "databases":
            doc["sqlalchemy_uri"] = "duckdb:///" + SERVING_DB_PLACEHOLDER
        elif kind == "datasets":
            if not doc.get("sql"):
                doc["description"] = None
            for column in doc.get("columns", []):
                column["description"] = None
        elif kind == "charts":
            doc["query_context"] = None  # rebuilt by the browser from params
        elif kind == "dashboards":
            _dedupe_position(doc["position"], by_title)
        out[name] = dump_yaml(doc)
    return out


def dump_yaml(doc) -> str:
    """YAML as kept in the repo: Chinese as is, multi-line strings (SQL, notes) as literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(doc, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=120)


def _dedupe_position(position: dict, by_title: dict[str, str]) -> None:
    """Give every CHART its uuid (looked up by title), then drop later copies of a chart and empty rows."""
    seen: set[str] = set()

    def walk(node_id: str) -> bool:
        node = position[node_id]
        if node.get("type") == "CHART":
            meta = node["meta"]
            meta["uuid"] = meta.get("uuid") or by_title.get(meta.get("sliceName"))
            if meta["uuid"] in seen:
                del position[node_id]
                return False
            seen.add(meta["uuid"])
            return True
        node["children"] = [child for child in node.get("children", []) if walk(child)]
        if node.get("type") == "ROW" and not node["children"]:
            del position[node_id]
            return False
        return True

    walk("ROOT_ID")


def export_assets(settings: Settings, out: Path = ASSETS) -> dict[str, int]:
    """Export the running Superset's database, datasets, charts and dashboards into infra/superset/assets."""
    import io
    import zipfile

    import requests

    info = status(settings)
    if info is None:
        raise SupersetError("Superset is not running: start it with citybrain superset start")
    values, _ = credentials(settings)
    session = requests.Session()
    login = session.post(
        f"{info.url}/api/v1/security/login",
        json={"username": "admin", "password": values["admin"], "provider": "db", "refresh": False},
        timeout=60,
    )
    if login.status_code != 200:
        raise SupersetError(f"could not log in to {info.url} as admin (HTTP {login.status_code})")
    session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    bundle = session.get(f"{info.url}/api/v1/assets/export/", timeout=120)
    if bundle.status_code != 200:
        raise SupersetError(f"export failed (HTTP {bundle.status_code}): {bundle.text[:200]}")
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        files = {name: archive.read(name).decode("utf-8") for name in archive.namelist()}
    cleaned = clean_export(files)
    for old in out.rglob("*.yaml"):
        old.unlink()
    counts: dict[str, int] = {}
    for name, text in cleaned.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        counts[name.split("/", 1)[0]] = counts.get(name.split("/", 1)[0], 0) + 1
    return counts


# --- server ------------------------------------------------------------------------------


def _server_file(settings: Settings) -> Path:
    return home(settings) / "server.json"


def _healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def status(settings: Settings) -> ServerInfo | None:
    """The running server, or None (a stale server.json is removed)."""
    path = _server_file(settings)
    if not path.exists():
        return None
    try:
        info = ServerInfo(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if pid_alive(info.pid):
        return info
    path.unlink(missing_ok=True)
    return None


def superset_env(settings: Settings, values: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "SUPERSET_CONFIG_PATH": str(INFRA / "superset_config.py"),
        "SUPERSET_HOME": str(home(settings)),
        "CITYBRAIN_SUPERSET_HOME": str(home(settings)),
        "CITYBRAIN_PROFILE": settings.profile,
        "FLASK_APP": "superset",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({_SECRET_VARS[name]: value for name, value in values.items()})
    return env


def start(settings: Settings, say: Callable[[str], None] = print, port: int | None = None) -> tuple[ServerInfo, bool]:
    """Start Superset unless it runs; returns (info, started_now)."""
    running = status(settings)
    if running:
        return running, False
    port = port or int(os.environ.get("CITYBRAIN_SUPERSET_PORT", "") or DEFAULT_PORT)
    if not _port_free(port):
        raise SupersetError(f"port {port} on {HOST} is in use; set CITYBRAIN_SUPERSET_PORT to a free port")
    values, _ = credentials(settings)
    district = district_code(settings)
    venv = ensure_venv(say)

    # rebuilt on every start (about 2 s): the views follow this environment's lake and grid
    say("building the serving database (DuckDB views over the lake) ...")
    serving_db = serving.build_serving_db(settings).path
    assets = render_assets(settings, serving_db)

    settings.log_dir.mkdir(parents=True, exist_ok=True)
    home(settings).mkdir(parents=True, exist_ok=True)
    env = superset_env(settings, values)
    log = log_path(settings)
    say("preparing Superset: metadata DB, roles, users, dashboards, row-level security ...")
    with open(log, "ab") as out:
        out.write(f"\n--- bootstrap {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        out.flush()
        done = subprocess.run(
            [str(venv / "bin" / "python"), str(INFRA / "bootstrap.py"), "--assets", str(assets), "--district", district],
            stdout=subprocess.PIPE,
            stderr=out,
            env=env,
            cwd=home(settings),
        )
    summary = _last_json_line(done.stdout)
    if done.returncode != 0 or "error" in summary:
        reason = summary.get("error") or f"exit code {done.returncode}"
        raise SupersetError(f"Superset bootstrap failed ({reason}); see {log}")

    with open(log, "ab") as out:
        out.write(f"\n--- server {time.strftime('%Y-%m-%d %H:%M:%S')} on {HOST}:{port}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "gunicorn"),
                "--bind", f"{HOST}:{port}",
                "--workers", os.environ.get("CITYBRAIN_SUPERSET_WORKERS", "1"),
                "--worker-class", "gthread",
                "--threads", "8",
                "--timeout", "120",
                "superset.app:create_app()",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=home(settings),
            start_new_session=True,
        )  # fmt: skip
    info = ServerInfo(pid=proc.pid, port=port)
    _server_file(settings).write_text(json.dumps({"pid": info.pid, "port": info.port}) + "\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _server_file(settings).unlink(missing_ok=True)
            raise SupersetError(f"Superset exited with code {proc.returncode} while starting; see {log}")
        if _healthy(port):
            say(f"district analyst limited to district {district} on {summary['rls']['tables']} datasets; imported {summary['imported']}")
            return info, True
        time.sleep(0.5)
    stop(settings)
    raise SupersetError(f"Superset did not answer {info.url}/health within {START_TIMEOUT_S:.0f} s; see {log}")


def _last_json_line(output: bytes) -> dict:
    for line in reversed((output or b"").decode(errors="replace").strip().splitlines()):
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            if isinstance(found, dict):
                return found
    return {}


def stop(settings: Settings) -> bool:
    """Stop the server by its pid (gunicorn stops its workers); False when none was running."""
    info = status(settings)
    if info is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and pid_alive(info.pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)
        time.sleep(0.2)
    if pid_alive(info.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(info.pid, signal.SIGKILL)
    _server_file(settings).unlink(missing_ok=True)
    return True


def login_help(settings: Settings, info: ServerInfo, credentials_file: Path | None) -> str:
    where = (
        f"passwords in {credentials_file} (generated for this machine)"
        if credentials_file
        else "passwords from CITYBRAIN_SUPERSET_*_PASSWORD"
    )
    return f"Superset: {info.url}  users {', '.join(USERS)}; {where}"
