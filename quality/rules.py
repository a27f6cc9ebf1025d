"""Quality rules as data: row rules that quarantine records, table rules that stop a batch.

A ``RowRule`` is a Spark SQL boolean that is TRUE for a good row; a row for which it is
FALSE or NULL goes to ``quarantine.<entity>`` with the rule's name, its reason and the
measured value. A ``TableRule`` is a check on the whole batch (volume, key uniqueness,
null share, schema drift); it compiles to great-expectations 1.x expectations, so table
checks, contract-derived checks and hand-written expectations run as one suite and land
in the same ops.quality_results rows.

Nothing here imports great-expectations at module level (it takes seconds to import):
expectations are built inside the functions that return them.
"""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from citybrain.schemas.contract import Contract

#: Spark type class names GX reports for each contract type (ExpectColumnValuesToBeOfType).
SPARK_TYPE_NAMES = {
    "string": "StringType",
    "boolean": "BooleanType",
    "int": "IntegerType",
    "bigint": "LongType",
    "double": "DoubleType",
    "date": "DateType",
    "timestamp": "TimestampType",
}

VOLUME_RULE = "volume_within_band"


@dataclass(frozen=True)
class RowRule:
    """A check on each row.

    name        short snake_case name, stored with every quarantined record
    valid_when  Spark SQL boolean, TRUE for a good row; NULL counts as a failure unless
                the expression handles it (``x IS NULL OR x > 0``)
    reason      what is wrong with a row that fails, as a sentence
    measured    Spark SQL expression giving the offending value as text
    """

    name: str
    valid_when: str
    reason: str
    measured: str


@dataclass(frozen=True)
class ColumnChecks:
    """Allowed values and range of one column, for contracts that need more than types.

    Kept beside the contract (schemas/contract.py has no place for them); a silver job
    passes ``{column: ColumnChecks(...)}`` to ``rules_from_contract``. Bounds are
    inclusive; a NULL passes when the contract says the column is nullable.
    """

    allowed: tuple | frozenset | None = None
    min: Any = None
    max: Any = None
    reason: str = ""


@dataclass(frozen=True)
class RuleContext:
    """What a table rule may look at when it turns into expectations."""

    table: str
    batch_id: str
    columns: tuple[str, ...]
    contract: Contract | None = None
    spark: Any = None
    settings: Any = None


@dataclass(frozen=True)
class TableRule:
    """A check on the whole (valid part of a) batch; build one with the functions below."""

    kind: str
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def expectations(self, ctx: RuleContext) -> list:
        """The GX expectations that evaluate this rule; their meta carries rule and threshold."""
        build = _TABLE_RULE_BUILDERS[self.kind]
        return build(self, ctx)


def volume_within_band(min_ratio: float, max_ratio: float, *, window: int = 7, name: str = VOLUME_RULE) -> TableRule:
    """Accepted rows within [min_ratio, max_ratio] x the trailing average of earlier batches.

    The history is the accepted-row counts this rule stored in ``ops.quality_results``
    for the last ``window`` earlier batches of the table that passed it. With no history
    the check passes and records the count, which starts the history.
    """
    if not 0 <= min_ratio <= max_ratio:
        raise ValueError(f"volume band needs 0 <= min_ratio <= max_ratio, got {min_ratio}, {max_ratio}")
    return TableRule("volume_within_band", name, {"min_ratio": min_ratio, "max_ratio": max_ratio, "window": window})


def unique_key(columns: Sequence[str], *, name: str = "key_unique") -> TableRule:
    if not columns:
        raise ValueError("unique_key needs at least one column")
    return TableRule("unique_key", name, {"columns": tuple(columns)})


def max_null_share(column: str, share: float, *, name: str | None = None) -> TableRule:
    if not 0 <= share <= 1:
        raise ValueError(f"null share must be within 0 and 1, got {share}")
    return TableRule("max_null_share", name or f"{column}_null_share", {"column": column, "share": share})


