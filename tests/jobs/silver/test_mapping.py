"""Mapping field kinds compile to the right Spark columns (small inline frames)."""

import hashlib
import hmac
from datetime import datetime

import pytest

from citybrain.jobs.silver.mapping import field_column
from citybrain.schemas.mapping import parse_mapping

RAW = {
    "entity": "complaint",
    "key": ["id"],
    "version": "at",
    "timezone": "Asia/Shanghai",
    "timestamp_formats": ["yyyy-MM-dd HH:mm:ss", "yyyyMMddHHmmss"],
    "fields": {
        "id": "text:id",
        "at": "timestamp:t1|t2",
        "n": "double:n",
        "k": "int:n",
        "ok": "bool:flag",
        "code": "code:word",
        "src": "const:demo",
        "expr": "sql:upper(word)",
        "tok": "token:phone",
        "masked": "mask_phone:phone",
        "name": "mask_name:who",
        "text": "scrub:note",
    },
    "codes": {"code": {"满意": "satisfied", "不满意": "dissatisfied"}},
}
ROWS = [
    (" A1 ", "2026-09-01 08:00:00", "", "3.5", "是", "满意", "13812341234", "王小明", "call 13912345678"),
    ("", "bad", "20260901090000", "x", "否", "其他", "", "", None),
]
SCHEMA = "id string, t1 string, t2 string, n string, flag string, word string, phone string, who string, note string"


def test_every_kind(spark):
    mapping = parse_mapping(RAW, "test")
    df = spark.createDataFrame(ROWS, SCHEMA)
    out = df.select(*(field_column(f, mapping, "key").alias(f.name) for f in mapping.fields)).collect()
    first, second = out
    assert first.id == "A1" and second.id is None
    assert first.at == datetime(2026, 9, 1, 0, 0)  # 08:00 in China is 00:00 UTC
    assert second.at == datetime(2026, 9, 1, 1, 0)  # first column unreadable: the second one's time
    assert (first.n, first.k, second.n) == (3.5, None, None)
    assert (first.ok, second.ok) == (True, False)
    assert (first.code, second.code) == ("satisfied", None)
    assert (first.src, first.expr) == ("demo", "满意")
    assert first.tok == hmac.new(b"key", b"13812341234", hashlib.sha256).hexdigest() and second.tok is None
    assert (first.masked, first.name) == ("138****1234", "王**")
    assert first.text == "call [phone]" and second.text is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"id": "texty:id"}}, "must be kind:argument"),
        ({"fields": {"id": "code:id"}, "codes": {}}, r"\[silver.codes.id\] is missing"),
        ({"version": "nope"}, "fields it does not define"),
        ({"rules": [{"name": "r"}]}, "lacks"),
        ({"registry": False, "locate": {"lon": "n", "lat": "n"}}, "needs a bbox"),
    ],
)
def test_bad_mappings_are_refused_with_a_reason(change, message):
    raw = {**RAW, **change}
    if "fields" in change:
        raw["key"], raw["version"] = ["id"], "id"
    with pytest.raises(ValueError, match=message):
        parse_mapping(raw, "test")
