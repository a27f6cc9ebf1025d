"""The README's main command on a small demo city, through every Airflow DAG: every record lands in bronze and is
accounted for in silver, a second run changes nothing, nothing is left running."""

import json
import os
import subprocess
import sys

import pytest
from deltalake import DeltaTable
from tests_support import find_planted, planted_personal_data

from citybrain import serving
from citybrain.lake import arrow_at
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings

pytestmark = pytest.mark.slow
FAKE_KEY = "fake-pii-key-0b1d9c57-never-stored"


def _processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def _clear_personal_data(root) -> dict[str, list[str]]:
    """{place: planted values found in it} over silver, gold, quarantine, the serving views and the reports."""
    planted = planted_personal_data(root / "lake")
    assert len(planted) > 1000, "the demo city should have sent personal data"
    places: dict[str, list[str]] = {}
    for layer in ("silver", "gold", "quarantine"):
        for path in sorted((root / "lake" / layer).iterdir()):
            table = arrow_at(str(path))  # silver has deletion vectors
            texts = [
                v
                for column in table.column_names
                if str(table.schema.field(column).type) == "string"
                for v in set(table.column(column).to_pylist())
                if v
            ]
            places[f"{layer}.{path.name}"] = [hit for text in texts for hit in find_planted(text, planted)]
    with serving.connect(serving.serving_db_path(Settings.from_env().with_(state_dir=root / "state"))) as db:
        for (view,) in db.execute("SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal").fetchall():
            rows = db.execute(f"SELECT * FROM {view}").fetchall()
            places[f"serving {view}"] = [
                hit for row in rows for value in row if isinstance(value, str) for hit in find_planted(value, planted)
            ]
    for page in (root / "reports").rglob("*.html") if (root / "reports").exists() else ():
        places[str(page)] = find_planted(page.read_text(encoding="utf-8"), planted)
    return {place: hits[:5] for place, hits in places.items() if hits}


def test_demo_command_builds_every_bronze_table(tmp_path):
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": str(tmp_path / "lake"),
        "CITYBRAIN_STATE_DIR": str(tmp_path / "state"),
        "CITYBRAIN_DEMO_DIR": str(tmp_path / "demo_city"),
        "CITYBRAIN_REPORTS_DIR": str(tmp_path / "reports"),
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
        assert arrow_at(str(tmp_path / "lake" / "silver" / table)).num_rows > 0, table
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

    # no name, phone, ID, plate or licence number a department sent is in clear anywhere people read
    assert _clear_personal_data(tmp_path) == {}

    # the secret key never lands in a table, a log or any other file the run left
    leaked = [str(p) for p in tmp_path.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert leaked == []
    assert "personal data tokenised with the key in CITYBRAIN_PII_KEY" in done.stdout

    assert _processes_mentioning(str(tmp_path)) == []
    assert not (tmp_path / "state" / "engine.json").exists()
