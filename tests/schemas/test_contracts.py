"""Every contract is well formed; bronze contracts follow the source mappings."""

import pytest

from citybrain.schemas import Column, Contract, all_contracts, get_contract
from citybrain.schemas.sources import all_sources

DEPARTMENTS = {"hotline", "urban_cases", "ridehailing", "police", "petitions", "registry", "calendar"}


def test_every_department_has_a_source_and_a_bronze_contract():
    assert DEPARTMENTS <= set(all_sources())
    assert {f"bronze.{d}" for d in DEPARTMENTS} <= set(all_contracts())


@pytest.mark.parametrize("name", sorted(all_contracts()))
def test_contract_states_grain_owner_and_description(name):
    c = get_contract(name)
    assert c.grain and c.owner and c.description
    assert c.name == name


def test_bronze_keeps_raw_text_and_ingest_metadata():
    c = get_contract("bronze.ridehailing")
    assert c.column("fare_yuan").type == "string"
    assert c.partition_by == ("dt",)
    assert {"_batch_id", "_source_file", "_file_sha256", "_source_row", "_ingested_at", "_extra", "_parse_error"} <= set(c.column_names)
    assert {col.name for col in c.pii_columns} == {
        "driver_cert_no",
        "driver_name",
        "driver_phone",
        "plate_no",
        "vehicle_cert_no",
        "passenger_phone",
    }


def test_schema_change_alias_is_declared():
    assert all_sources()["ridehailing"].field_lookup()["fare_amount"] == "fare_yuan"


def test_malformed_contracts_are_refused():
    with pytest.raises(ValueError, match="layer.table"):
        Contract("hotline", (Column("a"),), "g", "d", "o")
    with pytest.raises(ValueError, match="duplicated"):
        Contract("x.y", (Column("a"), Column("a")), "g", "d", "o")
    with pytest.raises(ValueError, match="unknown columns"):
        Contract("x.y", (Column("a"),), "g", "d", "o", keys=("b",))
    with pytest.raises(ValueError, match="unsupported type"):
        Column("a", "varchar")


def test_only_the_tables_of_ride_hailing_volume_or_updated_by_merge_are_partitioned_and_by_day():
    """Partitioning by day (schemas.contract.BY_DAY): day partitions of a small table stay one tiny file a day,
    unless a day's MERGE would otherwise rewrite the whole table."""
    from citybrain.schemas.contract import BY_DAY

    partitioned = {name: c.partition_by for name, c in all_contracts().items() if c.partition_by}
    by_size = {"bronze.ridehailing", "bronze.chicago_tnp", "silver.ride_trip"}
    by_updates = {"silver.complaint", "silver.police_incident", "silver.urban_case_event", "silver.urban_case"}
    assert partitioned == dict.fromkeys(by_size | by_updates, BY_DAY)
