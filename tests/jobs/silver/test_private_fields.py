"""Labels, identifiers and quarantined records keep no personal data in clear (hotline mapping)."""

from __future__ import annotations

import json

from pyspark.sql import functions as F

from citybrain import privacy
from citybrain.jobs.silver import refine
from citybrain.schemas import get_contract
from citybrain.schemas.sources import get_source

KEY = "test-key"


def _bronze(spark, **values):
    contract = get_contract("bronze.hotline")
    row = {c: values.get(c) for c in contract.column_names}
    return spark.createDataFrame([row], contract.ddl().replace(" NOT NULL", ""))


def test_a_phone_cannot_hide_in_a_label(spark):
    bronze = _bronze(spark, ticket_no="12345-20260901-000001", channel="13700001111 王小明 a@b.cn", handling_unit="东湖区 138-1234-5678")
    row = refine.typed(bronze, get_source("hotline"), KEY).first()
    assert row.channel == "[phone] 王小明 [email]"
    assert row.handling_unit == "东湖区 [phone]"
    assert row.ticket_no == "12345-20260901-000001"  # an identifier is kept exactly


def test_an_identifier_that_is_not_one_breaks_its_rule(spark):
    rule = next(r for r in refine.row_rules(get_source("hotline")) if r.name == "ticket_no_is_identifier")
    values = ["12345-20260901-000001", "J2026083100001", None, "工单12345", "13800001111 张三", "x" * 65, "A" * 64, " lead"]
    df = spark.createDataFrame([(v,) for v in values], "ticket_no string")
    valid = [r[0] for r in df.select(F.expr(rule.valid_when)).collect()]
    assert valid == [True, True, True, False, False, False, True, False]


def test_a_quarantined_record_keeps_personal_data_masked_tokenised_and_scrubbed(spark):
    bronze = _bronze(
        spark,
        ticket_no="12345-20260901-000002",
        caller_name="王小明",
        caller_phone="13812345678",
        caller_id_no="320102199001011234",
        content="我叫王小明，电话138 1234 5678",
        address="光明路1号 联系人：王小明。",
        _extra=json.dumps({"备用电话": "13987654321"}, ensure_ascii=False),
        _batch_id="b1",
    )
    record = json.loads(refine.typed(bronze, get_source("hotline"), KEY).first()._record)
    assert record["caller_name"] == "王**" and record["caller_phone"] == "138****5678"
    token = spark.range(1).select(privacy.token(F.lit("320102199001011234"), KEY)).first()[0]
    assert record["caller_id_no"] == f"token:{token}"  # the same token silver's caller_id_token holds
    assert record["content"] == "我叫[name]，电话[phone]"
    assert record["address"] == "光明路1号 联系人：[name]。"
    assert "13987654321" not in record["_extra"] and record["ticket_no"] == "12345-20260901-000002"
    assert privacy.find_clear_pii(json.dumps(record, ensure_ascii=False)) == []
    assert "王小明" not in json.dumps(record, ensure_ascii=False)


def test_quarantine_contracts_tag_the_record_as_personal_data():
    assert get_contract("quarantine.complaint").column("record").pii == "record"
