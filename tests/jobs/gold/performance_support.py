"""Helpers of the performance-table tests: local times, full silver frames, a Boston 311 lake."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pyspark.sql import functions as F
from tests_support import SHARED_REAL_DATA

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas import get_contract

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
BOSTON_SAMPLE = SHARED_REAL_DATA / "boston311" / "boston311-100.csv"


def local(zone: ZoneInfo, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """An instant given as a 2026 wall-clock time in ``zone`` (Spark stores it as UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


def as_silver(df, table: str):
    """A partial silver frame padded with typed nulls to the table's full contract (for lake.write)."""
    contract = get_contract(table)
    present = set(df.columns)
    return df.select(*(F.col(c.name) if c.name in present else F.lit(None).cast(c.type).alias(c.name) for c in contract.columns))


def utc_text(column: str):
    """A timestamp column as 'yyyy-MM-dd HH:mm' text in the session's zone (UTC), whatever the client's zone."""
    return F.date_format(F.col(column), "yyyy-MM-dd HH:mm").alias(column)


def boston_lake(spark, settings, tmp_path) -> None:
    """Ingest the real 100-row Boston 311 sample into ``settings``' lake and refine it into silver.complaint.

    Skipped when the shared sample is absent, except under CI, where its absence is a failure.
    """
    if not BOSTON_SAMPLE.is_file():
        message = f"the real Boston 311 sample is not at {BOSTON_SAMPLE} (../shared/data/real)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path / "boston311"
    folder.mkdir()
    shutil.copyfile(BOSTON_SAMPLE, folder / BOSTON_SAMPLE.name)  # a drop folder takes regular files, not links
    ingest.run(spark, settings, "boston311", folder=folder)
    refine.refine(spark, settings, "boston311")
    assert lake.read(spark, settings, "silver.complaint").where("source_system = 'boston_311'").count() >= 95


def reference_agrees(settings, table: str) -> bool:
    """Whether gold.<table> in ``settings``' lake and its DuckDB reference (citybrain.bench) agree on rows and key checksum."""
    from citybrain import serving
    from citybrain.bench import key_checksum
    from citybrain.bench.reference_gold import GOLD_REFERENCES
    from citybrain.bench.reference_performance import scan

    reference = GOLD_REFERENCES[table]
    with serving.connect(":memory:", read_only=False) as duck:
        duck.execute("SET TimeZone = 'UTC'")
        reference.build(duck, settings, "reference")
        ours = key_checksum(duck, "reference", reference.key_columns)
        return ours == key_checksum(duck, scan(settings, reference.table), reference.key_columns)
