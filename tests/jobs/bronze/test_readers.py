"""Drop files become text records; nothing is lost, bad records say why."""

import json

from citybrain.jobs.bronze.readers import as_text, decode, read_drop
from citybrain.schemas.sources import get_source


def test_csv_with_bom_blank_lines_and_a_short_row():
    data = '\ufeff工单编号,受理时间\n1,2026-09-01 08:00:00\n\n2\n3,"a, b"\n'.encode()
    drop = read_drop(data, get_source("hotline"))
    assert drop.encoding == "utf-8-sig"
    assert drop.field_names == ["工单编号", "受理时间"]
    assert [r.fields.get("工单编号") for r in drop.records] == ["1", None, "3"]
    assert drop.records[1].error == "row has 1 fields, the header has 2"
    assert json.loads(drop.records[1].fields["_raw"]) == ["2"]
    assert drop.records[2].fields["受理时间"] == "a, b"


def test_gbk_file_falls_back_and_is_named():
    data = "工单编号,诉求内容\n1,噪声扰民\n".encode("gbk")
    drop = read_drop(data, get_source("hotline"))
    assert drop.encoding == "gb18030"
    assert drop.records[0].fields["诉求内容"] == "噪声扰民"


def test_undecodable_bytes_are_kept_with_a_reason():
    text, encoding, warning = decode(b"ok\xff\xfe", ("utf-8",))
    assert encoding == "utf-8" and "\ufffd" in text and "undecodable" in warning


def test_jsonl_keeps_bad_lines():
    data = b'{"case_no": "C1", "lon": 118.5, "is_urgent": true}\nnot json\n[1]\n'
    drop = read_drop(data, get_source("urban_cases"))
    assert drop.records[0].fields == {"case_no": "C1", "lon": "118.5", "is_urgent": "true"}
    assert drop.records[1].error.startswith("line is not JSON")
    assert drop.records[2].error == "line is JSON list, not an object"
    assert drop.field_names == ["case_no", "lon", "is_urgent"]


def test_json_document_records_and_geojson():
    police = read_drop(json.dumps({"records": [{"incident_no": "P1", "severity": 2}]}).encode(), get_source("police"))
    assert police.records[0].fields == {"incident_no": "P1", "severity": "2"}
    broken = read_drop(b'{"records": 5}', get_source("police"))
    assert broken.records[0].error == "no list of records at records"
    feature = {"type": "Feature", "properties": {"grid_code": "G1"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}
    grids = read_drop(json.dumps({"type": "FeatureCollection", "features": [feature]}).encode(), get_source("registry"))
    assert grids.records[0].fields["grid_code"] == "G1"
    assert json.loads(grids.records[0].fields["geometry"]) == feature["geometry"]


def test_as_text():
    assert [as_text(v) for v in (None, "x", True, 3, 1.5, {"a": "中"})] == [None, "x", "true", "3", "1.5", '{"a":"中"}']
