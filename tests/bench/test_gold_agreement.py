"""Every gold table and its DuckDB reference agree on a small demo city: rows and the key checksum."""

import importlib

import pytest

from citybrain import serving
from citybrain.bench import key_checksum
from citybrain.bench.reference_gold import CLOSE_COLUMNS, GOLD_REFERENCES
from citybrain.bench.reference_performance import scan
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.gold import GOLD_TABLES, TRAINED_TABLES
from citybrain.jobs.silver import refine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_city(spark, settings, tmp_path_factory):
    """A tenth of the default city over 42 days (enough history to train the forecaster), through every gold table."""
    root = tmp_path_factory.mktemp("gold_agreement")
    own = settings.with_(lake_root=str(root / "lake"), demo_dir=root / "demo_city")
    generate(own.demo_dir, seed=20260831, days=42, scale=0.1)
    for source in DEMO_SOURCES:
        ingest.run(spark, own, source)
    for source in sorted(DEMO_SOURCES, key=lambda s: s != "registry"):
        refine.refine(spark, own, source)
    for table in GOLD_TABLES:
        job = importlib.import_module(f"citybrain.jobs.gold.{table}")
        if table in TRAINED_TABLES:
            job.train(spark, own)
        assert job.run(spark, own).rows > 0, table
    return own


@pytest.fixture(scope="module")
def duck():
    connection = serving.connect(":memory:", read_only=False)
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def test_every_gold_table_has_a_reference():
    assert set(GOLD_REFERENCES) == set(GOLD_TABLES)
    assert all(ref.table == f"gold.{name}" for name, ref in GOLD_REFERENCES.items())


@pytest.mark.parametrize("table", sorted(GOLD_TABLES))
def test_reference_and_product_agree(small_city, duck, table):
    reference = GOLD_REFERENCES[table]
    rows = reference.build(duck, small_city, f"ref_{table}")
    product = key_checksum(duck, scan(small_city, reference.table), reference.key_columns)
    assert rows > 0
    assert key_checksum(duck, f"ref_{table}", reference.key_columns) == product


@pytest.mark.parametrize("table", sorted(CLOSE_COLUMNS))
def test_floating_point_columns_are_close(small_city, duck, table):
    """Columns outside the checksum (order-dependent sums; a forecast tree's leaf can turn on a last bit):
    every mean within 1e-9 of the product's; at least 99 % of the forecasts equal to 6 decimals, all within 1."""
    grain, columns = CLOSE_COLUMNS[table]
    GOLD_REFERENCES[table].build(duck, small_city, f"close_{table}")
    diffs = duck.execute(
        f"SELECT {', '.join(f'abs(r.{c} - p.{c}) AS {c}' for c in columns)}, {', '.join(f'(r.{c} IS NULL) <> (p.{c} IS NULL) AS null_{c}' for c in columns)}"
        f" FROM close_{table} r JOIN {scan(small_city, GOLD_REFERENCES[table].table)} p USING ({', '.join(grain)})"
    ).df()
    assert len(diffs) == duck.execute(f"SELECT count(*) FROM close_{table}").fetchone()[0] > 0
    for column in columns:
        assert not diffs[f"null_{column}"].any(), column
        if table == "demand_forecast":
            assert (diffs[column] > 1e-6).mean() <= 0.01, column  # 0.13 % of the upper bounds on the small city
            assert diffs[column].max() < 1.0, column
        else:
            assert diffs[column].max() < 1e-9, column
