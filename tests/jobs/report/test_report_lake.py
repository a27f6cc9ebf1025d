"""The weekly report on a small demo city: numbers equal counts taken from silver, files and index row, rebuild by time travel.

One lake per module (21 days, scale 0.05, the sources the report reads): generated,
ingested, refined and built to gold, about 25 s.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta

import pytest
from deltalake import DeltaTable

from citybrain import lake
from citybrain.democity import generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.gold import complaint_hotspots, governance_scorecard, hotline_performance
from citybrain.jobs.report import publish, render
from citybrain.jobs.silver import refine
from citybrain.schemas.gold.hotline_performance import HotlinePerformanceParams

pytestmark = pytest.mark.slow

SOURCES = ("registry", "hotline", "police", "petitions", "urban_cases")


@pytest.fixture(scope="module")
def city(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("report_city")
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city", reports_dir=root / "reports")
    generate(own.demo_dir, days=21, scale=0.05, sources=SOURCES)
    for source in SOURCES:
        ingest.run(spark, own, source)
    for source in SOURCES:  # registry first: the others are located against silver.grid
        refine.refine(spark, own, source)
    for job in (complaint_hotspots, hotline_performance, governance_scorecard):
        job.run(spark, own)
    return own


@pytest.fixture(scope="module")
def first(spark, city):
    return publish.run(spark, city)


def _numbers(report) -> dict:
    return json.loads(report.numbers_path.read_text(encoding="utf-8"))


def _count(spark, settings, table: str, where: str) -> int:
    return lake.read(spark, settings, table).where(where).count()


def test_default_week_is_the_latest_complete_one_and_numbers_equal_silver_counts(spark, city, first):
    # the city runs 2026-08-31 (a Monday) to 2026-09-20: three whole ISO weeks, the last is W38
    assert first.iso_week == "2026-W38" and first.source_system == "demo_12345"
    numbers = _numbers(first)
    assert (numbers["week_start"], numbers["week_end"], numbers["week_complete"]) == ("2026-09-14", "2026-09-20", True)
    metrics = {m["metric"]: m for m in numbers["sections"]["headline"]["metrics"]}

    def week(start: date) -> str:
        return f"dt BETWEEN DATE'{start}' AND DATE'{start + timedelta(days=6)}'"

    this, before = date(2026, 9, 14), date(2026, 9, 7)
    hotline = "source_system = 'demo_12345' AND "
    assert metrics["received"]["value"] == _count(spark, city, "silver.complaint", hotline + week(this)) > 0
    assert metrics["received"]["previous"] == _count(spark, city, "silver.complaint", hotline + week(before)) > 0
    located = " AND h3_r8 IS NOT NULL"
    assert metrics["police_incidents"]["value"] == _count(spark, city, "silver.police_incident", week(this) + located) > 0
    assert metrics["petitions"]["value"] == _count(spark, city, "silver.petition", week(this) + located)
    assert metrics["ride_pickups"]["value"] == 0  # no ride-hailing feed in this city

    quality = numbers["sections"]["data_quality"]
    quarantined = sum(
        _count(spark, city, name, week(this))
        for name in ("quarantine.complaint", "quarantine.police_incident", "quarantine.petition", "quarantine.urban_case_event")
    )
    assert quality["quarantined_rows"] == quarantined == sum(q["rows"] for q in quality["quarantine"])
    drops = {d["source"]: d for d in quality["drops"]}
    assert set(drops) == {"hotline", "police", "petitions", "urban_cases"}  # the registry is a one-off snapshot
    assert all((d["expected_days"], d["received_days"], d["missing"]) == (7, 7, []) for d in drops.values())

    performance = numbers["sections"]["performance"]
    ranks = [s["rank"] for s in performance["streets"]]
    assert ranks == sorted(ranks) and performance["best"][0]["rank"] == 1
    assert performance["worst"][0]["rank"] == max(ranks)


def test_files_and_index_row(spark, city, first):
    assert first.html_path == city.reports_dir / "2026-W38" / "report.html"
    assert first.numbers_path == city.reports_dir / "2026-W38" / "numbers.json"
    assert first.numbers_sha256 == hashlib.sha256(first.numbers_path.read_bytes()).hexdigest()
    rows = lake.read(spark, city, "gold.report_index").where(f"build_id = '{first.build_id}'").collect()
    assert len(rows) == 1
    row = rows[0]
    assert (row.iso_week, row.language, row.is_rebuild, row.numbers_sha256) == ("2026-W38", "zh", False, first.numbers_sha256)
    versions = json.loads(row.table_versions)
    assert versions["gold.hotline_performance"] == lake.version(city, "gold.hotline_performance")
    assert {"gold.complaint_hotspots", "gold.governance_scorecard", "ops.ingest_ledger", "quarantine.complaint", "silver.grid"} <= set(
        versions
    )
    assert "gold.report_index" not in versions  # the report does not read its own index
    if render.find_chromium():
        assert row.pdf_path == str(first.pdf_path) and first.pdf_path.stat().st_size > 0


def test_rebuild_reads_the_recorded_versions_and_gives_the_same_numbers(spark, city, first, tmp_path):
    own = city.with_(lake_root=str(tmp_path / "lake"), reports_dir=tmp_path / "reports")
    shutil.copytree(city.lake_root, own.lake_root)  # this test changes the lake; the others keep theirs
    recorded = first.numbers_path.read_bytes()

    # the lake moves on: gold.hotline_performance rebuilt with a 3-minute acceptance limit (rates drop)
    version = lake.version(own, "gold.hotline_performance")
    hotline_performance.run(spark, own, HotlinePerformanceParams(acceptance_limit_hours=0.05))
    assert lake.version(own, "gold.hotline_performance") == version + 1

    rebuilt = publish.run(spark, own, week="2026-W38", rebuild=True)
    assert rebuilt.numbers_path.read_bytes() == recorded
    assert (rebuilt.is_rebuild, rebuilt.rebuilt_from, rebuilt.table_versions) == (True, first.build_id, first.table_versions)

    fresh = publish.run(spark, own, week="2026-W38")  # not a rebuild: reads the latest versions
    assert fresh.numbers_path.read_bytes() != recorded
    old, new = ({m["metric"]: m["value"] for m in n["sections"]["headline"]["metrics"]} for n in (json.loads(recorded), _numbers(fresh)))
    assert new["timely_acceptance_rate"] < old["timely_acceptance_rate"] and new["received"] == old["received"]
    assert fresh.table_versions["gold.hotline_performance"] == version + 1

    index = DeltaTable(lake.table_location(own, "gold.report_index")).to_pandas()
    assert sorted(index["is_rebuild"]) == [False, False, True]


def test_rebuild_refuses_when_nothing_was_built(spark, city, tmp_path):
    empty = city.with_(lake_root=str(tmp_path / "lake"))
    with pytest.raises(publish.weekly.NothingToReport, match="nothing has been built"):
        publish.build(empty, rebuild=True)
