"""Delta round trip through the contracts, on the real engine."""

from datetime import date, datetime
from pathlib import Path

import pytest

from citybrain import lake
from citybrain.schemas import ContractViolation, get_contract

LEDGER_ROW = ("hotline", "hotline/a.csv", "abc", 10, date(2026, 9, 1), "utf-8", 3, 0, None, None, None, "b1", datetime(2026, 9, 1, 8), None)


def _ledger(spark, rows):
    return spark.createDataFrame(rows, get_contract("ops.ingest_ledger").ddl().replace(" NOT NULL", ""))


def test_write_read_merge_history(spark, lake_settings):
    name = "ops.ingest_ledger"
    lake.write(spark, lake_settings, name, _ledger(spark, [LEDGER_ROW]))
    assert lake.read(spark, lake_settings, name).count() == 1
    changed = (*LEDGER_ROW[:6], 5, *LEDGER_ROW[7:])
    new = ("hotline", "hotline/b.csv", "def", *LEDGER_ROW[3:])
    lake.merge(spark, lake_settings, name, _ledger(spark, [changed, new]))
    rows = {r.file_sha256: r.records for r in lake.read(spark, lake_settings, name).collect()}
    assert rows == {"abc": 5, "def": 3}
    ops = [h["operation"] for h in lake.history(lake_settings, name)]
    assert ops[0] == "MERGE" and ops[-1] in ("CREATE TABLE", "WRITE")
    assert lake.version(lake_settings, name) == 1
    # time travel: version 0 still holds the first write
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(lake.table_location(lake_settings, name))
    assert [r.records for r in v0.collect()] == [3]


def test_maintenance_through_deltalake(spark, lake_settings):
    name = "ops.ingest_ledger"
    for i in range(3):
        lake.write(spark, lake_settings, name, _ledger(spark, [(*LEDGER_ROW[:2], f"sha{i}", *LEDGER_ROW[3:])]))
    metrics = lake.optimize(lake_settings, name)
    assert metrics["numFilesRemoved"] == 3 and metrics["numFilesAdded"] == 1
    assert lake.read(spark, lake_settings, name).count() == 3
    assert len(lake.vacuum(lake_settings, name, retention_hours=0, dry_run=True)) == 3


def test_contract_refuses_extra_missing_and_mistyped_columns_before_writing(spark, lake_settings):
    name = "ops.ingest_ledger"
    good = _ledger(spark, [LEDGER_ROW])
    with pytest.raises(ContractViolation, match=r"not in the contract surprise"):
        lake.write(spark, lake_settings, name, good.withColumn("surprise", good.records))
    with pytest.raises(ContractViolation, match=r"missing column\(s\) encoding"):
        lake.write(spark, lake_settings, name, good.drop("encoding"))
    with pytest.raises(ContractViolation, match=r"column records is string, the contract says bigint"):
        lake.write(spark, lake_settings, name, good.withColumn("records", good.records.cast("string")))
    assert not lake.exists(lake_settings, name)


def test_unknown_table_names_are_clear(spark, lake_settings):
    with pytest.raises(ValueError, match="layer.table"):
        lake.table_location(lake_settings, "Bronze-Hotline")
    with pytest.raises(KeyError, match="no contract for table 'gold.nothing'"):
        lake.write(spark, lake_settings, "gold.nothing", spark.range(1))
    with pytest.raises(FileNotFoundError, match="does not exist yet"):
        lake.read(spark, lake_settings, "bronze.hotline")


def test_an_append_adds_the_columns_a_contract_gained(spark, lake_settings):
    """A table created before its contract gained a column takes appends with it (additive evolution)."""
    name = "ops.ingest_ledger"
    older = get_contract(name).ddl().replace(" NOT NULL", "").replace(", `rejected_reason` string", "")
    path = lake.table_location(lake_settings, name)
    spark.createDataFrame([LEDGER_ROW[:-1]], older).write.format("delta").save(path)
    lake.write(spark, lake_settings, name, _ledger(spark, [(*LEDGER_ROW[:2], "def", *LEDGER_ROW[3:-1], "a directory")]))
    rows = {r.file_sha256: r.rejected_reason for r in lake.read(spark, lake_settings, name).collect()}
    assert rows == {"abc": None, "def": "a directory"}


def test_a_failed_write_names_the_table_and_where_it_is(spark, lake_settings):
    """A damaged or unwritable table log fails with the table's name, not only the engine's words."""
    name = "ops.ingest_ledger"
    lake.write(spark, lake_settings, name, _ledger(spark, [LEDGER_ROW]))
    log = Path(lake.table_location(lake_settings, name)) / "_delta_log"
    for entry in log.iterdir():
        if entry.is_file():
            entry.write_text("not a commit\n")
    with pytest.raises(lake.LakeWriteError, match=rf"could not write {name} at {lake.table_location(lake_settings, name)}: "):
        lake.write(spark, lake_settings, name, _ledger(spark, [(*LEDGER_ROW[:2], "def", *LEDGER_ROW[3:])]))
