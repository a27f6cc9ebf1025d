"""Tokens are real HMAC-SHA256, masks and scrubbing leave no clear personal data."""

import hashlib
import hmac

import pytest

from citybrain import privacy
from citybrain.settings import Settings


def test_token_is_hmac_sha256_and_stable_across_tables(spark):
    df = spark.createDataFrame([("13812341234",), (" 13812341234 ",), ("",), (None,)], "phone string")
    tokens = [r[0] for r in df.select(privacy.token("phone", "k3y")).collect()]
    expected = hmac.new(b"k3y", b"13812341234", hashlib.sha256).hexdigest()
    assert tokens == [expected, expected, None, None]
    long_key = "x" * 100  # keys longer than the block are hashed first, as HMAC says
    got = spark.createDataFrame([("a",)], "v string").select(privacy.token("v", long_key)).first()[0]
    assert got == hmac.new(long_key.encode(), b"a", hashlib.sha256).hexdigest()


def test_masks(spark):
    df = spark.createDataFrame([("13812341234", "张三丰"), ("123", "李")], "phone string, name string")
    rows = df.select(privacy.mask_phone("phone"), privacy.mask_name("name")).collect()
    assert [tuple(r) for r in rows] == [("138****1234", "张**"), (None, "李")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请回电13812341234谢谢", "请回电[phone]谢谢"),
        ("身份证320102199001011234，地址", "身份证[id]，地址"),
        ("call 212-555-1234 today", "call [phone] today"),
        ("SSN - 987-65-4320 ", "SSN - [ssn] "),
        ("paid with Amex - 378734493671000", "paid with Amex - [card]"),
        ("email joeblows@aol.com or", "email [email] or"),
        ("case 101004143000 at 2026-09-01 08:00:00", "case 101004143000 at 2026-09-01 08:00:00"),
    ],
)
def test_scrub_text(spark, text, expected):
    got = spark.createDataFrame([(text,)], "t string").select(privacy.scrub_text("t")).first()[0]
    assert got == expected
    assert privacy.find_clear_pii(got) == []


def test_cluster_profile_needs_a_key(settings):
    with pytest.raises(privacy.PrivacyKeyMissing):
        privacy.pii_key(settings.with_(profile="cluster", pii_key=""))
    assert privacy.pii_key(settings.with_(pii_key="s3cret")) == "s3cret"
    assert privacy.pii_key(Settings.from_env().with_(pii_key="")) == privacy.DEVELOPMENT_KEY
