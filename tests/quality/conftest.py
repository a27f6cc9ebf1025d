"""Fixtures of the quality tests: GX kept quiet, inline complaint batches."""

from __future__ import annotations

import logging

import pytest
from quality_samples import SCHEMA


@pytest.fixture(autouse=True, scope="session")
def _quiet_gx():
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


@pytest.fixture
def complaints(spark):
    def make(rows):
        return spark.createDataFrame(rows, SCHEMA)

    return make
