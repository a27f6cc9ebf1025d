"""A new day refined on top of the history gives what one refine of every day gives.

The merges into the tables partitioned by day (schemas.contract.BY_DAY) read and rewrite only
the days that hold a batch's keys; refining the demo city's last days one at a time must still
leave silver exactly as one refine of all its drops (the truth: a full rebuild from the same
files), with tickets updated days later, late and re-sent versions and cases rebuilt from events
of several days.
"""

import re
import shutil

import pytest
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas import get_contract

pytestmark = pytest.mark.slow

DAYS, NEW_DAYS = 10, 3
TABLES = ("silver.complaint", "silver.complaint_status", "silver.police_incident", "silver.urban_case_event", "silver.urban_case")
#: columns that name a run, not the data: the bronze batch and the time of the refine
RUN_COLUMNS = ("_batch_id", "_refined_at")


def _ingest_and_refine(spark, settings) -> dict:
    for source in DEMO_SOURCES:
        ingest.run(spark, settings, source)
    return {s: refine.refine(spark, settings, s) for s in sorted(DEMO_SOURCES, key=lambda s: s != "registry")}


def _dates(name: str) -> set[str]:
    return set(re.findall(r"20\d{6}", name))


@pytest.fixture(scope="module")
def two_lakes(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("new_day")
    generate(root / "demo_city", days=DAYS, scale=0.05)
    drops, held = root / "demo_city" / "drops", root / "held"
    files = [p for p in drops.rglob("*") if p.is_file()]
    new_days = sorted(set().union(*(_dates(p.name) for p in files)))[-NEW_DAYS:]
    for path in files:
        if _dates(path.name) & set(new_days):
            (held / path.relative_to(drops)).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, held / path.relative_to(drops))
    daily = settings.with_(lake_root=str(root / "daily"), demo_dir=root / "demo_city")
    _ingest_and_refine(spark, daily)
    for day in new_days:
        for path in [p for p in held.rglob("*") if p.is_file() and day in _dates(p.name)]:
            shutil.move(path, drops / path.relative_to(held))
        reports = _ingest_and_refine(spark, daily)
        assert reports["hotline"].records_in and reports["urban_cases"].records_in, day
    full = settings.with_(lake_root=str(root / "full"), demo_dir=root / "demo_city")
    _ingest_and_refine(spark, full)
    return daily, full


def _rows(spark, settings, name) -> list[dict]:
    df = lake.read(spark, settings, name)
    df = df.drop(*(c for c in RUN_COLUMNS if c in df.columns))
    return sorted(({c: str(v) for c, v in r.asDict().items()} for r in df.collect()), key=lambda r: tuple(r.values()))


def _differences(got: list[dict], truth: list[dict], keys: list[str], limit: int = 5) -> list[str]:
    """The first rows that differ, by key, with the columns that differ (got != truth)."""
    by_key = {tuple(r[k] for k in keys): r for r in truth}
    said = []
    for row in got:
        expected = by_key.get(tuple(row[k] for k in keys))
        if expected is None:
            said.append(f"{[row[k] for k in keys]}: not in the full refine")
        elif row != expected:
            said.append(
                f"{[row[k] for k in keys]}: " + ", ".join(f"{c} {row[c]!r} != {expected[c]!r}" for c in row if row[c] != expected[c])
            )
        if len(said) == limit:
            break
    return said


@pytest.mark.parametrize("name", TABLES)
def test_day_by_day_equals_one_refine_of_every_day(spark, two_lakes, name):
    daily, full = two_lakes
    assert lake.partitioning(daily, name) == get_contract(name).partition_by
    got, truth = _rows(spark, daily, name), _rows(spark, full, name)
    assert len(got) == len(truth)
    assert got == truth, _differences(got, truth, list(get_contract(name).keys))


@pytest.mark.parametrize("name", ("silver.complaint", "silver.urban_case"))
def test_the_last_day_updated_rows_of_earlier_days(spark, two_lakes, name):
    """The comparison means something: the last refine rewrote rows that an earlier day holds."""
    daily, _ = two_lakes
    table = lake.read(spark, daily, name)
    last = table.agg(F.max("_refined_at"), F.max("dt")).first()
    assert table.where((F.col("_refined_at") == last[0]) & (F.col("dt") < last[1])).count() > 0


@pytest.mark.parametrize("name", ("silver.complaint", "silver.urban_case"))
def test_a_new_days_merge_replaces_earlier_rows_without_copying_their_files(spark, two_lakes, name):
    """With deletion vectors (schemas.contract), the last day's MERGE marks the replaced rows deleted
    in their files and writes only the new versions: none of the other rows is copied."""
    daily, _ = two_lakes
    assert get_contract(name).deletion_vectors
    merge = next(c for c in lake.history(daily, name) if c.get("operation") == "MERGE")
    metrics = merge["operationMetrics"]
    assert metrics["numTargetRowsUpdated"] > 0, metrics
    assert metrics["numTargetDeletionVectorsAdded"] > 0, metrics
    assert metrics["numTargetRowsCopied"] == 0, metrics
    # a reader on this client applies them too: the replaced versions are not read back
    assert lake.arrow(daily, name).num_rows == lake.read(spark, daily, name).count()
