"""The service stack's figures and its acceptance checks, at the default demo city unless told otherwise.

    .venv/bin/python infra/bench_stack.py [--days 84] [--scale 1.0] [--source hotline] [--keep DIR]

Runs ``citybrain up`` in a temporary folder (or --keep DIR) on free ports, so it never touches
./lake or a running stack; ``citybrain down`` at the end. Figures are printed, not asserted:

- idle: the stack up, its first daily ingests done (nothing to take in);
- the demo pipeline on an empty lake: every source's ingest triggered at once through
  Airflow's REST API, then every DAG the Assets start (refines), then the weekly gold DAGs
  triggered as Monday's schedule would and what their Assets start (publishing); the runs
  and tries that did not succeed the first time, the most engines seen at once, each drop
  file's batches in bronze, and ops.batch_audit;
- busy: the peak of that run, sampled every 2 s;
- Superset (when ``make superset-setup`` installed it): ``up`` again starts it on the built
  lake, and every chart of every dashboard is asked for its data as admin;
- trigger -> refine: the last day's drop of --source is held back from the first run, then
  arrives and its ingest is triggered; the time until its refine succeeds;
- after ``down``: the processes of the stack still running.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
from deltalake import DeltaTable

from citybrain import lake, stack
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.gold import GOLD_TABLES
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings

PIPELINE_TIMEOUT_S = 3600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _total(memory: dict[str, float]) -> str:
    return f"{sum(memory.values()):,.0f} MiB ({', '.join(f'{k} {v:,.0f}' for k, v in sorted(memory.items()))})"


def _engines(settings: Settings) -> int:
    """Engine servers of this stack's state folder running now (whoever started them)."""
    mark = str(settings.state_dir)
    count = 0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        count += "citybrain.engine" in cmdline and " serve" in cmdline and mark in cmdline
    return count


class _Peak(threading.Thread):
    def __init__(self, settings: Settings):
        super().__init__(daemon=True)
        self.settings, self.peak, self.engines, self.done = settings, {}, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(2):
            now = stack.memory_mib(self.settings)
            if sum(now.values()) > sum(self.peak.values()):
                self.peak = now
            self.engines = max(self.engines, _engines(self.settings))


