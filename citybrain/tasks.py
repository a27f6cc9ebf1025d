"""What an Airflow task calls: settings from the environment, a health-checked session, a job.

DAG files only wire these functions; each returns a small JSON-able summary for XCom.
A task never starts an engine: it takes a fresh session on ``CITYBRAIN_SPARK_REMOTE`` or
the running engine and stops it when it ends, so a retry never reuses a dead server's session.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from citybrain import engine
from citybrain.settings import Settings

log = logging.getLogger(__name__)


def check_engine() -> str:
    """Fail fast, with a clear message, when the Spark Connect engine cannot be reached (never starts one)."""
    return _reachable(Settings.from_env())


def _reachable(settings: Settings) -> str:
    """The engine's address; no engine within a few seconds fails the task without retries
    (a retry cannot start one), in one line saying how to start it."""
    try:
        remote = engine.remote_url(settings)
        engine.check_healthy(remote)
    except engine.EngineError as error:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(error)) from None
    return remote


def ingest_source(source: str, day=None) -> dict:
    """Take the source's new drop files into bronze.<source> (with ``day``: those dated that day)."""
    from citybrain.jobs.bronze import ingest

    settings = Settings.from_env()
    _reachable(settings)
    with engine.fresh_session(settings) as spark:
        report = ingest.run(spark, settings, source, progress=log.info, day=day)
    log.info(report.summary())
    return {
        "source": source,
        "day": None if day is None else day.isoformat(),
        "changed": bool(report.files),
        "batch_id": report.batch_id,
        "files_new": len(report.files),
        "files_already_ingested": report.files_already_ingested,
        "records": report.records,
        "parse_errors": report.parse_errors,
        "files": [asdict(f) for f in report.files],
        "summary": report.summary(),
    }


def refine_source(source: str, days=None) -> dict:
    """Refine the source's new bronze batches into its silver entity (audited, quality-gated);
    with ``days``, only the batches holding drops of those days."""
    from citybrain.jobs.silver import refine

    settings = Settings.from_env()
    _reachable(settings)
    with engine.fresh_session(settings) as spark:
        report = refine.refine(spark, settings, source, progress=log.info, days=days)
    log.info(report.summary())
    return {**asdict(report), "changed": bool(report.batches), "summary": report.summary()}


def build_gold(table: str) -> dict:
    """Rebuild gold.<table> from silver (citybrain.jobs.gold.<table>.run)."""
    import importlib

    settings = Settings.from_env()
    _reachable(settings)
    with engine.fresh_session(settings) as spark:
        report = importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings)
    log.info(report.summary())
    return {
        "table": report.table,
        "rows": report.rows,
        "seconds": round(report.seconds, 1),
        "not_computed": report.not_computed,
        "build": report.details.get("build"),
        "why_full": report.details.get("why_full"),
        "summary": report.summary(),
    }


def train_gold_model(table: str) -> dict:
    """Train and store a new model version for gold.<table> (citybrain.jobs.gold.<table>.train)."""
    import importlib

    settings = Settings.from_env()
    _reachable(settings)
    with engine.fresh_session(settings) as spark:
        summary = importlib.import_module(f"citybrain.jobs.gold.{table}").train(spark, settings)
    log.info("trained %s: %s", table, summary)
    return summary


def publish_serving_views() -> dict:
    """Rewrite the serving DuckDB file of views over the lake (what Superset reads); no Spark needed."""
    from citybrain import serving

    report = serving.build_serving_db(Settings.from_env())
    log.info(report.summary())
    return {"path": str(report.path), "views": report.views, "empty_views": list(report.empty_views), "summary": report.summary()}


def publish_weekly_report(week: str | None = None, languages: tuple[str, ...] = ("zh",)) -> dict:
    """Build the weekly report of ``week`` (default: the latest complete ISO week) in each language; list it in gold.report_index."""
    from citybrain.jobs.report import publish

    settings = Settings.from_env()
    _reachable(settings)
    builds = []
    with engine.fresh_session(settings) as spark:
        reports = [publish.run(spark, settings, week=week, lang=lang) for lang in languages]
    for report in reports:
        log.info(report.summary())
        builds.append(
            {
                "build_id": report.build_id,
                "iso_week": report.iso_week,
                "language": report.language,
                "html": str(report.html_path),
                "pdf": None if report.pdf_path is None else str(report.pdf_path),
                "numbers_sha256": report.numbers_sha256,
                "summary": report.summary(),
            }
        )
    return {"reports": builds}


def maintain_lake() -> dict:
    """Compact and vacuum every table (through deltalake: no engine needed)."""
    from citybrain.jobs import maintenance

    results = maintenance.maintain(Settings.from_env(), progress=log.info)
    failed = [r.table for r in results if r.error]
    if failed:
        log.warning("lake maintenance: %d table(s) not maintained (see ops.maintenance): %s", len(failed), ", ".join(failed))
    return {
        "tables": len(results),
        "files_before": sum(r.files_before for r in results),
        "files_after": sum(r.files_after for r in results),
        "files_deleted": sum(r.files_deleted for r in results),
        "failed": failed,
    }


def changed(summary: dict) -> bool:
    """Whether a task wrote anything new (its summary's ``changed``); when not, its DAG skips the
    Asset event, so nothing downstream runs on a table that did not change (or does not exist)."""
    if not summary["changed"]:
        log.info("nothing new: no Asset event")
    return bool(summary["changed"])


def inputs_ready(table: str) -> bool:
    """Whether gold.<table> can be built now: every table it is built from exists.

    False skips the build cleanly (a weekly run on a lake not built yet); the next run builds it.
    """
    from citybrain import lake
    from citybrain.jobs.gold import GOLD_TABLES

    settings = Settings.from_env()
    missing = [name for name in GOLD_TABLES[table] if not lake.exists(settings, name)]
    if missing:
        log.info("not built yet: %s; build_gold_%s is skipped until they exist", ", ".join(missing), table)
    return not missing


def grid_ready(source: str) -> bool:
    """Whether the source can be refined now: silver.grid exists, or the source is not placed on it.

    False skips the refine cleanly; it is scheduled on silver.grid too, so it runs when the grid appears.
    """
    from citybrain import lake

    if not needs_grid(source) or lake.exists(Settings.from_env(), "silver.grid"):
        return True
    log.info("silver.grid does not exist yet: refine_%s is skipped and runs again when silver.grid appears", source)
    return False


def needs_grid(source: str) -> bool:
    """Whether the source's records are placed on the registry's grid (silver.grid)."""
    from citybrain.schemas.sources import get_source

    silver = get_source(source).silver
    return bool(silver and silver.locate and silver.registry)
