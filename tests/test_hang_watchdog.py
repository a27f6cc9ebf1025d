"""A test stuck where pytest-timeout cannot reach it ends the run with its stack, within seconds
of its timeout, instead of hanging until CI's limit (tests/hang_watchdog.py)."""

import os
import subprocess
import sys
from pathlib import Path

STUCK_SUITE = """
import signal, time, pytest

@pytest.mark.timeout(1)
def test_slow_in_python():
    time.sleep(120)

@pytest.mark.timeout(1)
def test_stuck_where_the_alarm_cannot_reach():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # as a native call that never returns does
    time.sleep(120)

def test_after_the_stuck_one():
    pass
"""


def test_a_test_stuck_in_native_code_ends_the_run_naming_where(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_stuck.py").write_text(STUCK_SUITE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "CITYBRAIN_TEST_HANG_GRACE_S": "2"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hang_watchdog", "-p", "no:cacheprovider", "-v", "test_stuck.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # the stuck test sleeps 120 s: only the watchdog ends the run before this
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "test_slow_in_python FAILED" in out  # a hang in Python code still fails that test alone
    assert "Timeout (0:00:03)!" in out and "in test_stuck_where_the_alarm_cannot_reach" in out
    assert "test_after_the_stuck_one" not in out
