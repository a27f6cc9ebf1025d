"""A backfill of two weeks of the demo city, day by day through Airflow, gives the same silver and
gold as the same drops run at once; rerunning every DAG for one day then changes no table."""

import os
import subprocess
import sys

import pytest

from citybrain.lake_content import lake_checksums
from citybrain.settings import Settings

pytestmark = pytest.mark.slow
FIRST, LAST, RERUN = "2026-08-31", "2026-09-13", "2026-09-05"


def _env(root, city) -> dict[str, str]:
    return {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": str(root / "lake"),
        "CITYBRAIN_STATE_DIR": str(root / "state"),
        "CITYBRAIN_DEMO_DIR": str(city),
        "CITYBRAIN_REPORTS_DIR": str(city.parent / "reports"),  # one folder: the reports' paths are compared
        "CITYBRAIN_SPARK_REMOTE": "",
        "CITYBRAIN_PII_KEY": "backfill-test-key",
        "CITYBRAIN_DAYS": "14",
        "CITYBRAIN_SCALE": "0.05",
    }


def _cli(env, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "citybrain.cli", *args], env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _lake(env) -> Settings:
    return Settings.from_env().with_(lake_root=env["CITYBRAIN_LAKE_ROOT"])


@pytest.mark.timeout(3600)  # 14 days x 18 daily DAGs, then twice every DAG: the longest test of the suite
def test_a_backfill_gives_the_tables_of_one_run_and_a_rerun_of_a_day_changes_nothing(tmp_path):
    city = tmp_path / "demo_city"
    backfilled, at_once = _env(tmp_path / "backfilled", city), _env(tmp_path / "at_once", city)
    _cli(backfilled, "generate")

    out = _cli(backfilled, "backfill", "--from", FIRST, "--to", LAST)
    assert f"{FIRST} (1/14): " in out and f"{LAST} (14/14): " in out and "weekly DAGs" in out
    _cli(at_once, "run")

    # the same silver and gold, whatever the batches: day by day or all at once
    by_day = lake_checksums(_lake(backfilled), ("silver", "gold"), ignore_batches=True)
    whole = lake_checksums(_lake(at_once), ("silver", "gold"), ignore_batches=True)
    assert all(by_day[t][0] > 0 for t in ("silver.complaint", "silver.ride_trip", "silver.grid", "gold.complaint_hotspots")), by_day
    assert {t: s for t, s in by_day.items() if s != whole.get(t)} == {}
    assert set(by_day) == set(whole)

    # every DAG of one day again: every table's content as it was (only the run logs grow)
    layers = ("bronze", "silver", "gold", "quarantine", "ops")
    before = lake_checksums(_lake(backfilled), layers)
    again = _cli(backfilled, "run", "--date", RERUN)
    assert "ingest_hotline: success" in again and "publish_weekly_report: success" in again
    after = lake_checksums(_lake(backfilled), layers)
    assert {t: (before.get(t), s) for t, s in after.items() if s != before.get(t)} == {}
    assert {"ops.ingest_ledger", "ops.batch_audit", "bronze.hotline", "silver.complaint", "gold.report_index"} <= set(after)
