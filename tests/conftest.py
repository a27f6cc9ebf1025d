"""Shared fixtures: one embedded engine and one Spark session per test run, in a temporary lake."""

from __future__ import annotations

import os

import pytest

from citybrain import engine
from citybrain.settings import Settings

pytest_plugins = ("hang_watchdog",)


def pytest_sessionstart(session) -> None:
    """Under CI the real open data must be there: tests that need it skip only on a developer's machine."""
    from tests_support import SHARED_REAL_DATA

    if os.environ.get("CI") and not SHARED_REAL_DATA.is_dir():
        pytest.exit(f"CI={os.environ['CI']} but the real open data is not at {SHARED_REAL_DATA} (../shared/data/real)", returncode=1)


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    """Settings pointing at a temporary lake, state folder and demo folder."""
    root = tmp_path_factory.mktemp("citybrain")
    return Settings.from_env().with_(
        lake_root=str(root / "lake"),
        state_dir=root / "state",
        demo_dir=root / "demo_city",
        reports_dir=root / "reports",
        spark_remote=os.environ.get("CITYBRAIN_TEST_SPARK_REMOTE", ""),
    )


@pytest.fixture(scope="session")
def spark(settings):
    """The shared Spark Connect session; the embedded engine is stopped when the run ends.

    The engine keeps the session however long the tests that do not use it take
    (``TEST_RUN_IDLE_SESSION_S``); a cluster given in ``CITYBRAIN_TEST_SPARK_REMOTE`` keeps its own
    setting (Spark Connect's ``spark.connect.session.manager.defaultSessionTimeout``).
    """
    from tests_support import TEST_RUN_IDLE_SESSION_S

    started = False
    if not settings.spark_remote:  # a server started here stops by itself if the run is killed
        _, started = engine.start(settings, owner_pid=os.getpid(), idle_session_s=TEST_RUN_IDLE_SESSION_S)
    session = engine.get_session(settings)
    yield session
    session.stop()
    if started:
        engine.stop(settings)


@pytest.fixture
def lake_settings(settings, tmp_path) -> Settings:
    """Settings with a lake of the test's own (the engine stays shared)."""
    return settings.with_(lake_root=str(tmp_path / "lake"))
