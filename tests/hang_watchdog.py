"""A pytest plugin that ends the run, with every thread's stack, when a test is stuck where
pytest-timeout cannot end it.

pytest-timeout fails a test with SIGALRM. That does not end a stuck test when its Python handler
cannot run (the main thread blocked inside a native call that does not return), nor when the
exception it raises lands in a library's clean-up that blocks again: a CI run deadlocked in the
Spark Connect client (engine._release_pool_shutdown_without_waiting) hung that way until CI's
own limit, and pytest-timeout's report of it was still in stdout's buffer. faulthandler's
watchdog is a C thread, so ``HANG_GRACE_S`` after a test's timeout it writes every thread's
stack (naming the call that hung) to the real stderr, unbuffered, and exits the run with code 1.
"""

from __future__ import annotations

import faulthandler
import os

import pytest

#: how long after its pytest-timeout limit a test is taken to be stuck
HANG_GRACE_S = float(os.environ.get("CITYBRAIN_TEST_HANG_GRACE_S", "120"))

_REAL_STDERR = pytest.StashKey()


def pytest_configure(config) -> None:
    # output capture is off while pytest configures: fd 2 is still the terminal or CI's log
    config.stash[_REAL_STDERR] = os.fdopen(os.dup(2), "w")


def pytest_unconfigure(config) -> None:
    config.stash[_REAL_STDERR].close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout") or 0)
    if limit > 0:
        faulthandler.dump_traceback_later(limit + HANG_GRACE_S, exit=True, file=item.config.stash[_REAL_STDERR])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
