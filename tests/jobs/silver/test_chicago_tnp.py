"""A Chicago Transportation Network Providers export lands in silver.ride_trip through its mapping file alone,
and a mapping expression that fails on a value stops with one line naming the source, the field and the expression."""

import dataclasses
import shutil
from pathlib import Path

import pytest

from citybrain import lake
from citybrain.jobs.bronze import ingest
from citybrain.jobs.silver import mapping as silver_mapping
from citybrain.jobs.silver import refine
from citybrain.schemas.sources import get_source

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "chicago_tnp" / "chicago_tnp-sample.csv"


def _ingest(spark, settings, tmp_path):
    folder = tmp_path / "drops" / "chicago_tnp"
    folder.mkdir(parents=True)
    shutil.copyfile(FIXTURE, folder / FIXTURE.name)
    ingest.run(spark, settings, "chicago_tnp", drops_dir=tmp_path / "drops")


def test_tnp_export_lands_in_silver_ride_trip(spark, lake_settings, tmp_path):
    _ingest(spark, lake_settings, tmp_path)
    report = refine.refine(spark, lake_settings, "chicago_tnp")
    assert (report.records_in, report.accepted, report.quarantined) == (4, 3, 1)  # the last trip has no pickup point
    trips = {r.order_id: r for r in lake.read(spark, lake_settings, "silver.ride_trip").collect()}
    first = trips["chicago_tnp:a1f3c9e0b2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1"]
    assert str(first.ordered_at) == "2023-11-01 05:00:00"  # midnight in Chicago (CDT, UTC-5) is 5:00 UTC
    assert str(first.dt) == "2023-11-01" and str(first.dropped_off_at) == "2023-11-01 05:15:00"
    assert first.distance_km == pytest.approx(3.2 * 1.609344) and first.duration_min == pytest.approx(13.0)
    assert first.fare_yuan == 12.5 and first.order_status == "completed" and first.is_compliant is None
    assert first.location_method == "h3_only" and first.h3_r8 is not None
    no_miles = trips["chicago_tnp:c3f5e7a9b1d3f5a7b9c1d3e5f7a9b1c3d5e7f9a1"]
    assert no_miles.distance_km is None  # an empty Trip Miles is unknown, not 0
    quarantined = lake.read(spark, lake_settings, "quarantine.ride_trip").collect()
    assert len(quarantined) == 1
    row = quarantined[0].asDict()
    assert "d4a6f8b0" in str(row) and row["reason"], row


def test_a_failing_mapping_expression_is_one_line_naming_source_field_and_expression(spark, lake_settings, tmp_path, monkeypatch):
    _ingest(spark, lake_settings, tmp_path)
    spec = get_source("chicago_tnp")
    strict = "CAST(trip_miles AS double) * 1.609344"  # a plain cast fails on the empty Trip Miles of one row
    fields = tuple(dataclasses.replace(f, argument=strict) if f.name == "distance_km" else f for f in spec.silver.fields)
    broken = dataclasses.replace(spec, silver=dataclasses.replace(spec.silver, fields=fields))
    monkeypatch.setattr(refine, "get_source", lambda name: broken)
    with pytest.raises(silver_mapping.MappingValueError) as caught:
        refine.refine(spark, lake_settings, "chicago_tnp")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("source chicago_tnp: silver field distance_km = 'sql:CAST(trip_miles AS double) * 1.609344' fails on a value")
