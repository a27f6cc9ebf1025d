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


def _old_layout_quarantine(settings, name: str) -> list[dict]:
    """A table written in the day partitions every contract had before partitioning by size."""
    import pyarrow as pa
    from deltalake import write_deltalake

    contract = get_contract(name)
    rows = [
        {c.name: None for c in contract.columns}
        | {
            "record": "{}",
            "rule": "r",
            "reason": "why",
            "source_row": i,
            "batch_id": "b",
            "quarantined_at": datetime(2026, 9, i, 8),
            "dt": date(2026, 9, i),
        }
        for i in (1, 2, 3)
    ]
    write_deltalake(lake.table_location(settings, name), pa.Table.from_pylist(rows, schema=contract.arrow_schema()), partition_by=["dt"])
    return rows


def _sorted(settings, name):
    from deltalake import DeltaTable

    return sorted(
        DeltaTable(lake.table_location(settings, name)).to_pyarrow_dataset().to_table().to_pylist(), key=lambda r: r["source_row"]
    )


def test_a_table_laid_out_otherwise_than_its_contract_is_refused_until_maintain_rewrites_it(spark, lake_settings):
    from citybrain.jobs import maintenance

    name = "quarantine.complaint"
    assert get_contract(name).partition_by == ()
    rows = _old_layout_quarantine(lake_settings, name)
    new = spark.createDataFrame([tuple({**rows[0], "source_row": 9}.values())], get_contract(name).ddl().replace(" NOT NULL", ""))
    for add in (
        lambda: lake.merge(spark, lake_settings, name, new),
        lambda: lake.write(spark, lake_settings, name, new),
        lambda: lake.write(spark, lake_settings, name, new, mode="overwrite", replace_where="dt = DATE'2026-09-01'"),
        lambda: lake.append_rows(lake_settings, name, [{**rows[0], "source_row": 9}]),
    ):
        with pytest.raises(
            lake.LakeLayoutError, match=r"partitioned by \(dt\) on disk but its contract says \(nothing\).*citybrain maintain"
        ):
            add()
    before = _sorted(lake_settings, name)
    assert len(before) == 3  # nothing was written

    [result] = maintenance.maintain(lake_settings, tables=[name])
    assert result.error is None and lake.partitioning(lake_settings, name) == ()
    assert _sorted(lake_settings, name) == before  # the same rows, in the contract's layout
    lake.merge(spark, lake_settings, name, new)
    assert [r["source_row"] for r in _sorted(lake_settings, name)] == [1, 2, 3, 9]


def test_a_whole_overwrite_takes_the_contracts_layout(spark, lake_settings):
    name = "quarantine.police_incident"
    rows = _old_layout_quarantine(lake_settings, name)
    again = spark.createDataFrame([tuple(r.values()) for r in rows[:2]], get_contract(name).ddl().replace(" NOT NULL", ""))
    lake.write(spark, lake_settings, name, again, mode="overwrite")
    assert lake.partitioning(lake_settings, name) == () and [r["source_row"] for r in _sorted(lake_settings, name)] == [1, 2]


def test_a_replace_where_on_dt_replaces_that_day_of_an_unpartitioned_table(spark, lake_settings):
    """Small tables are not partitioned (schemas.contract.BY_DAY): a rerun of a date still replaces only that date."""
    name = "quarantine.complaint"
    ddl = get_contract(name).ddl().replace(" NOT NULL", "")
    rows = [("{}", "r", "why", None, None, i, "b", datetime(2026, 9, i, 8), date(2026, 9, i)) for i in (1, 2, 3)]
    lake.write(spark, lake_settings, name, spark.createDataFrame(rows, ddl))
    assert lake.partitioning(lake_settings, name) == ()
    rerun = [("{}", "r", "again", None, None, 7, "b2", datetime(2026, 9, 2, 9), date(2026, 9, 2))]
    lake.write(spark, lake_settings, name, spark.createDataFrame(rerun, ddl), mode="overwrite", replace_where="dt = DATE'2026-09-02'")
    got = sorted((r.dt.day, r.source_row, r.reason) for r in lake.read(spark, lake_settings, name).collect())
    assert got == [(1, 1, "why"), (2, 7, "again"), (3, 3, "why")]


