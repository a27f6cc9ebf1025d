"""The citybrain command explains itself and fails in one clear line."""

import os
import subprocess
import sys
import time

import pytest


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


def test_a_quality_gate_that_stops_a_batch_is_one_line_naming_the_check(spark, lake_settings, tmp_path):
    """A surge far over the volume band stops the refine: the command says which check, measured and threshold."""
    from citybrain import engine
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.silver import refine

    header = "date,weekday,is_workday,holiday_name,weather,temp_max_c,temp_min_c,precipitation_mm,aqi,event_name,event_lon,event_lat,event_attendance\n"
    first = tmp_path / "first" / "calendar"
    first.mkdir(parents=True)
    (first / "calendar_20260902.csv").write_text(header + "2026-09-01,2,1,,晴,30,22,0,50,,,,\n2026-09-02,3,1,,晴,30,22,0,50,,,,\n")
    ingest.run(spark, lake_settings, "calendar", drops_dir=first.parent)
    refine.refine(spark, lake_settings, "calendar")
    surge = tmp_path / "surge"
    surge.mkdir()
    rows = "".join(f"2025-{m:02d}-{d:02d},1,1,,晴,30,22,0,50,,,,\n" for m in range(1, 13) for d in range(1, 29))
    (surge / "calendar_20260903.csv").write_text(header + rows)
    remote = lake_settings.spark_remote or engine.status(lake_settings).remote
    env = {
        **os.environ,
        "CITYBRAIN_LAKE_ROOT": lake_settings.lake_root,
        "CITYBRAIN_STATE_DIR": str(lake_settings.state_dir),
        "CITYBRAIN_SPARK_REMOTE": remote,
    }
    done = subprocess.run(
        [sys.executable, "-m", "citybrain.cli", "ingest", "calendar", "--from", str(surge)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error = done.stderr.strip()
    assert error.count("\n") == 0, error
    assert "quality gate stopped batch" in error and "silver.calendar_day" in error and "daily_volume_within_band" in error
    assert "336.0 records per drop day" in error and "0.2-5 x the trailing average of 2.0" in error and str(lake_settings.log_dir) in error


def test_backfill_explains_itself_and_a_bad_range_is_one_clear_line():
    helped = " ".join(_cli("backfill", "--help").stdout.split())
    assert "--from YYYY-MM-DD" in helped and "airflow backfill create" in helped and "taken nothing twice" in helped
    backwards = _cli("backfill", "--from", "2026-09-05", "--to", "2026-09-01")
    assert backwards.returncode == 2
    assert backwards.stderr.strip() == "citybrain: error: the range ends (2026-09-01) before it starts (2026-09-05)"
    not_a_date = _cli("run", "--date", "2026-09-31")
    assert not_a_date.returncode == 2
    assert not_a_date.stderr.strip() == "citybrain: error: '2026-09-31' is not a date (YYYY-MM-DD)"


def test_a_stop_by_signal_is_one_line_with_the_shell_exit_code(monkeypatch, capsys):
    import signal

    from citybrain import cli
    from citybrain.airflow_runner import RunInterrupted

    for stop, code, name in ((RunInterrupted(signal.SIGTERM), 143, "SIGTERM"), (KeyboardInterrupt(), 130, "SIGINT")):

        def stopped(args, stop=stop):
            raise stop

        monkeypatch.setattr(cli, "cmd_contracts", stopped)
        assert cli.main(["contracts"]) == code
        err = capsys.readouterr().err
        assert err.startswith(f"citybrain: stopped by {name}; what was committed") and err.count("\n") == 1


def test_engine_start_sets_how_long_an_idle_session_lives_and_says_it(tmp_path):
    """An analyst's notebook session on `citybrain engine start` lives as long as asked, and the
    command says how long; a wrong value is one line."""
    from citybrain import engine
    from citybrain.settings import Settings

    env = {**os.environ, "CITYBRAIN_STATE_DIR": str(tmp_path / "state"), "CITYBRAIN_SPARK_REMOTE": "", "CITYBRAIN_ENGINE_PORT": "0"}
    wrong = subprocess.run(
        [sys.executable, "-m", "citybrain.cli", "engine", "start", "--idle-session-minutes", "0"], capture_output=True, text=True, env=env
    )
    assert wrong.returncode == 2 and wrong.stderr.strip().count("\n") == 0 and "'0' is not a number of minutes above 0" in wrong.stderr
    settings = Settings.from_env().with_(state_dir=tmp_path / "state", spark_remote="")
    try:
        started = subprocess.run(
            [sys.executable, "-m", "citybrain.cli", "engine", "start", "--idle-session-minutes", "0.05"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert started.returncode == 0, started.stderr
        assert "a session that makes no call for 3 s is dropped" in started.stdout + started.stderr
        session = engine.get_session(settings, new=True)
        assert session.range(2).count() == 2
        time.sleep(7)
        with pytest.raises(Exception, match="is not running"):
            session.range(2).count()
        again = subprocess.run(
            [sys.executable, "-m", "citybrain.cli", "engine", "start", "--idle-session-minutes", "60"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert "already running" in again.stdout + again.stderr and "stop this one first" in again.stdout + again.stderr
    finally:
        engine.stop(settings)
