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
FAKE_KEY = "fake-pii-key-0b1d9c57-never-stored"


def _processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def test_demo_command_builds_every_bronze_table(tmp_path):
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": str(tmp_path / "lake"),
        "CITYBRAIN_STATE_DIR": str(tmp_path / "state"),
        "CITYBRAIN_DEMO_DIR": str(tmp_path / "demo_city"),
        "CITYBRAIN_SPARK_REMOTE": "",
        "CITYBRAIN_PII_KEY": FAKE_KEY,
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

    # a second run finds nothing new and changes no table
    tables = [p for layer in ("bronze", "silver", "quarantine") for p in (tmp_path / "lake" / layer).iterdir()]
    versions = {str(p): DeltaTable(str(p)).version() for p in tables}
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already generated" in again.stdout
    assert {str(p): DeltaTable(str(p)).version() for p in tables} == versions

    # the secret key never lands in a table, a log or any other file the run left
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert leaked == []
    assert "personal data tokenised with the key in CITYBRAIN_PII_KEY" in done.stdout

    assert _processes_mentioning(str(tmp_path)) == []
    assert not (tmp_path / "state" / "engine.json").exists()