def test_a_staging_folder_is_reached_by_the_engine_and_deleted_however_the_block_ends(spark, lake_settings):
    staging = Path(lake_settings.lake_root) / "_staging"
    with lake.staging_folder(lake_settings, "batch-1") as folder:
        assert Path(folder.path) == staging / "batch-1" and folder.filesystem.get_file_info(folder.path).type.name == "Directory"
        spark.range(5).write.mode("overwrite").parquet(f"{folder.uri}/rows")  # the engine writes where this client reads
        assert sorted(r.id for r in spark.read.parquet(f"{folder.uri}/rows").collect()) == [0, 1, 2, 3, 4]
    assert not (staging / "batch-1").exists()
    with pytest.raises(RuntimeError, match="the write failed"), lake.staging_folder(lake_settings, "batch-2") as folder:
        (Path(folder.path) / "half-written.parquet").write_bytes(b"PAR1")
        raise RuntimeError("the write failed")
    assert not list(staging.iterdir())  # a failure inside the block leaves nothing either


def test_the_sweep_deletes_only_staging_folders_nothing_wrote_to_for_a_day(lake_settings):
    """What a killed run left goes; a folder with a recent write, however old the folder, stays."""
    import os
    import time

    from citybrain.jobs import maintenance

    assert lake.sweep_staging(lake_settings) == []  # no staging folder yet
    staging = Path(lake_settings.lake_root) / "_staging"
    hours_ago = {"killed-ingest": 25, "killed-ingest/bronze": 25, "killed-ingest/bronze/part-00000.parquet": 25,
                 "empty-and-old": 30, "live-refine": 40, "live-refine/part-00000.parquet": 1, "a-day-less-an-hour": 23}  # fmt: skip
    for name in sorted(hours_ago):
        path = staging / name
        if name.endswith(".parquet"):
            path.write_bytes(b"PAR1")
        else:
            path.mkdir(parents=True)
    for name, age in sorted(hours_ago.items(), key=lambda item: -item[0].count("/")):  # files before their folders
        at = time.time() - age * 3600
        os.utime(staging / name, (at, at))
    said = []
    maintenance.maintain(lake_settings, progress=said.append)
    assert sorted(p.name for p in staging.iterdir()) == ["a-day-less-an-hour", "live-refine"]
    assert (staging / "live-refine" / "part-00000.parquet").exists()
    assert any("2 staging folder(s) left by killed runs deleted" in line and "empty-and-old, killed-ingest" in line for line in said)
    assert lake.sweep_staging(lake_settings) == []
    assert lake.sweep_staging(lake_settings, older_than_hours=0.5) == ["a-day-less-an-hour", "live-refine"]


def test_a_client_table_goes_through_the_contract_and_the_engine_reads_what_this_client_wrote(spark, lake_settings):
    """``write_client_table``: a pyarrow Table built on this client, written by ``deltalake``."""
    import pyarrow as pa

    name = "ops.ingest_ledger"
    contract = get_contract(name)
    fields = contract.column_names
    rows = [
        dict(zip(fields, (*LEDGER_ROW[:2], f"sha{i}", *LEDGER_ROW[3:4], date(2026, 9, i), *LEDGER_ROW[5:]), strict=True)) for i in (1, 2, 3)
    ]
    good = pa.Table.from_pylist(rows, schema=contract.arrow_schema())
    with pytest.raises(ContractViolation, match=r"not in the contract surprise"):
        lake.write_client_table(lake_settings, name, good.append_column("surprise", pa.array([1, 2, 3])))
    with pytest.raises(ContractViolation, match=r"missing column\(s\) encoding"):
        lake.write_client_table(lake_settings, name, good.drop_columns(["encoding"]))
    with pytest.raises(ContractViolation, match=r"column records is string, the contract says bigint"):
        lake.write_client_table(lake_settings, name, good.set_column(fields.index("records"), "records", pa.array(["3"] * 3)))
    with pytest.raises(ContractViolation, match=r"null in NOT NULL column\(s\) batch_id"):
        lake.write_client_table(lake_settings, name, good.set_column(fields.index("batch_id"), "batch_id", pa.array([None, "b", "b"], pa.string())))  # fmt: skip
    assert not lake.exists(lake_settings, name)

    lake.write_client_table(lake_settings, name, good.select(list(reversed(fields))), mode="overwrite")  # any column order
    assert sorted(r.file_sha256 for r in lake.read(spark, lake_settings, name).collect()) == ["sha1", "sha2", "sha3"]
    again = pa.Table.from_pylist([{**rows[1], "records": 9}], schema=contract.arrow_schema())
    lake.write_client_table(lake_settings, name, again, mode="overwrite", replace_where="drop_date >= DATE'2026-09-02'")
    got = sorted((r.drop_date.day, r.records) for r in lake.read(spark, lake_settings, name).collect())
    assert got == [(1, 3), (2, 9)]  # day 3 replaced by nothing, day 2 by the new row, day 1 kept
    with pytest.raises(lake.LakeWriteError, match=f"could not write {name} at .*ledger"):  # a row outside the predicate
        lake.write_client_table(lake_settings, name, again, mode="overwrite", replace_where="drop_date = DATE'2026-09-01'")
    assert sorted((r.drop_date.day, r.records) for r in lake.read(spark, lake_settings, name).collect()) == got


