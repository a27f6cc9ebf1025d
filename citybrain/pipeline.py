"""The main job: a demo city's drops through every DAG, on the embedded engine, via Airflow."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import functions as F

from citybrain import engine, lake
from citybrain.schemas import all_contracts
from citybrain.schemas.sources import all_sources
from citybrain.settings import Settings

log = logging.getLogger(__name__)
DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"
#: DAGs that publish gold to its readers, run after every gold table
PUBLISH_DAGS = ["publish_serving_views", "publish_weekly_report"]
#: DAGs on a clock of their own, not part of the main job's chain (``citybrain run --dag`` runs them)
MAINTENANCE_DAGS = ["maintain_lake"]


def pipeline_dag_ids() -> list[str]:
    """The DAGs the main job runs, in dependency order: every ingest, the registry's refine
    (silver.grid, which the others locate against), every other refine, every gold table,
    then what is published from gold."""
    from citybrain.jobs.gold import GOLD_TABLES

    sources = list(all_sources())
    refines = sorted(sources, key=lambda s: s != "registry")
    return [f"ingest_{s}" for s in sources] + [f"refine_{s}" for s in refines] + [f"build_gold_{t}" for t in GOLD_TABLES] + PUBLISH_DAGS


@dataclass
class DemoResult:
    generated: bool
    dag_seconds: dict[str, float] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    reconciliation: list[tuple] = field(default_factory=list)  # source, entity, in, accepted, quarantined, collapsed, balanced
    top_hotspots: list[dict] = field(default_factory=list)  # the latest week's alerts, most confident and largest first
    streets: dict[str, list[dict]] = field(default_factory=dict)  # best / worst streets of the latest complete week
    report: dict | None = None  # the weekly report this run built: iso_week, language, html_path, pdf_path
    seconds: float = 0.0


def ensure_demo_city(settings: Settings, say: Callable[[str], None], *, regenerate: bool = False) -> bool:
    """Generate the demo city unless the same one (seed, days, scale) is already there."""
    from citybrain.democity import generate

    manifest_path = settings.demo_dir / "manifest.json"
    wanted = {"seed": settings.seed, "days": settings.days, "scale": settings.scale}
    if manifest_path.exists() and not regenerate:
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            say(f"demo city already generated in {settings.demo_dir} (seed {settings.seed}, {settings.days} days, scale {settings.scale})")
            return False
        raise SystemExit(
            f"citybrain: {settings.demo_dir} holds a different demo city "
            f"({ {k: manifest.get(k) for k in wanted} }); use --fresh to replace it and its lake"
        )
    say(f"generating the demo city in {settings.demo_dir} (seed {settings.seed}, {settings.days} days, scale {settings.scale}) ...")
    generate(settings.demo_dir, seed=settings.seed, days=settings.days, scale=settings.scale, progress=lambda m: say(f"  {m}"))
    return True


def daily_dag_ids() -> list[str]:
    """The DAGs that work on one day's drops (ingest, then refine), in dependency order."""
    return [d for d in pipeline_dag_ids() if d.startswith(("ingest_", "refine_"))]


def run_dags(settings: Settings, dag_ids: list[str], say: Callable[[str], None], *, day=None) -> dict[str, float]:
    """Run each DAG once through Airflow (in-process dag.test runs on the embedded default).

    With ``day`` each run is the dated run of that day (citybrain.run_dates): the logical date
    Airflow's daily run of the day has (a rerun of the day replaces that Airflow run) and the
    day in its conf; without, each run takes everything new."""
    from citybrain import airflow_runner, run_dates

    airflow_runner.prepare_airflow_home(settings.state_dir / "airflow", DAGS_FOLDER)
    dated = {} if day is None else {"logical_date": run_dates.logical_date_for(day), "conf": {"day": day.isoformat()}}
    seconds = {}
    for dag_id in dag_ids:
        started = time.monotonic()
        result = airflow_runner.run_dag(dag_id, **dated)
        seconds[dag_id] = time.monotonic() - started
        say(f"  {dag_id}: {result.state} in {seconds[dag_id]:.1f} s")
    return seconds


def backfill(settings: Settings, days: list, say: Callable[[str], None], *, weekly: bool = True) -> dict[str, float]:
    """Run the daily DAGs day by day (each day's ingests, then its refines), then, unless
    ``weekly`` is false, the weekly DAGs once (gold and what is published from it, rebuilt
    from the whole of silver); the seconds each day (and the weekly DAGs) took."""
    seconds = {}
    for n, day in enumerate(days, 1):
        say(f"{day} ({n}/{len(days)}): {len(daily_dag_ids())} daily DAGs")
        seconds[day.isoformat()] = sum(run_dags(settings, daily_dag_ids(), lambda m: say(f"  {m}"), day=day).values())
        say(f"{day} done in {seconds[day.isoformat()]:.1f} s")
    if weekly:
        weekly_ids = [d for d in pipeline_dag_ids() if d not in daily_dag_ids()]
        say(f"weekly DAGs over everything refined: {len(weekly_ids)} DAGs")
        seconds["weekly"] = sum(run_dags(settings, weekly_ids, lambda m: say(f"  {m}")).values())
    return seconds


