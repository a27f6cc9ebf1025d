"""Airflow for the DAG tests: one temporary AIRFLOW_HOME per test run, set before Airflow is imported.

Airflow reads its configuration once, at import, so every test here gets Airflow through
the ``airflow_home`` fixture and imports ``airflow`` only inside test functions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from citybrain import airflow_runner


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> Path:
    """A migrated Airflow home for this test run (the one already in use, if Airflow was imported)."""
    if "airflow.configuration" in sys.modules and os.environ.get("AIRFLOW_HOME"):
        home = Path(os.environ["AIRFLOW_HOME"])  # Airflow is configured once per process
    else:
        home = tmp_path_factory.mktemp("airflow")
    airflow_runner.prepare_airflow_home(home, airflow_runner.DEFAULT_DAGS_FOLDER)
    return home