def _task_seconds(tries: list[dict]) -> str:
    """Airflow's duration of each successful refine task, and of the pipeline's other tasks in a
    summary: the time a task process takes, its fixed cost (start, imports, session) included."""
    done = [t for t in tries if t["state"] == "success" and t.get("duration") is not None]
    refines = sorted((t["dag_id"].removeprefix("refine_"), t["duration"]) for t in done if t["task_id"] == "refine")
    others = sorted(t["duration"] for t in done if t["task_id"] != "refine")
    median = others[len(others) // 2] if others else 0.0
    return (
        "refine "
        + ", ".join(f"{source} {seconds:.1f}" for source, seconds in refines)
        + f"; the {len(others)} other tasks: median {median:.1f}, total {sum(others):.0f}"
    )


def _rows(settings: Settings, name: str, columns: list[str] | None = None) -> list[dict]:
    return DeltaTable(lake.table_location(settings, name)).to_pyarrow_dataset().to_table(columns=columns).to_pylist()


def _bronze_once(settings: Settings) -> None:
    """Each loaded drop file in bronze under exactly one batch, and ops.batch_audit balanced."""
    ledger = _rows(settings, "ops.ingest_ledger")
    audit = _rows(settings, "ops.batch_audit")
    for source in DEMO_SOURCES:
        loaded = [r["file"] for r in ledger if r["source"] == source and r["records"]]
        batches: dict[str, set] = {}
        for row in _rows(settings, f"bronze.{source}", ["_source_file", "_batch_id"]):
            batches.setdefault(row["_source_file"], set()).add(row["_batch_id"])
        twice = sorted(f for f, b in batches.items() if len(b) > 1)
        mine = [r for r in audit if r["source"] == source]
        balanced = sum(r["balanced"] for r in mine)
        print(
            f"  {source}: {len(batches)} files in bronze, {len(loaded)} in the ledger ({len(loaded) - len(set(loaded))} twice), "
            f"{len(twice)} under two batches; batch_audit {balanced}/{len(mine)} balanced"
        )


def _dashboards_answer(settings: Settings) -> None:
    """Each dataset of each dashboard asked for its row count through the chart data API, as Superset's admin."""
    import requests

    from citybrain import superset

    info = superset.status(settings)
    if not info:
        print("superset: not running")
        return
    values, _ = superset.credentials(settings)
    http = requests.Session()
    login = http.post(f"{info.url}/api/v1/security/login", json={"username": "admin", "password": values["admin"], "provider": "db"})
    login.raise_for_status()
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    http.headers.update({"X-CSRFToken": http.get(f"{info.url}/api/v1/security/csrf_token/").json()["result"], "Referer": info.url})
    for dashboard in http.get(f"{info.url}/api/v1/dashboard/", params={"q": "(page_size:100)"}).json()["result"]:
        datasets = http.get(f"{info.url}/api/v1/dashboard/{dashboard['id']}/datasets").json()["result"]
        counts, started = {}, time.monotonic()
        for dataset in datasets:
            query = {"metrics": ["count"], "row_limit": 1, "time_range": "No filter"}
            body = {
                "datasource": {"id": dataset["id"], "type": "table"},
                "queries": [query],
                "result_format": "json",
                "result_type": "full",
            }
            answer = http.post(f"{info.url}/api/v1/chart/data", json=body)
            counts[dataset["table_name"]] = answer.json()["result"][0]["data"][0]["count"] if answer.ok else f"HTTP {answer.status_code}"
        print(
            f"  dashboard {dashboard['dashboard_title']!r}: {len(datasets)} datasets answered in {time.monotonic() - started:.1f} s, "
            + ", ".join(f"{name} {n:,}" if isinstance(n, int) else f"{name} {n}" for name, n in counts.items())
        )


def _refine_success_after(api, source: str, since: str, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = [r for r in api.runs(f"refine_{source}") if r["state"] == "success" and (r.get("queued_at") or "") > since]
        if done:
            return min(done, key=lambda r: r["end_date"])
        time.sleep(1)
    raise TimeoutError(f"refine_{source} did not succeed within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=84, help="demo city length (the default city: 84)")
    parser.add_argument("--scale", type=float, default=1.0, help="demo city size (the default city: 1.0)")
    parser.add_argument("--source", default="hotline")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="citybrain-bench-stack-"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # PostgreSQL runs as the postgres user
    os.environ.update(
        {
            "CITYBRAIN_STATE_DIR": str(work / "state"),
            "CITYBRAIN_LAKE_ROOT": str(work / "lake"),
            "CITYBRAIN_DEMO_DIR": str(work / "demo_city"),
            "CITYBRAIN_REPORTS_DIR": str(work / "reports"),
            "CITYBRAIN_SPARK_REMOTE": "",
        }
    )
    for name in ("ENGINE_PORT", "AIRFLOW_PORT", "POSTGRES_PORT", "SUPERSET_PORT"):
        os.environ.setdefault(f"CITYBRAIN_{name}", str(_free_port()))
    settings = Settings.from_env()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; work folder {work}")

    def superset_lines(message: str) -> None:
        if message.startswith("superset"):
            print(f"  up: {message}")

    started = time.monotonic()
    stack.up(settings, superset_lines)
    try:
        print(f"up: {time.monotonic() - started:.0f} s")
        api = stack.api(settings)
        api.wait_idle(600)
        time.sleep(20)
        print(f"idle stack: {_total(stack.memory_mib(settings))}")

        generate(settings.demo_dir, days=args.days, scale=args.scale)
        drops = sorted((settings.demo_dir / "drops" / args.source).iterdir())
        held = drops[-1].rename(settings.demo_dir / drops[-1].name)  # arrives after the first run
        print(f"demo city: {args.days} days, scale {args.scale}; {held.name} held back")

        peak = _Peak(settings)
        peak.start()
        triggered = time.monotonic()
        sources = sorted(all_sources())
        for source in sources:
            api.trigger(f"ingest_{source}")
        print(f"triggered at once on an empty lake: {len(sources)} ingests ({', '.join(sources)})")
        refines = {f"refine_{s}" for s in DEMO_SOURCES}
        api.wait_for_success(refines, PIPELINE_TIMEOUT_S)
        api.wait_idle(PIPELINE_TIMEOUT_S)
        # gold built from silver is weekly: start what Monday's schedule starts; the rest follows by Assets
        for table, inputs in GOLD_TABLES.items():
            if inputs[0].startswith("silver."):
                api.trigger(f"build_gold_{table}")
        wanted = refines | {f"build_gold_{t}" for t in GOLD_TABLES} | {"publish_serving_views", "publish_weekly_report"}
        api.wait_for_success(wanted, PIPELINE_TIMEOUT_S)
        runs = api.wait_idle(PIPELINE_TIMEOUT_S)
        peak.done.set()
        peak.join()
        done = {r["dag_id"] for r in runs if r["state"] == "success"}
        print(
            f"demo pipeline: {time.monotonic() - triggered:.0f} s, {len(runs)} DAG runs, {len(wanted & done)}/{len(wanted)} wanted DAGs successful"
        )
        print(f"  not successful: {[(r['dag_id'], r['state']) for r in runs if r['state'] != 'success'] or 'none'}")
        tries = api.task_instances()
        again = [
            (t["dag_id"], t["task_id"], t["state"], t["try_number"])
            for t in tries
            if t["state"] not in ("success", "skipped") or t["try_number"] > 1
        ]
        print(f"  task instances: {len(tries)}, failed or retried: {again or 'none'}")
        print(f"  task seconds (Airflow's duration: the task process, from its fork to its end): {_task_seconds(tries)}")
        print(f"  engines running at once (most seen, every 2 s): {peak.engines}")
        _bronze_once(settings)
        print(f"busy stack (peak): {_total(peak.peak)}")

        stack.up(settings, superset_lines)  # Superset, skipped on the empty lake, starts on the built one
        _dashboards_answer(settings)

        held.rename(settings.demo_dir / "drops" / args.source / held.name)
        since = datetime.now(UTC).isoformat()
        triggered = time.monotonic()
        api.trigger(f"ingest_{args.source}")
        run = _refine_success_after(api, args.source, since, 900)
        print(
            f"trigger ingest_{args.source} -> refine_{args.source} success: {time.monotonic() - triggered:.1f} s "
            f"(one day's drop on the built lake, run {run['dag_run_id']})"
        )
        api.wait_idle(PIPELINE_TIMEOUT_S)
    finally:
        failed = stack.down(settings, lambda m: None)
        print(f"down: {'every service stopped' if not failed else 'could not stop ' + ', '.join(failed)}")
        left = [p.pid for p in stack.processes(settings)] + [
            p.pid for p in psutil.process_iter(["cmdline"]) if str(work) in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()
        ]
        print(f"processes of the stack left after down: {left or 'none'}")


if __name__ == "__main__":
    main()
