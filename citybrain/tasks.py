"""What an Airflow task calls: settings from the environment, a health-checked session, a job.

DAG files only wire these functions; each returns a small JSON-able summary for XCom.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from citybrain import engine
from citybrain.settings import Settings

log = logging.getLogger(__name__)


def check_engine() -> str:
    """Fail fast, with a clear message, when the Spark Connect engine cannot be reached."""
    settings = Settings.from_env()
    remote = engine.remote_url(settings)
    engine.check_healthy(remote)
    return remote


def ingest_source(source: str) -> dict:
    """Take the source's new drop files into bronze.<source>."""
    from citybrain.jobs.bronze import ingest

    settings = Settings.from_env()
    spark = engine.get_session(settings)
    report = ingest.run(spark, settings, source, progress=log.info)
    log.info(report.summary())
    return {
        "source": source,
        "batch_id": report.batch_id,
        "files_new": len(report.files),
        "files_already_ingested": report.files_already_ingested,
        "records": report.records,
        "parse_errors": report.parse_errors,
        "files": [asdict(f) for f in report.files],
        "summary": report.summary(),
    }


def refine_source(source: str) -> dict:
    """Refine the source's new bronze batches into its silver entity (audited, quality-gated)."""
    from citybrain.jobs.silver import refine

    settings = Settings.from_env()
    spark = engine.get_session(settings)
    report = refine.refine(spark, settings, source, progress=log.info)
    log.info(report.summary())
    return {**asdict(report), "summary": report.summary()}


def build_gold(table: str) -> dict:
    """Rebuild gold.<table> from silver (citybrain.jobs.gold.<table>.run)."""
    import importlib

    settings = Settings.from_env()
    spark = engine.get_session(settings)
    report = importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings)
    log.info(report.summary())
    return {
        "table": report.table,
        "rows": report.rows,
        "seconds": round(report.seconds, 1),
        "not_computed": report.not_computed,
        "summary": report.summary(),
    }


def train_gold_model(table: str) -> dict:
    """Train and store a new model version for gold.<table> (citybrain.jobs.gold.<table>.train)."""
    import importlib

    settings = Settings.from_env()
    spark = engine.get_session(settings)
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
    spark = engine.get_session(settings)
    builds = []
    for lang in languages:
        report = publish.run(spark, settings, week=week, lang=lang)
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
