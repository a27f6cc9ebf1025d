"""Every planted defect is listed in truth/dirt.json and can be found where it says."""

from __future__ import annotations

import datetime as dt
from functools import cache

import pytest

from citybrain.democity import CITY_BBOX
from citybrain.democity.common import id_check_digit

KINDS = {
    "duplicate_in_file",
    "duplicate_across_files",
    "late_arriving",
    "malformed_timestamp",
    "coordinates_outside_city",
    "coordinates_missing",
    "schema_change",
    "gbk_encoding",
    "pii_in_clear",
}
KEY = {"hotline": "工单编号", "ridehailing": "order_id", "police": "incident_no", "petitions": "信访件编号"}
COORDS = {"hotline": ("经度", "纬度"), "ridehailing": ("pickup_lon", "pickup_lat"), "urban_cases": ("lon", "lat"), "police": ("lon", "lat")}
PII_SOURCES = {"hotline", "ridehailing", "police", "petitions", "urban_cases"}


def _key(source: str, rec: dict) -> str:
    return f"{rec['case_no']}#{rec['event_seq']}" if source == "urban_cases" else str(rec[KEY[source]])


def _checker(drops):
    @cache
    def by_key(source: str, rel: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for rec in drops.records(rel):
            if "fare_amount" in rec:  # compare across the schema change on the common columns
                rec["fare_yuan"] = rec.pop("fare_amount")
                rec.pop("surge_multiplier")
            out.setdefault(_key(source, rec), []).append(rec)
        return out

    def drop_date(rel: str) -> dt.date:
        return dt.datetime.strptime(rel.rsplit("_", 1)[1].split(".")[0], "%Y%m%d").date()

    def check(e: dict) -> None:
        src, rel, key, det = e["source"], e["file"], e["key"], e["detail"]
        assert (drops.root / rel).is_file()
        recs = by_key(src, rel).get(key, []) if key is not None else []
        kind = e["kind"]
        if kind == "duplicate_in_file":
            assert any(recs.count(r) >= 2 for r in recs), e
        elif kind == "duplicate_across_files":
            before = by_key(src, det["previous_file"]).get(key, [])
            assert any(r in before for r in recs), e
        elif kind == "late_arriving":
            lag = [(drop_date(rel) - dt.date.fromisoformat(r[det["column"]][:10])).days for r in recs]
            assert any(2 <= x <= 5 for x in lag), e
        elif kind == "malformed_timestamp":
            assert any(r[det["column"]] == det["value"] for r in recs), e
            with pytest.raises(ValueError):
                dt.datetime.strptime(det["value"], "%Y-%m-%d %H:%M:%S" if src != "petitions" else "%Y-%m-%d")
        elif kind == "coordinates_outside_city":
            cx, cy = COORDS[src]
            lon0, lat0, lon1, lat1 = CITY_BBOX
            assert any(not (lon0 <= float(r[cx]) <= lon1 and lat0 <= float(r[cy]) <= lat1) for r in recs), e
        elif kind == "coordinates_missing":
            assert any(r["经度"] == "" and r["纬度"] == "" and r["社区"] for r in recs), e
        elif kind == "schema_change":
            header = drops.text(rel).splitlines()[0].split(",")
            assert header[-1] == "surge_multiplier" and "fare_amount" in header and "fare_yuan" not in header
            files = drops.files(src)
            prev = drops.text(files[files.index(rel) - 1]).splitlines()[0].split(",")
            assert "fare_yuan" in prev and "surge_multiplier" not in prev
        elif kind == "gbk_encoding":
            raw = (drops.root / rel).read_bytes()
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            assert raw.decode("gbk").startswith("工单编号,受理时间")
        elif kind == "pii_in_clear":
            sample = drops.records(rel)[:50]
            assert sample and all(c in sample[0] for c in det["columns"])
            assert any(all(r[c] for c in det["columns"]) for r in sample)
            if src == "hotline":
                ids = [r["身份证号"] for r in sample if r["身份证号"]]
                assert ids and all(len(i) == 18 and id_check_digit(i[:17]) == i[17] for i in ids)
        else:
            raise AssertionError(f"unknown dirt kind {kind}")

    return check


@pytest.mark.parametrize("which", ["small_drops", "mid_drops"])
def test_every_dirt_kind_is_planted(which, request):
    drops = request.getfixturevalue(which)
    entries = drops.dirt()
    assert {e["kind"] for e in entries} == KINDS
    assert {e["source"] for e in entries if e["kind"] == "pii_in_clear"} == PII_SOURCES
    assert sum(e["kind"] == "gbk_encoding" for e in entries) == 1
    assert sum(e["kind"] == "schema_change" for e in entries) == 1
    for kind in ("late_arriving",):
        assert {e["source"] for e in entries if e["kind"] == kind} == {"ridehailing", "urban_cases"}


@pytest.mark.parametrize("which", ["small_drops", "mid_drops"])
def test_every_listed_dirt_is_findable(which, request):
    drops = request.getfixturevalue(which)
    check = _checker(drops)
    for e in drops.dirt():
        check(e)


def test_schema_change_is_on_day_57_by_default(mid_drops):
    (e,) = [e for e in mid_drops.dirt() if e["kind"] == "schema_change"]
    assert e["file"] == "drops/ridehailing/ridehailing_20261026.csv"
    (g,) = [e for e in mid_drops.dirt() if e["kind"] == "gbk_encoding"]
    assert g["file"] == "drops/hotline/hotline_20260929.csv"


def test_dirt_rates_are_small(mid_drops):
    entries = mid_drops.dirt()
    rows = {s: v["rows"] for s, v in mid_drops.manifest["sources"].items()}
    n = lambda kind, src: sum(e["kind"] == kind and e["source"] == src for e in entries)  # noqa: E731
    assert 0.003 <= n("duplicate_in_file", "ridehailing") / rows["ridehailing"] <= 0.008
    assert 0.007 <= n("late_arriving", "ridehailing") / rows["ridehailing"] <= 0.013
    assert 0.001 <= n("malformed_timestamp", "hotline") / rows["hotline"] <= 0.004
    assert 0.002 <= n("coordinates_outside_city", "police") / rows["police"] <= 0.005
