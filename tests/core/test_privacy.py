"""Tokens are real HMAC-SHA256, masks and scrubbing leave no clear personal data."""

import hashlib
import hmac
from pathlib import Path

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


CORPUS = Path(__file__).with_name("pii_corpus.tsv")


def _corpus() -> list[tuple[str, str]]:
    lines = [line for line in CORPUS.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return [tuple(line.split("\t")) for line in lines]


def test_scrub_text_on_the_tricky_corpus(spark):
    cases = _corpus()
    assert len(cases) >= 25 and all(len(case) == 2 for case in cases)
    df = spark.createDataFrame([(text,) for text, _ in cases], "t string")
    got = [r[0] for r in df.select(privacy.scrub_text("t")).collect()]
    wrong = [(text, want, have) for (text, want), have in zip(cases, got, strict=True) if want != have]
    assert wrong == []
    assert all(privacy.find_clear_pii(text) == [] for text in got)


def test_cluster_profile_needs_a_key(settings):
    with pytest.raises(privacy.PrivacyKeyMissing):
        privacy.pii_key(settings.with_(profile="cluster", pii_key=""))
    assert privacy.pii_key(settings.with_(pii_key="s3cret")) == "s3cret"


def test_without_a_key_each_installation_generates_its_own(tmp_path):
    first = Settings.from_env().with_(pii_key="", profile="local", state_dir=tmp_path / "a")
    second = first.with_(state_dir=tmp_path / "b")
    key, created = privacy.ensure_generated_key(first)
    assert created and len(key) == 64 and int(key, 16) >= 0
    assert privacy.pii_key(first) == key  # kept, not regenerated
    assert privacy.ensure_generated_key(first) == (key, False)
    assert privacy.pii_key(second) != key
    assert privacy.key_file(first).stat().st_mode & 0o777 == 0o600
    assert str(first.lake_root) not in str(privacy.key_file(first))  # outside the lake


def test_a_key_file_others_can_read_is_refused(tmp_path):
    settings = Settings.from_env().with_(pii_key="", profile="local", state_dir=tmp_path)
    privacy.pii_key(settings)
    privacy.key_file(settings).chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        privacy.pii_key(settings)


def _brute_force(masked_and_tokens: list[tuple[str, str]], key: str) -> dict[str, str]:
    """What an attacker does: try the 10,000 numbers each mask leaves against the token."""
    found = {}
    for masked, token in masked_and_tokens:
        head, tail = masked[:3], masked[-4:]
        for middle in range(10_000):
            candidate = f"{head}{middle:04d}{tail}"
            if hmac.new(key.encode(), candidate.encode(), hashlib.sha256).hexdigest() == token:
                found[masked] = candidate
                break
    return found


def test_masked_phones_cannot_be_brute_forced_with_the_shipped_defaults(spark, tmp_path):
    settings = Settings.from_env().with_(pii_key="", profile="local", state_dir=tmp_path)
    phones = [f"1{3 + i % 7}{i:04d}{(i * 7919) % 10_000:05d}" for i in range(20)]
    key = privacy.pii_key(settings)
    df = spark.createDataFrame([(p,) for p in phones], "phone string")
    rows = [tuple(r) for r in df.select(privacy.mask_phone("phone"), privacy.token("phone", key)).collect()]
    # every key an attacker can know without this installation's secret: none recovers a number
    knowable = ["", "citybrain", "citybrain-development-key-not-secret", "secret", "changeme"]
    assert all(_brute_force(rows, guess) == {} for guess in knowable)
    # with the key, the same search recovers every number: the key is what protects them
    assert sorted(_brute_force(rows, key).values()) == sorted(phones)
