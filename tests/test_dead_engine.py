"""An engine killed mid-refine fails the command fast, in one line naming it, and the re-run recovers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from deltalake import DeltaTable

from citybrain.democity import generate
from citybrain.lake import arrow_at

pytestmark = pytest.mark.slow


def _citybrain(env, *args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "citybrain.cli", *args], env=env, text=True, **kwargs)


def _processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and proc.name != str(os.getpid()):
            try:
                if text in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.mark.timeout(600)
def test_engine_killed_mid_refine_fails_within_a_minute_and_the_rerun_balances(tmp_path):
    city = tmp_path / "demo_city"
    generate(city, days=14, scale=0.05)
    state = tmp_path / "state"
    lake = tmp_path / "lake"
    env = {
        **os.environ,
        "CITYBRAIN_STATE_DIR": str(state),
        "CITYBRAIN_LAKE_ROOT": str(lake),
        "CITYBRAIN_DEMO_DIR": str(city),
        "CITYBRAIN_SPARK_REMOTE": "",
        "CITYBRAIN_ENGINE_PORT": "0",
        "CITYBRAIN_PII_KEY": "a-test-key-for-this-city",
    }
    assert _citybrain(env, "ingest", "registry", "--from", str(city / "drops" / "registry")).wait(timeout=300) == 0

    silver_log = lake / "silver" / "complaint" / "_delta_log"
    hotline = ["ingest", "hotline", "--from", str(city / "drops" / "hotline")]
    run = _citybrain(env, *hotline, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while not any(silver_log.glob("*.json")):  # killed right after its first silver commit
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    engine = json.loads((state / "engine.json").read_text())
    os.kill(engine["pid"], signal.SIGKILL)
    killed_at = time.monotonic()
    _, stderr = run.communicate(timeout=120)
    waited = time.monotonic() - killed_at
    print(f"the command failed {waited:.1f} s after the engine was killed")

    assert run.returncode == 1
    assert waited < 60, f"the command took {waited:.0f} s to notice the dead engine"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "engine" in lines[0] and f"pid {engine['pid']}" in lines[0] and engine["log"] in lines[0], lines[0]
    assert _processes_naming(str(state)) == []

    rerun = _citybrain(env, *hotline, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    audit = DeltaTable(str(lake / "ops" / "batch_audit")).to_pandas()
    hotline_audit = audit[audit["source"] == "hotline"]
    assert len(hotline_audit) >= 1 and hotline_audit["balanced"].all(), hotline_audit
    bronze = DeltaTable(str(lake / "bronze" / "hotline")).to_pandas()
    assert not hotline_audit["batch_id"].duplicated().any()
    assert hotline_audit["records_in"].sum() == len(bronze)
    silver = arrow_at(str(lake / "silver" / "complaint")).to_pandas()  # deletion vectors: lake.arrow_at
    assert not silver["complaint_id"].duplicated().any()
    assert _processes_naming(str(state)) == []
