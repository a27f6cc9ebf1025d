"""The DuckDB references and the product agree on a small demo city: for every silver entity the same
rows and the same checksum of the key columns, and the same number of quarantined rows, so the
benchmark's ratios compare the same work (the gold tables: test_gold_agreement.py)."""

from __future__ import annotations

import pytest

from citybrain import lake
from citybrain.bench.harness import compare, reference_connection
from citybrain.bench.reference_silver import SILVER_REFERENCES
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import refine
from citybrain.schemas.sources import get_source

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_lake(spark, settings, tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    small = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city", days=14, scale=0.1)
    generate(small.demo_dir, seed=small.seed, days=small.days, scale=small.scale)
    for source in DEMO_SOURCES:
        ingest.run(spark, small, source)
    for source in sorted(DEMO_SOURCES, key=lambda s: s != "registry"):
        refine.refine(spark, small, source)
    connection = reference_connection(root / "reference.duckdb")
    yield small, connection
    connection.close()


def test_every_silver_entity_has_a_reference():
    mappings = [get_source(s).silver for s in DEMO_SOURCES if get_source(s).silver]
    entities = {m.entity for m in mappings} | {d for m in mappings for d in m.derived}
    assert entities <= set(SILVER_REFERENCES), f"no reference for {sorted(entities - set(SILVER_REFERENCES))}"


@pytest.mark.parametrize("entity", sorted(SILVER_REFERENCES))
def test_silver_reference_agrees(small_lake, entity):
    settings, connection = small_lake
    reference = SILVER_REFERENCES[entity]
    name = f"ref_silver_{entity}"
    rows = reference.build(connection, settings, name)
    product, ours = compare(connection, settings, reference, name)
    assert rows == ours[0] > 0
    assert ours == product, f"silver.{entity}: reference (rows, checksum) {ours} != product {product}"
    if entity not in refused_somewhere():
        return
    quarantine = f"delta_scan('{lake.table_location(settings, f'quarantine.{entity}')}')"
    refused = connection.execute(f"SELECT count(*) FROM {name}_quarantined").fetchone()[0]
    assert refused == connection.execute(f"SELECT count(*) FROM {quarantine}").fetchone()[0]


def refused_somewhere() -> set[str]:
    """Entities a refine quarantines rows of (a derived table has no quarantine of its own)."""
    return {"grid"} | {get_source(s).silver.entity for s in DEMO_SOURCES if get_source(s).silver}
