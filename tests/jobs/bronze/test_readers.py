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


HOTLINE = get_source("hotline")
HEAD = "工单编号,诉求内容\n"


def _rows(text_or_bytes, spec=HOTLINE, name="x.csv"):
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    return read_drop(data, spec, file_name=name)


def test_a_repeated_header_keeps_both_columns():
    drop = _rows("工单编号,诉求内容,诉求内容\n1,路灯不亮,补充说明\n")
    assert drop.field_names == ["工单编号", "诉求内容", "诉求内容__2"]
    assert drop.records[0].fields == {"工单编号": "1", "诉求内容": "路灯不亮", "诉求内容__2": "补充说明"}


def test_a_repeated_json_key_keeps_both_values():
    drop = _rows(b'{"case_no": "C1", "remark": "a", "remark": "b"}\n', get_source("urban_cases"), "x.jsonl")
    assert drop.records[0].fields == {"case_no": "C1", "remark": "a", "remark__2": "b"}


def test_one_gbk_row_in_a_utf8_file_costs_that_row_only():
    data = HEAD.encode() + "1,路灯不亮\n".encode() + "2,噪声扰民\n".encode("gbk") + "3,占道经营\n".encode()
    drop = _rows(data)
    assert [r.fields.get("诉求内容") for r in drop.records] == ["路灯不亮", "噪声扰民", "占道经营"]
    assert all(r.error is None for r in drop.records) and drop.encoding == "utf-8-sig+gb18030"


def test_bytes_no_encoding_fits_mark_only_their_record():
    data = HEAD.encode() + b"1,ok\n2,\xff\xfe\xfd\n3,fine\n"
    drop = _rows(data, get_source("urban_cases").__class__(**{**vars(HOTLINE), "encodings": ("utf-8",)}))
    errors = [r.error for r in drop.records]
    assert errors[0] is None and errors[2] is None and "undecodable" in errors[1]


def test_a_json_document_with_a_bom_is_read():
    data = "\ufeff" + json.dumps({"records": [{"incident_no": "J1"}]})
    drop = _rows(data, get_source("police"), "x.json")
    assert [r.fields.get("incident_no") for r in drop.records] == ["J1"] and drop.records[0].error is None


def test_json_lines_split_on_newlines_only():
    line = json.dumps({"case_no": "C1", "remark": "第一段\u2028第二段"}, ensure_ascii=False)
    drop = _rows((line + "\n").encode(), get_source("urban_cases"), "x.jsonl")
    assert len(drop.records) == 1 and drop.records[0].fields["remark"] == "第一段\u2028第二段"


def test_an_oversized_field_or_deep_nesting_costs_one_record():
    from citybrain.jobs.bronze.readers import FIELD_LIMIT

    drop = _rows(HEAD + f"1,{'长' * (FIELD_LIMIT + 1)}\n2,ok\n")
    assert "over the limit" in drop.records[0].error and drop.records[1].error is None
    deep = "[" * 100_000 + "]" * 100_000
    jsonl = _rows(f'{{"case_no": "C1"}}\n{{"x": {deep}}}\n{{"case_no": "C3"}}\n'.encode(), get_source("urban_cases"), "x.jsonl")
    assert [r.error is None for r in jsonl.records] == [True, False, True]
    assert "nested deeper" in jsonl.records[1].error


def test_an_unclosed_quote_costs_only_its_own_row():
    text = HEAD + '1,路灯不亮\n2,"噪声扰民\n' + "".join(f"{i},占道经营{i}\n" for i in range(3, 10))
    drop = _rows(text)
    assert [r.fields.get("工单编号") for r in drop.records] == [str(i) if i != 2 else None for i in range(1, 10)]
    assert drop.records[1].error == "a quote opened on this row is never closed"
    assert drop.records[1].fields["_raw"] == '2,"噪声扰民'
    # a quoted newline that is closed is still one field
    ok = _rows(HEAD + '1,"第一行\n第二行"\n2,x\n')
    assert [r.fields["诉求内容"] for r in ok.records] == ["第一行\n第二行", "x"]


def test_utf16_and_utf32_files_are_read_as_such():
    text = HEAD + "1,噪声扰民\n2,路灯不亮 2026-09-01 08:00\n"
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        drop = _rows(text.encode(encoding))
        assert [r.fields["诉求内容"] for r in drop.records] == ["噪声扰民", "路灯不亮 2026-09-01 08:00"], encoding
        assert drop.encoding.startswith(encoding[:6]) and drop.records[0].error is None
    # a GBK file is byte-wide, whatever its bytes look like
    assert _rows(text.encode("gbk")).encoding == "gb18030"


POLICE = get_source("police")
DOC = {"export_time": "2026-09-01 23:59:59", "records": [{"incident_no": f"J{i}", "address": '北京路[1]号\\"}'} for i in range(1, 5)]}


def _incidents(text: str):
    drop = _rows(text.encode(), POLICE, "x.json")
    return [(r.fields.get("incident_no"), r.error) for r in drop.records]


def test_a_json_document_with_text_after_it_keeps_its_records_and_the_text():
    got = _incidents(json.dumps(DOC, ensure_ascii=False) + "\n-- exported by 110 --\n")
    assert [n for n, _ in got] == ["J1", "J2", "J3", "J4", None]
    assert [e is None for _, e in got] == [True] * 4 + [False] and "text after the end" in got[4][1]


def test_a_json_document_cut_short_keeps_its_complete_records():
    text = json.dumps(DOC, ensure_ascii=False)
    cut = text[: text.index('"J3"') + 2]  # inside the third record
    got = _incidents(cut)
    assert [n for n, _ in got] == ["J1", "J2", None] and "ends inside a record" in got[2][1]
    # cut between records
    got = _incidents(text[: text.index('{"incident_no": "J3"')])
    assert [n for n, _ in got] == ["J1", "J2", None] and "ends inside the list" in got[2][1]


def test_one_record_too_deep_or_broken_in_a_json_document_costs_that_record():
    text = json.dumps(DOC, ensure_ascii=False)
    deep = text.replace('"incident_no": "J2"', '"incident_no": "J2", "x": ' + "[" * 50_000 + "]" * 50_000)
    assert [(n, e is None) for n, e in _incidents(deep)] == [("J1", True), (None, False), ("J3", True), ("J4", True)]
    broken = text.replace('"incident_no": "J3"', '"incident_no": "J3", "x": tru')
    got = _incidents(broken)
    assert [(n, e is None) for n, e in got] == [("J1", True), ("J2", True), (None, False), ("J4", True)]
    assert got[2][1].startswith("record is not usable JSON")
