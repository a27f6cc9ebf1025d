"""A small Superset REST client for the tests: log in as a user, run SQL Lab queries, ask for chart data."""

from __future__ import annotations

import requests


class SupersetClient:
    def __init__(self, url: str, username: str, password: str, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        response = self.session.post(
            f"{self.url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
            timeout=timeout,
        )
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = self.session.get(f"{self.url}/api/v1/security/csrf_token/", timeout=timeout)
        csrf.raise_for_status()
        self.session.headers.update({"X-CSRFToken": csrf.json()["result"], "Referer": self.url})

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(f"{self.url}{path}", params=params, timeout=self.timeout)

    def post(self, path: str, body: dict) -> requests.Response:
        return self.session.post(f"{self.url}{path}", json=body, timeout=self.timeout)

    def put(self, path: str, body: dict) -> requests.Response:
        return self.session.put(f"{self.url}{path}", json=body, timeout=self.timeout)

    def sql(self, database_id: int, sql: str, schema: str | None = None) -> requests.Response:
        """Run a query through SQL Lab (the same path as the SQL Lab page)."""
        body = {"database_id": database_id, "sql": sql, "runAsync": False, "queryLimit": 1000, "client_id": None}
        if schema:
            body["schema"] = schema
        return self.post("/api/v1/sqllab/execute/", body)

    def database_id(self, name: str = "CityBrain") -> int:
        response = self.get("/api/v1/database/")
        response.raise_for_status()
        return next(d["id"] for d in response.json()["result"] if d["database_name"] == name)

    def chart_data(self, chart_id: int) -> requests.Response:
        """The data of a saved chart as the dashboard asks for it."""
        return self.get(f"/api/v1/chart/{chart_id}/data/")
