"""Fuzzed typing: every field kind, on the real engine, against a reference written here in Python.

Each example is a batch of raw texts typed in one Spark query, so that hypothesis can try
many values without a round trip for each. A value the kind can read must come out exactly
right; a value it cannot read must come out null (a row rule then quarantines its record),
never as a wrong value.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from citybrain.jobs.silver.mapping import BLANKS, field_column
from citybrain.schemas.mapping import FALSE_WORDS, TRUE_WORDS, parse_mapping

FORMATS = ["yyyy-MM-dd HH:mm:ss", "yyyy/M/d H:mm", "yyyy/M/d H:mm:ss", "yyyyMMddHHmmss"]
MAPPING = parse_mapping(
    {
        "entity": "complaint",
        "key": ["id"],
        "version": "at",
        "timezone": "Asia/Shanghai",
        "timestamp_formats": FORMATS,
        "fields": {
            "id": "id:v",
            "at": "timestamp:v",
            "d": "double:v",
            "i": "int:v",
            "b": "bool:v",
            "c": "code:v",
            "tok": "token:v",
            "phone": "mask_phone:v",
            "name": "mask_name:v",
            "text": "scrub:v",
        },
        "codes": {"c": {"满意": "satisfied", "不满意": "dissatisfied", "基本满意": "fairly_satisfied"}},
    },
    "fuzz",
)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# any text a department might send (no NUL, no lone surrogates: Spark strings cannot carry them)
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
# what typing trims around every value (jobs/silver/mapping.py BLANKS)
PADDING = st.text(st.sampled_from(" \t\n\r\u3000"), max_size=2)


def _typed(spark, values: list[str | None], *kinds: str) -> list:
    df = spark.createDataFrame([(v,) for v in values], "v string")
    fields = [f for f in MAPPING.fields if f.name in kinds]
    return df.select(*(field_column(f, MAPPING, "fuzz").alias(f.name) for f in fields)).collect()


def _strip(text: str) -> str:
    """A number's text: the blanks typing trims, then the ASCII control characters a cast ignores."""
    return text.strip(BLANKS).strip("".join(chr(c) for c in range(33)))


INT = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def reference_int(raw: str | None) -> int | None:
    if raw is None or not INT.fullmatch(_strip(raw)):
        return None
    value = int(_strip(raw))
    return value if -(2**31) <= value < 2**31 else None


def reference_double(raw: str | None) -> float | None:
    return float(_strip(raw)) if raw is not None and DECIMAL.fullmatch(_strip(raw)) else None


numbers = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.builds(lambda a, e: f"{a}e{e}", st.integers(-999, 999), st.integers(-20, 20)),
)


@FUZZ
@given(st.lists(st.one_of(st.builds(lambda p, n, q: p + n + q, PADDING, numbers, PADDING), ANY_TEXT, st.none()), max_size=30))
@example(["0\x1f", "\x01 12\x1e", "7\x0b", "\x1f-3.5e2"])  # controls around a number: Sail's cast keeps them, Spark's trims them
def test_numbers_are_read_exactly_or_not_at_all(spark, values):
    for raw, row in zip(values, _typed(spark, values, "d", "i"), strict=True):
        assert row.i == reference_int(raw), raw
        expected = reference_double(raw)
        if expected is None:
            # words for infinity and not-a-number are the only non-decimal texts a double may take
            assert row.d is None or _strip(raw).lower().lstrip("+-") in ("nan", "inf", "infinity"), raw
        else:
            assert row.d == expected, raw


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31, 23, 59, 59))


def _format(moment: datetime, fmt: str) -> str:
    return {
        "yyyy-MM-dd HH:mm:ss": f"{moment:%Y-%m-%d %H:%M:%S}",
        "yyyy/M/d H:mm": f"{moment.year}/{moment.month}/{moment.day} {moment.hour}:{moment:%M}",
        "yyyy/M/d H:mm:ss": f"{moment.year}/{moment.month}/{moment.day} {moment.hour}:{moment:%M:%S}",
        "yyyyMMddHHmmss": f"{moment:%Y%m%d%H%M%S}",
    }[fmt]


