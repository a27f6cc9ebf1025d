"""The README's main command on a small demo city, through every Airflow DAG: every record lands in bronze and is
accounted for in silver, a second run changes nothing, nothing is left running."""

import json
import os
import subprocess
import sys

import pytest
from deltalake import DeltaTable

from citybrain.schemas.sources import all_sources

pytestmark = pytest.mark.slow


def _processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_demo_command_builds_every_bronze_table(tmp_path):
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": str(tmp_path / "lake"),
        "CITYBRAIN_STATE_DIR": str(tmp_path / "state"),
        "CITYBRAIN_DEMO_DIR": str(tmp_path / "demo_city"),
        "CITYBRAIN_REPORTS_DIR": str(tmp_path / "reports"),
        "CITYBRAIN_SPARK_REMOTE": "",
    }
    cmd = [sys.executable, "-m", "citybrain.cli", "demo", "--days", "14", "--scale", "0.05"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "done in" in done.stdout

    manifest = json.loads((tmp_path / "demo_city" / "manifest.json").read_text())
    for source in manifest["sources"]:
        table = DeltaTable(str(tmp_path / "lake" / "bronze" / source)).to_pyarrow_table(columns=["_source_file"])
        # every record the department sent is in bronze, duplicates and bad rows included
        sent = manifest["sources"][source]["rows"]
        assert table.num_rows == sent, f"bronze.{source}: {table.num_rows} rows, the drops hold {sent}"
        assert f"bronze.{source}" in done.stdout

    # ... and every one of them is accounted for in silver: accepted, quarantined or collapsed
    audit = DeltaTable(str(tmp_path / "lake" / "ops" / "batch_audit")).to_pyarrow_table().to_pylist()
    assert all(a["balanced"] for a in audit)
    for source in all_sources():
        if source in manifest["sources"]:
            assert sum(a["records_in"] for a in audit if a["source"] == source) == manifest["sources"][source]["rows"]
    for table in ("complaint", "urban_case", "ride_trip", "police_incident", "petition", "grid", "calendar_day"):
        assert DeltaTable(str(tmp_path / "lake" / "silver" / table)).to_pyarrow_dataset().count_rows() > 0, table
    assert "Every bronze record accounted for" in done.stdout

    # ... and it ends with the week's report: the city's 14 days are ISO weeks 36 and 37
    assert "Weekly report of 2026-W37" in done.stdout
    html = tmp_path / "reports" / "2026-W37" / "report.html"
    assert f"HTML {html}" in done.stdout and "本周共受理12345诉求" in html.read_text(encoding="utf-8")
    index = DeltaTable(str(tmp_path / "lake" / "gold" / "report_index")).to_pyarrow_table().to_pylist()
    assert [(r["iso_week"], r["language"], r["html_path"]) for r in index] == [("2026-W37", "zh", str(html))]

    # a second run finds nothing new and changes no table
    tables = [p for layer in ("bronze", "silver", "quarantine") for p in (tmp_path / "lake" / layer).iterdir()]
    versions = {str(p): DeltaTable(str(p)).version() for p in tables}
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already generated" in again.stdout
    assert {str(p): DeltaTable(str(p)).version() for p in tables} == versions

    assert _processes_mentioning(str(tmp_path)) == []
    assert not (tmp_path / "state" / "engine.json").exists()
