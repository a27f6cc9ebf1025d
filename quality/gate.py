"""The quality gate between bronze and silver: quarantine bad rows, check the batch, store the results.

``gate`` does the whole thing for one batch of one table:

1. ``split_rows``: each row is checked against the row rules in order; a row that breaks
   one goes to quarantine once, with the first rule it broke, the reason and the
   measured value; the others pass unchanged. One aggregate query counts the failures
   per rule (``count_row_failures``).
2. ``validate``: the accepted rows are validated by a great-expectations 1.x suite (an
   ephemeral context, the Spark datasource, the DataFrame as the ``dataframe`` batch
   parameter): expectations derived from the contract, the table rules' expectations and
   hand-written ones. Each expectation result becomes a ``CheckResult`` with the measured
   value beside the threshold.
3. ``store_results``: every result, passed or failed, is appended to ``ops.quality_results``.
4. If a table-level check failed, ``QualityGateFailed`` is raised (after storing), naming
   table, rule, measured value and threshold of each failure.

Writing the accepted and quarantined rows is the caller's job (silver jobs merge them).
great-expectations is imported on first use only: importing it takes seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from citybrain.quality.rules import RowRule, RuleContext, TableRule, _gx, columns_match_contract, rules_from_contract
from citybrain.schemas.contract import Contract
from citybrain.schemas.quarantine import QUARANTINE_COLUMNS
from citybrain.settings import Settings

log = logging.getLogger(__name__)

RESULTS_TABLE = "ops.quality_results"
#: Lineage columns a batch may carry for quarantine; not part of the silver contract.
LINEAGE_COLUMNS = ("_source_file", "_source_row")
_FIRST_FAILED = "__qg_first_failed"
_SAMPLE = 5
#: What GX computes per expectation: counts and a sample of unexpected values (``_SAMPLE`` are
#: kept). Not GX's default SUMMARY, which adds value counts that nothing here reads (what a small
#: refine costs as a whole: infra/bench_new_day.py, BENCHMARKS.md).
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": _SAMPLE}


@dataclass(frozen=True)
class CheckResult:
    """One check on one batch: what was measured against what was allowed.

    level  ``row``: rows that broke the rule were quarantined (the batch goes on);
           ``table``: a failure stops the batch.
    """

    table: str
    batch_id: str
    rule: str
    level: str
    success: bool
    measured_value: str
    threshold: str
    unexpected_count: int | None = None
    element_count: int | None = None
    details: str = ""

    def describe(self) -> str:
        verdict = "passed" if self.success else "FAILED"
        return f"{self.table} [{self.batch_id}] {self.rule} {verdict}: measured {self.measured_value}; threshold {self.threshold}"


class QualityGateFailed(Exception):
    """A table-level check failed; the batch must not be published."""

    def __init__(self, table: str, batch_id: str, failures: Sequence[CheckResult]) -> None:
        self.table = table
        self.batch_id = batch_id
        self.failures = list(failures)
        checks = [
            f"{f.rule}: measured {f.measured_value}; threshold {f.threshold}" + (f" ({f.details})" if f.details else "") for f in failures
        ]
        # one line: the command line prints it as its error, and a log line stays one line
        super().__init__(f"quality gate stopped batch {batch_id} of {table} (nothing published): " + " | ".join(checks))


@dataclass
class GateOutcome:
    valid_df: Any
    quarantine_df: Any
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]


# --- row rules ----------------------------------------------------------------------------


def _first_failed_expr(rules: Sequence[RowRule]) -> str:
    whens = " ".join(f"WHEN NOT coalesce(({r.valid_when}), false) THEN {i}" for i, r in enumerate(rules))
    return f"CASE {whens} END"


def _case_on_index(rules: Sequence[RowRule], value) -> str:
    whens = " ".join(f"WHEN {i} THEN {value(r)}" for i, r in enumerate(rules))
    return f"CASE `{_FIRST_FAILED}` {whens} END"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def flag_rows(df, rules: Sequence[RowRule], *, unflagged: bool = False):
    """``df`` with the index of the first rule each row breaks (null: it breaks none).

    ``split_rows`` and ``count_row_failures`` read that column when the frame already has
    it, so a caller that stores the flagged frame once evaluates the rules once. Finding out
    asks the server for the frame's columns: ``unflagged`` says it has none (a refine's typed
    rows, whose plan takes 10-15 ms to analyse).
    """
    from pyspark.sql import functions as F

    if not unflagged and _FIRST_FAILED in df.columns:
        return df
    return df.withColumn(_FIRST_FAILED, F.expr(_first_failed_expr(rules)) if rules else F.lit(None).cast("int"))


def first_failed():
    """The column ``flag_rows`` adds: true for a row that breaks a rule."""
    from pyspark.sql import functions as F

    return F.col(_FIRST_FAILED).isNotNull()


def split_rows(df, rules: Sequence[RowRule], *, batch_id: str, now: dt.datetime, batch_date: dt.date | None = None):
    """(valid_df, quarantine_df): rows that pass every rule, and the others with the first rule broken.

    Lazy DataFrame code only. ``valid_df`` has the input's columns unchanged (less ``flag_rows``' column);
    ``quarantine_df`` has exactly the quarantine contract's columns: the input row as JSON,
    rule, reason, measured value, lineage (``_source_file``/``_source_row`` when the input
    has them), the batch, ``now`` and ``dt`` (the input's ``dt``, else ``batch_date``,
    else the date of ``now``).
    """
    from pyspark.sql import functions as F

    columns = [c for c in df.columns if c != _FIRST_FAILED]
    quarantine_columns = [c.name for c in QUARANTINE_COLUMNS]
    if not rules:
        empty = df.limit(0).select(
            F.lit(None).cast("string").alias("record"),
            *[F.lit(None).cast(c.type).alias(c.name) for c in QUARANTINE_COLUMNS if c.name != "record"],
        )
        return df.select(*[F.col(f"`{c}`") for c in columns]), empty.select(*quarantine_columns)
    flagged = flag_rows(df, rules)
    valid = flagged.where(F.col(_FIRST_FAILED).isNull()).select(*[F.col(f"`{c}`") for c in columns])
    day = F.col("dt").cast("date") if "dt" in columns else F.lit(batch_date or now.date()).cast("date")
    quarantine = flagged.where(F.col(_FIRST_FAILED).isNotNull()).select(
        # A frame that carries the original record (``_record``, JSON) quarantines that;
        # otherwise the row as it is.
        (F.col("_record") if "_record" in columns else F.to_json(F.struct(*[F.col(f"`{c}`") for c in columns]))).alias("record"),
        F.expr(_case_on_index(rules, lambda r: _sql_string(r.name))).alias("rule"),
        F.expr(_case_on_index(rules, lambda r: _sql_string(r.reason))).alias("reason"),
        F.expr(_case_on_index(rules, lambda r: f"cast(({r.measured}) as string)")).alias("measured_value"),
        (F.col("_source_file").cast("string") if "_source_file" in columns else F.lit(None).cast("string")).alias("source_file"),
        (F.col("_source_row").cast("bigint") if "_source_row" in columns else F.lit(None).cast("bigint")).alias("source_row"),
        F.lit(batch_id).alias("batch_id"),
        F.lit(now).cast("timestamp").alias("quarantined_at"),
        day.alias("dt"),
    )
    return valid, quarantine.select(*quarantine_columns)


def count_row_failures(df, rules: Sequence[RowRule], *, table: str, batch_id: str) -> list[CheckResult]:
    """Per rule: rows that broke it, and rows quarantined under it (it was the first they broke).

    One aggregate query over the input, one small row collected.
    """
    from pyspark.sql import functions as F

    if not rules:
        return []
    flagged = flag_rows(df, rules)
    aggs = [F.count(F.lit(1)).alias("total")]
    for i, r in enumerate(rules):
        aggs.append(F.sum(F.expr(f"CASE WHEN NOT coalesce(({r.valid_when}), false) THEN 1 ELSE 0 END")).alias(f"broke_{i}"))
        aggs.append(F.sum(F.when(F.col(_FIRST_FAILED) == i, 1).otherwise(0)).alias(f"first_{i}"))
    row = flagged.agg(*aggs).collect()[0]
    total = int(row["total"])
    results = []
    for i, r in enumerate(rules):
        broke, first = int(row[f"broke_{i}"] or 0), int(row[f"first_{i}"] or 0)
        results.append(
            CheckResult(
                table=table,
                batch_id=batch_id,
                rule=r.name,
                level="row",
                success=broke == 0,
                measured_value=_rows_text(broke, total),
                threshold="0 rows (rows that break it are quarantined)",
                unexpected_count=broke,
                element_count=total,
                details=f"{r.reason}; {first} row(s) quarantined under this rule (the first they broke)",
            )
        )
    return results


def _rows_text(unexpected: int, total: int) -> str:
    share = unexpected / total if total else 0.0
    return f"{unexpected} of {total} rows ({share:.2%})"


# --- great-expectations suite ---------------------------------------------------------------


@dataclass
class SuiteRun:
    checks: list[CheckResult]
    gx_result: Any  # ExpectationSuiteValidationResult
    suite: Any  # ExpectationSuite
    seconds: float


def _expectation_rule(expectation) -> str:
    meta = expectation.meta or {}
    if meta.get("rule"):
        return meta["rule"]
    return _default_rule_name(expectation.expectation_type, expectation.configuration.kwargs)


def _default_rule_name(expectation_type: str, kwargs: dict) -> str:
    target = kwargs.get("column") or "_".join(kwargs.get("column_list") or ())
    short = expectation_type.removeprefix("expect_")
    return f"{target}:{short}" if target else short


def contract_expectations(contract: Contract, columns: Sequence[str]) -> list:
    """Expectations every table gets from its contract: not-null, key unique, columns and types."""
    _, expectations = rules_from_contract(contract)
    ctx = RuleContext(contract.name, "", tuple(columns), contract)
    return expectations + columns_match_contract().expectations(ctx)


_CONTEXT: dict[str, Any] = {}


def _spark_datasource():
    """The process's one ephemeral GX context and its Spark datasource, made on first use.

    A context, its stores, a datasource and a saved suite cost 20-40 ms per gate, 15-20 % of
    what a small refine's suite took (84 calendar rows: 0.136 -> 0.117-0.131 s; 17k petitions:
    0.23 -> 0.19 s). Nothing is stored in the context: each batch is validated against a
    suite built for it.
    """
    if "datasource" not in _CONTEXT:
        gx = _gx()
        from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig

        context = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                progress_bars=ProgressBarsConfig(globally=False),
                analytics_enabled=False,
            ),
        )
        _CONTEXT["datasource"] = context.data_sources.add_spark(name="spark")
    return _CONTEXT["datasource"]


def _whole_frame_batch_definition(table_name: str):
    """The datasource's asset for ``table_name`` (one per table, reused), as a whole-DataFrame batch."""
    datasource = _spark_datasource()
    try:
        asset = datasource.get_asset(table_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(name=table_name)
    try:
        return asset.get_batch_definition("whole dataframe")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("whole dataframe")


def run_suite(df, contract: Contract | None, *, expectations: Sequence = (), table_name: str, batch_id: str) -> SuiteRun:
    """Validate ``df`` with one GX suite; expectations given here win over contract-derived ones of the same rule."""
    gx = _gx()
    chosen: dict[str, Any] = {}
    derived = contract_expectations(contract, df.columns) if contract is not None else []
    for expectation in [*derived, *expectations]:
        chosen[_expectation_rule(expectation)] = expectation
    # fresh copies: an expectation object belongs to the suite it was added to
    suite = gx.ExpectationSuite(
        name=table_name,
        expectations=[e.configuration.to_domain_obj() for e in chosen.values()],
        meta={"table": table_name, "batch_id": batch_id},
    )
    batch = _whole_frame_batch_definition(table_name).get_batch(batch_parameters={"dataframe": df})
    started = time.perf_counter()
    result = batch.validate(suite, result_format=RESULT_FORMAT)
    seconds = time.perf_counter() - started
    order = {rule: i for i, rule in enumerate(chosen)}
    checks = sorted((_check_from_gx(r, table_name, batch_id) for r in result.results), key=lambda c: order.get(c.rule, len(order)))
    log.info("%s [%s]: %d expectations validated in %.2f s", table_name, batch_id, len(checks), seconds)
    return SuiteRun(checks, result, suite, seconds)


def validate(df, contract: Contract | None, *, expectations: Sequence = (), table_name: str, batch_id: str) -> list[CheckResult]:
    """Run the GX suite (contract-derived + ``expectations``) on ``df``; one CheckResult per expectation."""
    return run_suite(df, contract, expectations=expectations, table_name=table_name, batch_id=batch_id).checks


def _exception_message(info) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = {v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")}
    messages.discard(None)
    return "; ".join(sorted(messages)) or None


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_from_gx(r, table: str, batch_id: str) -> CheckResult:
    config = r.expectation_config
    meta = dict(config.meta or {})
    kwargs = dict(config.kwargs)
    rule = meta.get("rule") or _default_rule_name(config.type, kwargs)
    threshold = meta.get("threshold") or _default_threshold(config.type, kwargs)
    res = dict(r.result or {})
    error = _exception_message(r.exception_info)
    unexpected = res.get("unexpected_count")
    elements = res.get("element_count")
    details = ""
    if error:
        return CheckResult(table, batch_id, rule, "table", False, "not measured (error)", threshold, None, None, _short(error, 500))
    if config.type == "expect_table_columns_to_match_set":
        observed = list(res.get("observed_value") or [])
        expected = list(kwargs.get("column_set") or [])
        missing = [c for c in expected if c not in observed]
        extra = [c for c in observed if c not in expected]
        measured = "; ".join(
            p for p in (f"missing {', '.join(missing)}" if missing else "", f"extra {', '.join(extra)}" if extra else "") if p
        )
        measured = measured or f"the {len(expected)} contract columns"
    elif "observed_value" in res:
        measured = _short(res["observed_value"])
        if config.type == "expect_table_row_count_to_be_between":
            elements = int(res["observed_value"])
    elif unexpected is not None:
        measured = _rows_text(int(unexpected), int(elements or 0))
        sample = res.get("partial_unexpected_list") or []
        if sample:
            details = f"e.g. {_short(sample[:_SAMPLE])}"
    else:
        measured = _short(res) if res else "nothing measured"
    return CheckResult(
        table=table,
        batch_id=batch_id,
        rule=rule,
        level="table",
        success=bool(r.success),
        measured_value=measured,
        threshold=threshold,
        unexpected_count=int(unexpected) if unexpected is not None else None,
        element_count=int(elements) if elements is not None else None,
        details=details,
    )


def _default_threshold(expectation_type: str, kwargs: dict) -> str:
    skip = {"batch_id", "column", "column_list", "result_format", "catch_exceptions", "include_config"}
    shown = {k: v for k, v in kwargs.items() if k not in skip and v is not None}
    return _short(shown) if shown else expectation_type.removeprefix("expect_").replace("_", " ")


# --- storing results ---------------------------------------------------------------------------


def store_results(spark, settings: Settings, results: Sequence[CheckResult], *, checked_at: dt.datetime | None = None) -> None:
    """Append results to ops.quality_results (through the contract, from this client: ``lake.append_rows``)."""
    from citybrain import lake
    from citybrain.schemas import get_contract

    if not results:
        return
    checked_at = checked_at or dt.datetime.now(dt.UTC)
    contract = get_contract(RESULTS_TABLE)
    rows = []
    for r in results:
        row = asdict(r)
        row["table_name"] = row.pop("table")
        row["checked_at"] = checked_at
        rows.append({c: row[c] for c in contract.column_names})
    lake.append_rows(settings, RESULTS_TABLE, rows)


# --- the gate --------------------------------------------------------------------------------------


def gate(
    spark,
    settings: Settings,
    *,
    table: str,
    df,
    batch_id: str,
    row_rules: Sequence[RowRule] = (),
    table_rules: Sequence[TableRule] = (),
    expectations: Sequence = (),
    contract: Contract | None = None,
    now: dt.datetime | None = None,
    earlier_results: Sequence[CheckResult] = (),
) -> GateOutcome:
    """Quarantine bad rows, validate the rest, store every result; raise if a table check failed.

    ``earlier_results``: the batch's results checked before the gate (e.g. the refine's row
    rules and volume check), stored in the same write as the gate's own.

    ``contract`` defaults to the registered contract of ``table`` (none: no contract-derived
    checks). Lineage columns (``_source_file``, ``_source_row``) are left out of the
    validated frame unless the contract has them. Results are read in ops.quality_results
    (Superset's data-quality dashboard and the weekly report read that table).
    """
    from citybrain.schemas import get_contract

    now = now or dt.datetime.now(dt.UTC)
    if contract is None:
        with contextlib.suppress(KeyError):
            contract = get_contract(table)
    valid, quarantine = split_rows(df, row_rules, batch_id=batch_id, now=now)
    results = count_row_failures(df, row_rules, table=table, batch_id=batch_id)
    keep = set(contract.column_names) if contract is not None else set()
    checked = valid.drop(*[c for c in LINEAGE_COLUMNS if c in valid.columns and c not in keep])
    ctx = RuleContext(table, batch_id, tuple(checked.columns), contract, spark, settings)
    rule_expectations = [e for rule in table_rules for e in rule.expectations(ctx)]
    run = run_suite(checked, contract, expectations=[*rule_expectations, *expectations], table_name=table, batch_id=batch_id)
    results += run.checks
    store_results(spark, settings, [*earlier_results, *results], checked_at=now)
    failed = [r for r in results if r.level == "table" and not r.success]
    if failed:
        raise QualityGateFailed(table, batch_id, failed)
    return GateOutcome(valid, quarantine, results)