@FUZZ
@given(st.lists(st.tuples(instants, st.sampled_from(FORMATS), PADDING), min_size=1, max_size=30))
def test_a_local_time_in_any_declared_format_becomes_the_right_instant(spark, stamps):
    values = [pad + _format(moment, fmt) for moment, fmt, pad in stamps]
    for (moment, fmt, _), row in zip(stamps, _typed(spark, values, "at"), strict=True):
        local = moment.replace(microsecond=0, second=0 if fmt == "yyyy/M/d H:mm" else moment.second)
        assert row.at == local - timedelta(hours=8), (fmt, moment)  # Shanghai: UTC+8, no summer time since 1991


def test_impossible_dates_are_not_rolled_into_real_ones(spark):
    values = [
        "2026-02-30 10:00:00",
        "2026-13-01 10:00:00",
        "2026-09-01 24:00:00",
        "2026-09-01 10:61:00",
        "20260931120000",
        "2026/2/29 8:00",
    ]
    assert [r.at for r in _typed(spark, values, "at")] == [None] * len(values)
    assert _typed(spark, ["2028/2/29 8:00"], "at")[0].at == datetime(2028, 2, 29, 0, 0)  # a real leap day


@FUZZ
@given(st.lists(st.one_of(st.text(max_size=12), st.sampled_from(TRUE_WORDS + FALSE_WORDS + ("TRUE", " Yes ", "是 ", "N"))), max_size=30))
def test_flags_are_true_false_or_unknown_never_guessed(spark, values):
    for raw, row in zip(values, _typed(spark, values, "b"), strict=True):
        word = raw.strip(BLANKS).lower()
        assert row.b == (True if word in TRUE_WORDS else False if word in FALSE_WORDS else None), raw


@FUZZ
@given(st.lists(st.one_of(ANY_TEXT, st.sampled_from(["满意", " 不满意 ", "基本满意", "满意 ", "很满意"])), max_size=30))
def test_identifiers_and_codes_are_trimmed_text_and_known_words_only(spark, values):
    codes = MAPPING.codes["c"]
    for raw, row in zip(values, _typed(spark, values, "id", "c"), strict=True):
        stripped = raw.strip(BLANKS)
        assert row.id == (stripped or None), raw
        assert row.c == codes.get(stripped), raw


phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
names = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=4)


@FUZZ
@given(st.lists(phones, min_size=2, max_size=20, unique=True), names)
def test_personal_fields_never_come_out_clear(spark, numbers_, name):
    rows = _typed(spark, numbers_, "tok", "phone", "text")
    tokens = [r.tok for r in rows]
    assert len(set(tokens)) == len(numbers_)  # one token per person, no collisions
    assert [r.tok for r in _typed(spark, numbers_, "tok")] == tokens  # and the same one every time
    for number, row in zip(numbers_, rows, strict=True):
        assert number not in row.tok and row.phone == number[:3] + "****" + number[-4:]
        assert number not in row.text
    masked = _typed(spark, [name], "name")[0].name
    assert masked == name[0] + "*" * (len(name) - 1)


@FUZZ
@given(st.lists(st.tuples(ANY_TEXT, phones, ANY_TEXT), min_size=1, max_size=20))
def test_a_phone_number_inside_any_text_is_scrubbed(spark, pieces):
    values = [f"{before} {number} {after}" for before, number, after in pieces]
    for (_, number, _), row in zip(pieces, _typed(spark, values, "text"), strict=True):
        assert number not in row.text


@FUZZ
@given(st.lists(st.builds(lambda p, t, q: p + t + q, PADDING, ANY_TEXT, PADDING), max_size=30))
def test_row_rules_see_the_same_blank_as_typing(spark, values):
    from pyspark.sql import functions as F

    from citybrain.jobs.silver.mapping import text_sql

    df = spark.createDataFrame([(v,) for v in values], "v string")
    rows = df.select(F.expr(text_sql("v")).alias("sql"), field_column(MAPPING.field("id"), MAPPING, "fuzz").alias("typed")).collect()
    assert [r.sql for r in rows] == [r.typed for r in rows]
