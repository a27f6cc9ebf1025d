"""The citybrain command explains itself and fails in one clear line."""

import os
import subprocess
import sys


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "citybrain.cli", *args], capture_output=True, text=True)


def test_wrong_argument_is_one_clear_line():
    done = _cli("demo", "--scale", "lots")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "invalid float value: 'lots'" in done.stderr


def test_help_lists_every_command():
    out = _cli("--help").stdout
    for command in ("demo", "generate", "run", "ingest", "report", "engine", "tables", "table", "contracts"):
        assert f"    {command}" in out


def test_evaluate_risk_without_a_demo_city_is_one_clear_line(tmp_path):
    done = _cli("evaluate", "risk", "--truth", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "no planted truth in" in done.stderr and "evaluate risk needs a demo city" in done.stderr


def test_unknown_table_is_named():
    done = _cli("contracts", "silver.nothing")
    assert done.returncode == 2
    assert "no contract for table 'silver.nothing'" in done.stderr


def test_an_unexpected_failure_is_one_line_and_verbose_shows_the_traceback(tmp_path):
    log = tmp_path / "lake" / "gold" / "hotline_performance" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("this is not a Delta log\x1b[2J\n")
    env = {**os.environ, "CITYBRAIN_LAKE_ROOT": str(tmp_path / "lake"), "CITYBRAIN_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "citybrain.cli", "serving"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("citybrain: error: ") and done.stderr.strip().count("\n") == 0
    assert "Traceback" not in done.stderr and "--verbose" in done.stderr and "\x1b" not in done.stderr
    verbose = subprocess.run([sys.executable, "-m", "citybrain.cli", "--verbose", "serving"], capture_output=True, text=True, env=env)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_report_week_that_does_not_exist_is_one_clear_line():
    done = _cli("report", "--week", "2026-W99")
    assert done.returncode == 2
    assert done.stderr.strip() == "citybrain: error: week '2026-W99' does not exist (ISO year 2026 has no week 99)"
