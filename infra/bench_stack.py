"""The service stack's figures: memory of the idle and of the busy stack, and the time from
triggering one source's ingest (through Airflow's REST API) to the success of its refine.

    .venv/bin/python infra/bench_stack.py [--days 14] [--scale 0.1] [--source hotline] [--keep DIR]

Runs ``citybrain up`` in a temporary folder (or --keep DIR) on free ports, so it never touches
./lake or a running stack; ``citybrain down`` at the end. Figures are printed, not asserted.
Idle: the stack up, its first hourly ingests done (nothing to take in). Busy: the peak while
the demo city goes through every DAG, sampled every 2 s.
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

from citybrain import stack
from citybrain.democity import generate
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _total(memory: dict[str, float]) -> str:
    return f"{sum(memory.values()):,.0f} MiB ({', '.join(f'{k} {v:,.0f}' for k, v in sorted(memory.items()))})"


class _Peak(threading.Thread):
    def __init__(self, settings: Settings):
        super().__init__(daemon=True)
        self.settings, self.peak, self.done = settings, {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(2):
            now = stack.memory_mib(self.settings)
            if sum(now.values()) > sum(self.peak.values()):
                self.peak = now


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
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--scale", type=float, default=0.1)
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
    for name in ("ENGINE_PORT", "AIRFLOW_PORT", "POSTGRES_PORT"):
        os.environ.setdefault(f"CITYBRAIN_{name}", str(_free_port()))
    settings = Settings.from_env()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; work folder {work}")

    started = time.monotonic()
    stack.up(settings, lambda m: None)
    try:
        print(f"up: {time.monotonic() - started:.0f} s")
        api = stack.api(settings)
        api.wait_idle(600)
        time.sleep(20)
        print(f"idle stack: {_total(stack.memory_mib(settings))}")

        generate(settings.demo_dir, days=args.days, scale=args.scale)
        print(f"demo city: {args.days} days, scale {args.scale}")
        peak = _Peak(settings)
        peak.start()
        since = datetime.now(UTC).isoformat()
        api.trigger("ingest_registry")
        _refine_success_after(api, "registry", since, 900)
        api.wait_idle(900)

        since = datetime.now(UTC).isoformat()
        triggered = time.monotonic()
        api.trigger(f"ingest_{args.source}")
        run = _refine_success_after(api, args.source, since, 900)
        print(
            f"trigger ingest_{args.source} -> refine_{args.source} success: {time.monotonic() - triggered:.1f} s (run {run['dag_run_id']})"
        )

        for source in all_sources():
            api.trigger(f"ingest_{source}")
        api.wait_idle(1800)
        peak.done.set()
        peak.join()
        print(f"busy stack (peak): {_total(peak.peak)}")
        failed = [(r["dag_id"], r["state"]) for r in api.runs() if r["state"] != "success"]
        print(f"DAG runs: {len(api.runs())}, not successful: {failed or 'none'}")
    finally:
        failed = stack.down(settings, lambda m: None)
        print(f"down: {'every service stopped' if not failed else 'could not stop ' + ', '.join(failed)}")


if __name__ == "__main__":
    main()