def test_rows_appended_from_the_client_go_through_the_contract(spark, lake_settings):
    """``append_rows`` (the audit, the check results, the build watermarks): a NOT NULL value left
    out or None is refused before anything is written; good rows are read back by the engine."""
    name = "ops.ingest_ledger"
    fields = get_contract(name).column_names
    row = dict(zip(fields, LEDGER_ROW, strict=True))
    for bad in ({k: v for k, v in row.items() if k != "batch_id"}, {**row, "batch_id": None}):
        with pytest.raises(ContractViolation, match=r"null in NOT NULL column\(s\) batch_id"):
            lake.append_rows(lake_settings, name, [bad])
    assert not lake.exists(lake_settings, name)
    lake.append_rows(lake_settings, name, [row, {**row, "file_sha256": "other"}])
    assert sorted(r.file_sha256 for r in lake.read(spark, lake_settings, name).collect()) == sorted([row["file_sha256"], "other"])


def _incidents(spark, source_file: str, ids):
    """Rows of silver.police_incident (a table with deletion vectors), all of day 2026-09-01, keyed
    p<i>, otherwise empty; ``source_file`` tells one version from another."""
    contract = get_contract("silver.police_incident")
    key = contract.keys[0]
    values = [{c.name: None for c in contract.columns} | {key: f"p{i}", "_source_file": source_file, "dt": date(2026, 9, 1)} for i in ids]
    return spark.createDataFrame([tuple(r.values()) for r in values], contract.ddl().replace(" NOT NULL", ""))


def test_maintain_rewrites_a_table_with_deletion_vectors_without_bringing_back_a_replaced_row(spark, lake_settings):
    """A table whose MERGE left deletion vectors, laid out otherwise than its contract: the rewrite
    reads it with the vectors applied (lake._batches), so a replaced version is not written again."""
    from deltalake import DeltaTable

    from citybrain.jobs import maintenance

    name = "silver.police_incident"
    contract = get_contract(name)
    assert contract.deletion_vectors and contract.partition_by == ("dt",)
    key = contract.keys[0]

    location = lake.table_location(lake_settings, name)
    _incidents(spark, "first", range(4)).write.format("delta").option("delta.enableDeletionVectors", "true").save(location)  # unpartitioned
    _incidents(spark, "second", [1]).createOrReplaceTempView("later")
    spark.sql(f"MERGE INTO delta.`{location}` AS t USING later AS s ON t.`{key}` = s.`{key}` WHEN MATCHED THEN UPDATE SET *")
    assert "deletionVectors" in (DeltaTable(location).protocol().reader_features or [])
    assert lake.layout_problem(lake_settings, name)

    [result] = maintenance.maintain(lake_settings, tables=[name])
    assert result.error is None and lake.partitioning(lake_settings, name) == ("dt",)
    after = sorted((r[key], r["_source_file"]) for r in lake.arrow(lake_settings, name, [key, "_source_file"]).to_pylist())
    assert after == [("p0", "first"), ("p1", "second"), ("p2", "first"), ("p3", "first")]
    assert lake.read(spark, lake_settings, name).count() == 4


def test_maintain_compacts_a_table_with_deletion_vectors_without_bringing_back_a_replaced_row(spark, lake_settings):
    """OPTIMIZE through ``deltalake`` on a table in its contract's layout whose MERGE left deletion vectors."""
    from citybrain.jobs import maintenance

    name = "silver.police_incident"
    key = get_contract(name).keys[0]

    lake.write(spark, lake_settings, name, _incidents(spark, "first", range(2)))
    lake.write(spark, lake_settings, name, _incidents(spark, "first", range(2, 4)))  # two files in the day: something to compact
    lake.merge(spark, lake_settings, name, _incidents(spark, "second", [1]))
    assert lake.history(lake_settings, name, 1)[0]["operationMetrics"]["numTargetDeletionVectorsAdded"] == 1

    [result] = maintenance.maintain(lake_settings, tables=[name])
    assert result.error is None
    assert any(c.get("operation") == "OPTIMIZE" for c in lake.history(lake_settings, name, 3))
    after = sorted((r[key], r["_source_file"]) for r in lake.read(spark, lake_settings, name).select(key, "_source_file").collect())
    assert after == [("p0", "first"), ("p1", "second"), ("p2", "first"), ("p3", "first")]
