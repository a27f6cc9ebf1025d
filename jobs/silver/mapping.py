"""Compile a source mapping's silver fields (schemas/mapping.py) into Spark columns."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from citybrain import privacy
from citybrain.schemas.mapping import FALSE_WORDS, TRUE_WORDS, FieldSpec, SilverMapping

#: what is trimmed around every raw value: spaces, the ideographic space of Chinese input methods,
#: and every ASCII control character (tabs, line ends, a CR left by a CRLF file, stray \x1f). One
#: rule for every kind, numbers included: engines differ on the controls a cast ignores (Spark's
#: cast trims them all, Sail's none), so typing trims them itself and both engines agree.
BLANKS = " \u3000" + "".join(chr(code) for code in range(1, 32))


def text_sql(column: str) -> str:
    """The same trimmed value as SQL, for row rules written as SQL text."""
    return f"nullif(trim(BOTH '{BLANKS}' FROM `{column}`), '')"


def _text(column: str) -> Column:
    return F.nullif(F.trim(F.col(column), F.lit(BLANKS)), F.lit(""))


def parse_timestamp(column: str, formats: tuple[str, ...], timezone: str) -> Column:
    local = F.coalesce(*(F.try_to_timestamp(_text(column), F.lit(fmt)) for fmt in formats))
    return F.to_utc_timestamp(local, timezone)


def field_column(spec: FieldSpec, mapping: SilverMapping, key: str) -> Column:
    a = spec.argument
    if spec.kind == "id":
        return _text(a)
    if spec.kind == "text":
        return privacy.scrub_text(_text(a))
    if spec.kind == "timestamp":  # a|b: the first of several columns that holds a time
        return F.coalesce(*(parse_timestamp(c, mapping.timestamp_formats, mapping.timezone) for c in a.split("|")))
    if spec.kind in ("double", "int"):
        return _text(a).try_cast("double" if spec.kind == "double" else "int")
    if spec.kind == "bool":
        value = F.lower(_text(a))
        return F.when(value.isin(*TRUE_WORDS), F.lit(True)).when(value.isin(*FALSE_WORDS), F.lit(False))
    if spec.kind == "code":
        table = mapping.codes[spec.name]
        value = _text(a)
        out = F.lit(None).cast("string")
        for raw_value, code in reversed(list(table.items())):
            out = F.when(value == F.lit(raw_value), F.lit(code)).otherwise(out)
        return out
    if spec.kind == "const":
        return F.lit(a)
    if spec.kind == "sql":
        return F.expr(a)
    if spec.kind == "token":
        return privacy.token(a, key)
    if spec.kind == "mask_phone":
        return privacy.mask_phone(a)
    if spec.kind == "mask_name":
        return privacy.mask_name(a)
    return privacy.scrub_text(_text(a))


def raw_present(spec: FieldSpec) -> Column | None:
    """True where the bronze value behind a field is non-empty (None for const/sql fields)."""
    column = spec.bronze_column
    return None if column is None else _text(column).isNotNull()


class MappingValueError(ValueError):
    """A mapping expression failed on a value of the data (one line: source, field, expression, cause)."""


def explain_failure(bronze, source: str, mapping: SilverMapping, key: str, exc: Exception) -> Exception:
    """The field whose expression fails on ``bronze``, as a MappingValueError; ``exc`` itself when none does.

    Called after the typed rows failed to materialise: each field is evaluated alone over
    the same rows, so the message names the one that broke instead of an engine traceback.
    """
    for spec in mapping.fields:
        try:
            bronze.select(F.max(field_column(spec, mapping, key).cast("string"))).collect()
        except Exception as cause:  # noqa: BLE001 - any engine error on a value: name the field
            text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            expression = f"{spec.kind}:{spec.argument}"
            return MappingValueError(f"source {source}: silver field {spec.name} = {expression!r} fails on a value: {text[:300]}")
    return exc