def columns_match_contract(*, name: str = "columns_match_contract") -> TableRule:
    """Schema drift: the batch has exactly the contract's columns, each of the contract's type."""
    return TableRule("columns_match_contract", name)


def rules_from_contract(contract: Contract, checks: Mapping[str, ColumnChecks] | None = None) -> tuple[list[RowRule], list]:
    """Row rules and GX expectations a contract implies.

    Row rules (failing records are quarantined): every non-nullable column is present;
    every ``ColumnChecks`` column holds an allowed value and lies within its range.
    Expectations (checked on the accepted rows; a failure stops the batch): the same
    not-null, set and range checks, the key unique within the batch.
    """
    gx = _gx()
    checks = dict(checks or {})
    unknown = sorted(set(checks) - set(contract.column_names))
    if unknown:
        raise ValueError(f"column checks name columns {contract.name} does not have: {', '.join(unknown)}")
    row_rules: list[RowRule] = []
    expectations: list = []
    for column in contract.columns:
        q = _quote(column.name)
        if not column.nullable:
            rule = f"{column.name}_not_null"
            row_rules.append(RowRule(rule, f"{q} IS NOT NULL", f"{column.name} is missing", "'NULL'"))
            expectations.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=column.name, meta=_meta(rule, "no nulls")))
        check = checks.get(column.name)
        if check is None:
            continue
        null_ok = f"{q} IS NULL OR " if column.nullable else ""
        if check.allowed is not None:
            allowed = sorted(check.allowed, key=str)
            rule = f"{column.name}_allowed_values"
            shown = ", ".join(map(str, allowed))
            row_rules.append(
                RowRule(
                    rule,
                    f"{null_ok}{q} IN ({', '.join(sql_literal(v) for v in allowed)})",
                    check.reason or f"{column.name} is not one of the allowed values ({shown})",
                    f"cast({q} as string)",
                )
            )
            expectations.append(
                gx.expectations.ExpectColumnValuesToBeInSet(column=column.name, value_set=allowed, meta=_meta(rule, f"in {{{shown}}}"))
            )
        if check.min is not None or check.max is not None:
            rule = f"{column.name}_in_range"
            bounds = []
            if check.min is not None:
                bounds.append(f"{q} >= {sql_literal(check.min)}")
            if check.max is not None:
                bounds.append(f"{q} <= {sql_literal(check.max)}")
            shown = _range_text(check.min, check.max)
            row_rules.append(
                RowRule(
                    rule,
                    f"{null_ok}({' AND '.join(bounds)})",
                    check.reason or f"{column.name} is outside {shown}",
                    f"cast({q} as string)",
                )
            )
            expectations.append(
                gx.expectations.ExpectColumnValuesToBeBetween(
                    column=column.name, min_value=check.min, max_value=check.max, meta=_meta(rule, shown)
                )
            )
    if contract.keys:
        expectations.extend(unique_key(contract.keys).expectations(RuleContext(contract.name, "", tuple(contract.column_names))))
    return row_rules, expectations


