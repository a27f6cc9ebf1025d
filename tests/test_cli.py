"""The citybrain command explains itself and fails in one clear line."""

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


def test_unknown_table_is_named():
    done = _cli("contracts", "silver.nothing")
    assert done.returncode == 2
    assert "no contract for table 'silver.nothing'" in done.stderr


def test_report_week_that_does_not_exist_is_one_clear_line():
    done = _cli("report", "--week", "2026-W99")
    assert done.returncode == 2
    assert done.stderr.strip() == "citybrain: error: week '2026-W99' does not exist (ISO year 2026 has no week 99)"
