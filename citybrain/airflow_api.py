"""A small client of Airflow 3's REST API (``/api/v2``) for the stack ``citybrain up`` runs:
trigger DAGs, follow their runs and task tries. Standard library only."""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import quote

FINISHED = {"success", "failed"}


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token = ""

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        if not self._token:
            self._token = self._send("POST", "/auth/token", self._credentials, auth=False)["access_token"]
        return self._send(method, path, body)

    def _send(self, method: str, path: str, body: dict | None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Start a run of ``dag_id`` now; returns its run id."""
        return self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})["dag_run_id"]

    def runs(self, dag_id: str = "~") -> list[dict]:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=1000")["dag_runs"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str = "~", run_id: str = "~") -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='~')}/taskInstances?limit=1000"
        return self._call("GET", path)["task_instances"]

    def import_errors(self) -> list[dict]:
        return self._call("GET", "/api/v2/importErrors")["import_errors"]

    def wait(self, dag_id: str, run_id: str, timeout_s: float) -> str:
        """Wait for the run to finish; returns its state (``running`` or ``queued`` if it did not in time)."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.run(dag_id, run_id)["state"]
            if state in FINISHED or time.monotonic() > deadline:
                return state
            time.sleep(2)

    def wait_for_success(self, dag_ids: set[str], timeout_s: float) -> list[dict]:
        """Wait until every DAG of ``dag_ids`` has a successful run (or the time is up); returns every run."""
        deadline = time.monotonic() + timeout_s
        while True:
            runs = self.runs()
            if dag_ids <= {r["dag_id"] for r in runs if r["state"] == "success"} or time.monotonic() > deadline:
                return runs
            time.sleep(3)

    def wait_idle(self, timeout_s: float) -> list[dict]:
        """Wait until no run is queued or running; returns every run."""
        deadline = time.monotonic() + timeout_s
        while True:
            runs = self.runs()
            if not [r for r in runs if r["state"] not in FINISHED] or time.monotonic() > deadline:
                return runs
            time.sleep(3)