def sql_literal(value: Any) -> str:
    """A Spark SQL literal for a Python value (strings quoted, dates typed)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _quote(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _range_text(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return f">= {low}" if low is not None else f"<= {high}"


def _meta(rule: str, threshold: str, **more: Any) -> dict:
    return {"rule": rule, "threshold": threshold, **more}


def _gx():
    """great_expectations, imported on first use and kept quiet."""
    import logging

    first = "great_expectations" not in sys.modules
    if first:
        # Importing it leaves some 300k objects (its pydantic models), and the interpreter's
        # last garbage collection at exit spends 1.3-1.9 s on them, in every fresh process (each
        # Airflow task): frozen at exit, they are left to the OS like the rest of the memory.
        atexit.register(gc.freeze)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    if first:
        # The same objects made every full collection while the process works cost about 0.2 s
        # (one every second small refine, measured in one process). Frozen now, with the rest
        # imported so far, the collector no longer walks them: a full pass takes about 5 ms.
        # What is garbage at this moment is left too, once; later garbage is collected as ever.
        gc.freeze()
    return gx


# --- table rules -> expectations -------------------------------------------------------


def _unique_key_expectations(rule: TableRule, ctx: RuleContext) -> list:
    gx = _gx()
    columns = list(rule.params["columns"])
    meta = _meta(rule.name, f"no duplicated ({', '.join(columns)}) in the batch")
    if len(columns) == 1:
        return [gx.expectations.ExpectColumnValuesToBeUnique(column=columns[0], meta=meta)]
    return [gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=columns, meta=meta)]


def _max_null_share_expectations(rule: TableRule, ctx: RuleContext) -> list:
    gx = _gx()
    share = float(rule.params["share"])
    return [
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=rule.params["column"], mostly=1.0 - share, meta=_meta(rule.name, f"null share <= {share:.2%}")
        )
    ]


def _columns_match_contract_expectations(rule: TableRule, ctx: RuleContext) -> list:
    gx = _gx()
    if ctx.contract is None:
        raise ValueError(f"{rule.name}: table {ctx.table} has no contract to compare its columns with")
    expected = ctx.contract.column_names
    found = [
        gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=expected, exact_match=True, meta=_meta(rule.name, f"columns {', '.join(expected)}")
        )
    ]
    for column in ctx.contract.columns:
        if column.name in ctx.columns:  # a missing column is reported by the set check above
            type_name = SPARK_TYPE_NAMES[column.type]
            found.append(
                gx.expectations.ExpectColumnValuesToBeOfType(
                    column=column.name, type_=type_name, meta=_meta(f"{column.name}_type", f"{column.type} ({type_name})")
                )
            )
    return found


def _volume_expectations(rule: TableRule, ctx: RuleContext) -> list:
    gx = _gx()
    history = accepted_history(ctx.spark, ctx.settings, ctx.table, rule.name, ctx.batch_id, rule.params["window"])
    meta = _meta(rule.name, "", volume=True)
    if not history:
        meta["threshold"] = "any count (no earlier batches: this one starts the history)"
        return [gx.expectations.ExpectTableRowCountToBeBetween(min_value=0, meta=meta)]
    average = sum(history) / len(history)
    low = int(average * rule.params["min_ratio"])
    high = int(average * rule.params["max_ratio"] + 0.999999)
    meta["threshold"] = (
        f"between {low} and {high} rows ({rule.params['min_ratio']:g}-{rule.params['max_ratio']:g} x trailing "
        f"average {average:,.0f} of {len(history)} earlier batch{'es' if len(history) != 1 else ''})"
    )
    return [gx.expectations.ExpectTableRowCountToBeBetween(min_value=low, max_value=high, meta=meta)]


def accepted_history(spark, settings, table: str, rule: str, batch_id: str, window: int) -> list[int]:
    """Accepted-row counts of the last ``window`` earlier batches that passed the volume rule."""
    from citybrain import lake

    if spark is None or settings is None or not lake.exists(settings, "ops.quality_results"):
        return []
    from pyspark.sql import functions as F

    rows = (
        lake.read(spark, settings, "ops.quality_results")
        .where(
            (F.col("table_name") == table)
            & (F.col("rule") == rule)
            & F.col("success")
            & (F.col("batch_id") != batch_id)
            & F.col("element_count").isNotNull()
        )
        # a batch checked twice (a retried task) counts once, with its latest result
        .groupBy("batch_id")
        .agg(F.max_by("element_count", "checked_at").alias("accepted"), F.max("checked_at").alias("at"))
        .orderBy(F.col("at").desc())
        .limit(window)
        .collect()
    )
    return [int(r["accepted"]) for r in rows]


_TABLE_RULE_BUILDERS = {
    "volume_within_band": _volume_expectations,
    "unique_key": _unique_key_expectations,
    "max_null_share": _max_null_share_expectations,
    "columns_match_contract": _columns_match_contract_expectations,
}
