"""Fuzzed drops: the readers never fail and never lose or change a value they can read."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from citybrain.jobs.bronze.readers import read_drop
from citybrain.schemas.sources import get_source

HOTLINE = get_source("hotline")
URBAN = get_source("urban_cases")
# text a department might send: any character but NUL and lone surrogates (which no encoding can carry)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8))
def test_csv_round_trips_every_value(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["工单编号", "诉求内容"])
    writer.writerows(rows)
    drop = read_drop(buffer.getvalue().encode("utf-8"), HOTLINE, file_name="x.csv")
    kept = [r for r in drop.records if r.error is None]
    # blank rows are not records; every other row comes back exactly, with no error
    expected = [list(row) for row in rows]
    assert [[r.fields["工单编号"], r.fields["诉求内容"]] for r in kept] == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["case_no", "remark", "lon"]), TEXT, max_size=3), max_size=8))
def test_json_lines_round_trip_every_object(objects):
    data = "\n".join(json.dumps(o, ensure_ascii=False) for o in objects).encode("utf-8")
    drop = read_drop(data, URBAN, file_name="x.jsonl")
    assert [r.fields for r in drop.records] == [o for o in objects]
    assert all(r.error is None for r in drop.records)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["x.csv", "x.jsonl", "x.json", "x.geojson", "x.tsv"]))
def test_any_bytes_give_records_or_reasons_never_an_exception(data, name):
    drop = read_drop(data, get_source("boston311"), file_name=name)
    for record in drop.records:
        assert record.error is not None or all(isinstance(v, str | None) for v in record.fields.values())