def table_rows(spark, settings: Settings) -> dict[str, int]:
    return {name: lake.read(spark, settings, name).count() for name in sorted(all_contracts()) if lake.exists(settings, name)}


def reconciliation(spark, settings: Settings) -> list[tuple]:
    """Totals of ops.batch_audit per source: every bronze record accounted for."""
    if not lake.exists(settings, "ops.batch_audit"):
        return []
    audit = lake.read(spark, settings, "ops.batch_audit")
    totals = audit.groupBy("source", "entity").agg(
        *(F.sum(c).alias(c) for c in ("records_in", "accepted", "quarantined", "collapsed")),
        F.min(F.col("balanced").cast("int")).alias("balanced"),
    )
    return [tuple(r) for r in totals.orderBy("source").collect()]


def top_hotspots(spark, settings: Settings, limit: int = 5) -> list[dict]:
    """The latest week's sub-category alerts of every hotline, most confident and largest excess first."""
    if not lake.exists(settings, "gold.complaint_hotspots"):
        return []
    gold = lake.read(spark, settings, "gold.complaint_hotspots")
    latest = gold.groupBy("source_system").agg(F.max("week_start").alias("week_start"))
    alerts = gold.join(latest, ["source_system", "week_start"]).where("category_level = 'l2' AND is_alert")
    rows = alerts.orderBy(F.desc("alert_confidence"), F.desc(F.col("complaints") - F.col("expected_from_history"))).limit(limit)
    return [r.asDict() for r in rows.collect()]


def best_and_worst_streets(spark, settings: Settings, n: int = 3) -> dict[str, list[dict]]:
    """Best and worst ranked streets of the latest complete week (gold.hotline_performance)."""
    if not lake.exists(settings, "gold.hotline_performance"):
        return {}
    perf = lake.read(spark, settings, "gold.hotline_performance").where(
        "unit_type = 'street' AND period_type = 'week' AND rank IS NOT NULL"
    )
    complete = perf.where("period_complete")
    latest = complete.agg(F.max("period").alias("period")).collect()[0]["period"]
    if latest is None:
        return {}
    week = complete.where(F.col("period") == latest)
    columns = ("period", "unit_name", "rank", "rank_change", "composite_score", "satisfaction_rate", "on_time_completion_rate")
    return {
        "best": [r.asDict() for r in week.orderBy("rank").select(*columns).limit(n).collect()],
        "worst": [r.asDict() for r in week.orderBy(F.desc("rank")).select(*columns).limit(n).collect()],
    }


def latest_report(spark, settings: Settings) -> dict | None:
    """The newest build listed in gold.report_index (iso_week, language, html_path, pdf_path)."""
    if not lake.exists(settings, "gold.report_index"):
        return None
    rows = lake.read(spark, settings, "gold.report_index").orderBy(F.desc("built_at")).limit(1).collect()
    return {k: rows[0][k] for k in ("iso_week", "language", "html_path", "pdf_path", "build_id")} if rows else None


def run_demo(settings: Settings, say: Callable[[str], None] = print, *, fresh: bool = False) -> DemoResult:
    started = time.monotonic()
    if fresh:
        _remove_local(settings)
    result = DemoResult(generated=ensure_demo_city(settings, say, regenerate=fresh))
    _say_key(settings, say)
    with engine.command_engine(settings) as remote:
        say(f"running {len(pipeline_dag_ids())} DAGs through Airflow on {remote} ...")
        result.dag_seconds = run_dags(settings, pipeline_dag_ids(), say)
        spark = engine.get_session(settings)
        result.table_rows = table_rows(spark, settings)
        result.reconciliation = reconciliation(spark, settings)
        result.top_hotspots = top_hotspots(spark, settings)
        result.streets = best_and_worst_streets(spark, settings)
        result.report = latest_report(spark, settings)
    result.seconds = time.monotonic() - started
    return result


def _say_key(settings: Settings, say: Callable[[str], None]) -> None:
    """Say which key tokenises personal data (never the key itself)."""
    from citybrain import privacy

    if settings.pii_key:
        say("personal data tokenised with the key in CITYBRAIN_PII_KEY")
        return
    _, created = privacy.ensure_generated_key(settings)
    state = "generated" if created else "kept"
    say(f"personal data tokenised with this installation's {state} key {privacy.key_file(settings)} (keep it: tokens depend on it)")


def _remove_local(settings: Settings) -> None:
    import shutil

    if settings.is_local_lake:
        shutil.rmtree(settings.lake_root.removeprefix("file://"), ignore_errors=True)
    shutil.rmtree(settings.demo_dir, ignore_errors=True)
