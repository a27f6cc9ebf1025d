"""The ``citybrain`` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from citybrain.settings import Settings, SettingsError
from citybrain.text import printable

DESCRIPTION = """\
CityBrain: a city's department silos (12345 hotline, urban-management cases,
ride-hailing orders, police 110 incidents, petitions, grid registry, calendar) in one
Delta Lake, checked, joined on one grid and turned into insight.

Settings come from CITYBRAIN_* environment variables (see README.md): CITYBRAIN_LAKE_ROOT
(default ./lake), CITYBRAIN_PROFILE (local | ci | cluster), CITYBRAIN_SPARK_REMOTE
(sc://host:port of a Spark 4.1 Connect server; unset = the embedded Sail engine),
CITYBRAIN_SCALE, CITYBRAIN_DAYS, CITYBRAIN_SEED, CITYBRAIN_DEMO_DIR, CITYBRAIN_STATE_DIR.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one clear line instead of usage + error
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _say(message: str) -> None:
    print(message, flush=True)


def _settings(args) -> Settings:
    settings = Settings.from_env()
    overrides = {k: getattr(args, k) for k in ("seed", "days", "scale") if getattr(args, k, None) is not None}
    return settings.with_(**overrides) if overrides else settings


def cmd_demo(args) -> int:
    from citybrain.pipeline import run_demo

    settings = _settings(args)
    result = run_demo(settings, _say, fresh=args.fresh)
    _say("")
    _say(f"done in {result.seconds:.0f} s. Lake: {settings.lake_root}")
    for name, rows in result.table_rows.items():
        _say(f"  {name:<28} {rows:>10,} rows")
    if result.reconciliation:
        _say("Every bronze record accounted for (ops.batch_audit):")
        _say(f"  {'source':<12} {'silver entity':<18} {'in':>9} {'accepted':>9} {'quarantined':>11} {'collapsed':>9}  balanced")
        for source, entity, n_in, acc, qua, col, balanced in result.reconciliation:
            _say(f"  {source:<12} {entity:<18} {n_in:>9,} {acc:>9,} {qua:>11,} {col:>9,}  {'yes' if balanced else 'NO'}")
    _print_briefing(result)
    _say(f"Drops and planted truth: {settings.demo_dir}   Logs: {settings.log_dir}")
    _say("Quality results: ops.quality_results and the quarantine tables (Superset's Data quality dashboard: citybrain superset start)")
    if result.report:
        _say(f"Weekly report of {result.report['iso_week']} (gold.report_index):")
        _say(f"  HTML {result.report['html_path']}")
        _say(f"  PDF  {result.report['pdf_path'] or '(not printed: no PDF renderer)'}")
    return 0


def _print_briefing(result) -> None:
    if result.top_hotspots:
        week = result.top_hotspots[0]["iso_week"]
        _say(f"Top complaint hotspots of {week} (gold.complaint_hotspots; expected from the cell's history in brackets):")
        for h in result.top_hotspots:
            expected = h["expected_from_history"]
            _say(
                f"  {h['h3_cell']}  {printable(h['category']):<8} {h['complaints']:>4} complaints ({expected:.1f})  "
                f"{h['alert_confidence']}% confidence, {h['alert_window_weeks']}-week window, trend {h['trend']}"
            )
    for side in ("best", "worst"):
        rows = result.streets.get(side, [])
        if rows:
            _say(f"{side.capitalize()} streets of {rows[0]['period']} (gold.hotline_performance, 1 = best):")
            for r in rows:
                change = "" if r["rank_change"] is None else f", {r['rank_change']:+d} since the week before"
                _say(f"  #{r['rank']:<3} {printable(r['unit_name'])}  score {r['composite_score']:.1f}{change}")


def cmd_evaluate(args) -> int:
    from citybrain import engine
    from citybrain.models import hotspot_evaluation

    settings = _settings(args)
    if args.model == "risk":
        from citybrain.models import stability_evaluation

        stability_evaluation.truth_folder(settings, args.truth)  # fails before the engine starts
        with engine.session_scope(settings) as spark:
            risk = stability_evaluation.run(spark, settings, args.truth)
        _say(stability_evaluation.report_text(risk))
        _say("Written to gold.model_metrics (model stability_warning, oracle, stability_score).")
        return 0
    if args.model == "demand":
        return _evaluate_demand(settings, args.truth)
    with engine.session_scope(settings) as spark:
        result = hotspot_evaluation.run(spark, settings, args.truth)
    _say(hotspot_evaluation.report_text(result))
    _say("Written to gold.model_metrics (model complaint_hotspots, oracle, last_week_counts).")
    return 0


def _evaluate_demand(settings, truth) -> int:
    from citybrain import engine
    from citybrain.models import demand_evaluation

    with engine.session_scope(settings) as spark:
        result = demand_evaluation.run(spark, settings, truth)
    _say(demand_evaluation.report_text(result))
    _say(f"Written to gold.model_metrics (model {demand_evaluation.MODEL}, {', '.join(demand_evaluation.BASELINES)}).")
    return 0


def cmd_report(args) -> int:
    from citybrain import engine
    from citybrain.jobs.report import publish

    settings = _settings(args)
    if args.week:
        publish.weekly.Week.parse(args.week)  # a malformed week fails before the engine starts
    with engine.session_scope(settings) as spark:
        report = publish.run(spark, settings, week=args.week, lang=args.lang, rebuild=args.rebuild, build_id=args.build_id)
    _say(report.summary())
    _say(f"Weekly report of {report.iso_week} ({report.language}), build {report.build_id} in gold.report_index:")
    _say(f"  HTML    {report.html_path}")
    _say(f"  PDF     {report.pdf_path}")
    _say(f"  numbers {report.numbers_path} (sha256 {report.numbers_sha256})")
    if report.is_rebuild:
        _say(f"  the same numbers as build {report.rebuilt_from}, from its recorded table versions")
    return 0


def cmd_serving(args) -> int:
    from citybrain import serving

    report = serving.build_serving_db(_settings(args))
    _say(report.summary())
    for view, rows in report.views.items():
        _say(f"  {view:<28} {rows:>10,} rows")
    _say(f"Read it with DuckDB: load the delta extension first (LOAD '{serving.delta_extension_path()}'), read-only.")
    return 0


def cmd_generate(args) -> int:
    from citybrain.democity import generate

    settings = _settings(args)
    out = args.out or settings.demo_dir
    started = time.monotonic()
    manifest = generate(out, seed=settings.seed, days=settings.days, scale=settings.scale, progress=lambda m: _say(f"  {m}"))
    _say(f"demo city written to {out} in {time.monotonic() - started:.1f} s ({manifest.get('totals', {})})")
    return 0


def cmd_run(args) -> int:
    from citybrain import engine
    from citybrain.pipeline import MAINTENANCE_DAGS, pipeline_dag_ids, run_dags

    settings = _settings(args)
    known = pipeline_dag_ids() + MAINTENANCE_DAGS
    dag_ids = args.dag or pipeline_dag_ids()
    unknown = [d for d in dag_ids if d not in known]
    if unknown:
        raise SystemExit(f"citybrain: unknown DAG {', '.join(unknown)}; known DAGs: {', '.join(known)}")
    day = None if args.date is None else _day(args.date)
    with engine.command_engine(settings):
        run_dags(settings, dag_ids, _say, day=day)
    return 0


def _day(text: str):
    from citybrain.run_dates import parse_day

    return parse_day(text)


def cmd_backfill(args) -> int:
    from citybrain import engine
    from citybrain.pipeline import backfill
    from citybrain.run_dates import days_between

    settings = _settings(args)
    days = days_between(_day(args.start), _day(args.end))
    started = time.monotonic()
    with engine.command_engine(settings) as remote:
        _say(f"backfill of {days[0]} .. {days[-1]} ({len(days)} day(s)) through Airflow on {remote}")
        backfill(settings, days, _say, weekly=not args.no_weekly)
    _say(f"backfill done in {time.monotonic() - started:.0f} s")
    return 0


def cmd_ingest(args) -> int:
    from citybrain import engine
    from citybrain.jobs.bronze import ingest
    from citybrain.jobs.silver import refine
    from citybrain.schemas.sources import get_source

    settings = _settings(args)
    get_source(args.source)  # a clear error for an unknown source
    if not args.folder.is_dir():
        raise FileNotFoundError(f"no folder {args.folder}")
    with engine.session_scope(settings) as spark:
        _say(ingest.run(spark, settings, args.source, folder=args.folder, progress=_say).summary())
        if not args.bronze_only:
            _say(refine.refine(spark, settings, args.source).summary())
    return 0


def cmd_engine(args) -> int:
    from citybrain import engine

    settings = _settings(args)
    if settings.spark_remote:
        _say(f"cluster profile: the engine is {settings.spark_remote}, not managed by citybrain")
        engine.check_healthy(settings.spark_remote)
        return 0
    if args.action == "start":
        idle_s = None if args.idle_session_minutes is None else round(args.idle_session_minutes * 60)
        info, started = engine.start(settings, idle_session_s=idle_s)
        _say(f"{'started' if started else 'already running'}: {info.remote} (pid {info.pid}, log {info.log})")
        if started:
            _say(f"a session that makes no call for {idle_s or engine.idle_session_limit_s()} s is dropped (--idle-session-minutes)")
        elif idle_s is not None:
            _say("--idle-session-minutes applies to an engine started now: stop this one first to change it")
    elif args.action == "stop":
        _say("stopped" if engine.stop(settings) else "no engine was running")
    else:
        info = engine.status(settings)
        _say(f"running: {info.remote} (pid {info.pid}, log {info.log})" if info else "not running")
        return 0 if info else 1
    return 0


def cmd_up(args) -> int:
    from citybrain import stack

    pids = stack.up(_settings(args), _say)
    _say(f"up: {', '.join(f'{name} {pid}' for name, pid in pids.items())}; logs in {_settings(args).log_dir}")
    return 0


def cmd_down(args) -> int:
    from citybrain import stack

    failed = stack.down(_settings(args), _say)
    if failed:
        print(f"citybrain: error: could not stop {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_superset(args) -> int:
    from citybrain import superset

    settings = _settings(args)
    try:
        if args.action == "setup":
            superset.ensure_venv(_say)
            _say(f"Superset environment: {superset.venv_dir()}")
        elif args.action == "start":
            info, started = superset.start(settings, _say, port=args.port)
            _, credentials_file = superset.credentials(settings)
            _say(f"{'started' if started else 'already running'} (pid {info.pid}, log {superset.log_path(settings)})")
            _say(superset.login_help(settings, info, credentials_file))
        elif args.action == "stop":
            _say("stopped" if superset.stop(settings) else "Superset was not running")
        elif args.action == "export":
            counts = superset.export_assets(settings)
            _say(f"exported {counts} into {superset.ASSETS} (review with git diff, then commit)")
        else:
            info = superset.status(settings)
            _say(f"running: {info.url} (pid {info.pid}, log {superset.log_path(settings)})" if info else "not running")
            return 0 if info else 1
    except superset.SupersetError as exc:
        print(f"citybrain: error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_tables(args) -> int:
    from citybrain import engine, lake
    from citybrain.schemas import all_contracts

    settings = _settings(args)
    with engine.session_scope(settings) as spark:
        for name in sorted(all_contracts()):
            if lake.exists(settings, name):
                rows = lake.read(spark, settings, name).count()
                _say(f"{name:<24} {rows:>10,} rows  version {lake.version(settings, name):<4} {lake.table_location(settings, name)}")
            else:
                _say(f"{name:<24} {'-':>10}       (not built yet)")
    return 0


def cmd_table(args) -> int:
    from citybrain import lake
    from citybrain.schemas import get_contract

    settings = _settings(args)
    get_contract(args.name)  # a clear error for an unknown table
    if args.action == "history":
        for commit in lake.history(settings, args.name, args.limit):
            metrics = commit.get("operationMetrics", {})
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(commit["timestamp"] / 1000))
            _say(f"v{commit['version']:<4} {stamp} UTC  {commit['operation']:<14} rows {metrics.get('numOutputRows', '-')}")
    elif args.action == "optimize":
        _say(json.dumps(lake.optimize(settings, args.name), default=str))
    else:
        files = lake.vacuum(settings, args.name, retention_hours=args.retention_hours, dry_run=not args.apply)
        _say(f"{'deleted' if args.apply else 'would delete'} {len(files)} file(s)")
    return 0


def cmd_maintain(args) -> int:
    from citybrain.jobs import maintenance

    settings = _settings(args)
    _say(f"compacting and vacuuming the lake at {settings.lake_root} (retention {settings.vacuum_retention_days:g} days) ...")
    results = maintenance.maintain(settings, tables=args.table, progress=_say)
    before, after = sum(r.files_before for r in results), sum(r.files_after for r in results)
    failed = [r.table for r in results if r.error]
    _say(
        f"{len(results)} table(s): {before:,} -> {after:,} data files, {sum(r.files_deleted for r in results):,} unreferenced file(s) deleted"
    )
    if failed:
        _say(f"NOT maintained (reason in ops.maintenance): {', '.join(failed)}")
        return 1
    return 0


def cmd_contracts(args) -> int:
    from citybrain.schemas import all_contracts, get_contract

    contracts = [get_contract(args.name)] if args.name else all_contracts().values()
    for c in contracts:
        _say(
            f"{c.name} — {c.description}\n  grain: {c.grain}\n  keys: {', '.join(c.keys) or '-'}; partitioned by: {', '.join(c.partition_by) or '-'}{'; deletion vectors' if c.deletion_vectors else ''}; owner: {c.owner}"
        )
        for col in c.columns:
            flags = ("" if col.nullable else " not null") + (f" PII:{col.pii}" if col.pii else "")
            _say(f"    {col.name:<20} {col.type:<10}{flags:<18} {col.description}")
    return 0


def cmd_bench(args) -> int:
    import shutil
    import tempfile

    from citybrain.bench import harness

    if args.scaling:
        small, large = (path.read_text(encoding="utf-8") for path in args.scaling)
        _say(harness.scaling(small, large))
        return 0
    work = args.keep or _path(tempfile.mkdtemp(prefix="citybrain-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    settings = _settings(args)
    try:
        results, preamble = harness.run(
            settings, size=args.size, scale=args.scale, stages=tuple(args.stages), work=work, engine_memory=args.engine_memory, say=_say
        )
        if args.markdown:
            args.markdown.write_text(harness.markdown(results, [f"    {' '.join(sys.argv)}", "", *preamble]), encoding="utf-8")
            _say(f"table written to {args.markdown}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r.error or r.agree.startswith("NO") for r in results) else 0


def build_parser() -> argparse.ArgumentParser:
    from citybrain.schemas.gold.report_index import LANGUAGES

    parser = _Parser(prog="citybrain", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="on an unexpected failure, print the whole traceback")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def city_options(p):
        p.add_argument("--seed", type=int, help="demo city seed (default CITYBRAIN_SEED or 20260831)")
        p.add_argument("--days", type=int, help="demo city length in days (default CITYBRAIN_DAYS or 84 = 12 weeks)")
        p.add_argument("--scale", type=float, help="demo city volume multiplier (default CITYBRAIN_SCALE or 1.0)")

    p = sub.add_parser("demo", help="generate the demo city and run the whole pipeline on it (the main job)")
    city_options(p)
    p.add_argument("--fresh", action="store_true", help="delete the demo city and the local lake first")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("generate", help="write the demo city's department drops and planted truth")
    city_options(p)
    p.add_argument("--out", type=_path, help="folder to write to (default CITYBRAIN_DEMO_DIR or ./demo_city)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("run", help="run pipeline DAGs through Airflow on the drops already there (also maintain_lake with --dag)")
    p.add_argument("--dag", action="append", metavar="DAG_ID", help="run only this DAG (repeatable); default: all, in order")
    p.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="the dated run of that day: ingests take only the drop files dated that day, refines only their batches; "
        "running a day again takes nothing twice (default: no date, everything new)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "backfill",
        help="run the daily DAGs day by day over a range of past days, then the weekly ones (gold, serving, report)",
        description="Run the daily DAGs (every ingest, then every refine) as the dated run of each day from "
        "--from to --to, both included, in order, through Airflow in this process (as `citybrain run --date` does "
        "for one day): each day takes only the drop files dated that day. Then the weekly DAGs (every gold table, "
        "the serving views, the weekly report) run once over everything refined. A day already taken in is "
        "taken nothing twice, so a backfill can be run again or over a range that overlaps an earlier one. "
        "Under a scheduler, `airflow backfill create --dag-id ingest_<source> --from-date D1 --to-date D2` "
        "runs the same dated ingests (their data interval is the day).",
    )
    p.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day of the range")
    p.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD", help="last day of the range (included)")
    p.add_argument("--no-weekly", action="store_true", help="only the daily DAGs (no gold, serving or report at the end)")
    p.set_defaults(func=cmd_backfill)

    p = sub.add_parser("ingest", help="take one source's files from a folder into bronze, then refine them into silver")
    p.add_argument("source", help="source name: a mapping in schemas/sources/ (e.g. boston311, hotline)")
    p.add_argument("--from", dest="folder", type=_path, required=True, metavar="DIR", help="folder holding the source's files")
    p.add_argument("--bronze-only", action="store_true", help="stop after bronze")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("evaluate", help="compare a gold model with the demo city's planted truth; results to gold.model_metrics")
    p.add_argument(
        "model",
        choices=["hotspots", "risk", "demand"],
        help="hotspots: gold.complaint_hotspots against truth/hotspots.csv and complaint_rates.csv; "
        "risk: gold.stability_risk and its early warning against truth/stability_*.csv (rolling-origin backtest); "
        "demand: rolling-origin backtest of the demand forecaster and its baselines (oracle: truth/ride_rates.csv)",
    )
    p.add_argument("--truth", type=_path, help="the demo city's truth folder (default CITYBRAIN_DEMO_DIR/truth)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="build the weekly insight report (HTML + PDF) and list it in gold.report_index")
    p.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W35 (default: the latest complete week in the data)")
    p.add_argument("--lang", choices=LANGUAGES, default=LANGUAGES[0], help=f"report language (default {LANGUAGES[0]})")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="rebuild a past report from the table versions gold.report_index recorded for it (Delta time travel); "
        "fails unless the numbers come out the same",
    )
    p.add_argument("--build-id", help="with --rebuild: the build to rebuild (default: the latest fresh build of the week)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serving", help="rewrite the serving DuckDB file of views over the lake (what Superset reads)")
    p.set_defaults(func=cmd_serving)

    p = sub.add_parser("up", help="start the service stack on 127.0.0.1: PostgreSQL, the engine, Airflow (scheduler ...), Superset")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop every service `citybrain up` started, by pid; names any it could not stop")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("engine", help="start, stop or show the embedded Sail Spark Connect engine")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument(
        "--idle-session-minutes",
        type=_minutes,
        metavar="MINUTES",
        help="start: drop a session that makes no call for this long (default: Sail's 15 minutes; a notebook left"
        " open longer then gets 'session ... is not running' and must create a new session)",
    )
    p.set_defaults(func=cmd_engine)

    p = sub.add_parser(
        "superset",
        help="Superset for analysts on 127.0.0.1: start (env, serving DB, users, dashboards, row-level security), stop, status",
    )
    p.add_argument(
        "action",
        choices=["start", "stop", "status", "setup", "export"],
        help="setup: only install .venv-superset; export: write the running Superset's dashboards into infra/superset/assets",
    )
    p.add_argument("--port", type=int, help="port on 127.0.0.1 (default CITYBRAIN_SUPERSET_PORT or 8088)")
    p.set_defaults(func=cmd_superset)

    p = sub.add_parser(
        "bench",
        help="time every stage on a demo city of size S, M or L beside a hand-written DuckDB reference",
        description=(
            "Generate the demo city (S = the default city, M = scale 10, about 9M records, L = scale 30),"
            " build a fresh lake stage by stage (bronze per source, silver per entity, each gold table) and print"
            " per stage: wall time, records/s, the peak memory of the engine and of this client during the stage,"
            " the time and peak memory of the stage's DuckDB reference over the same Delta inputs, the ratio"
            " product/reference and whether both agree on rows and key checksum. Works in a temporary folder"
            " (or --keep DIR, which also keeps the generated city for the next run); never touches ./lake."
            " Exit code 1 when a stage failed or disagreed with its reference. Figures are printed, never asserted."
        ),
    )
    p.add_argument("--size", choices=("S", "M", "L"), default="S", help="demo city size (default S)")
    p.add_argument("--scale", type=float, help="override the size's volume multiplier (e.g. 0.1 for a quick check)")
    p.add_argument("--days", type=int, help="demo city length in days (default CITYBRAIN_DAYS or 84)")
    p.add_argument("--seed", type=int, help="demo city seed (default CITYBRAIN_SEED or 20260831)")
    p.add_argument(
        "--stages", nargs="+", choices=("bronze", "silver", "gold"), default=["bronze", "silver", "gold"],
        help="stages to report (the ones before them still run; default: all)",
    )  # fmt: skip
    p.add_argument("--keep", type=_path, metavar="DIR", help="work in DIR and keep it (the city is reused when it matches)")
    p.add_argument(
        "--engine-memory", default="8G",
        help="the memory limit of the engine (Sail's fair pool) and of the DuckDB references (memory_limit); default 8G",
    )  # fmt: skip
    p.add_argument("--markdown", type=_path, metavar="FILE", help="also write the table as markdown to FILE")
    p.add_argument(
        "--scaling", nargs=2, type=_path, metavar=("SMALL", "LARGE"),
        help="run nothing: print the time per record of every stage of two --markdown tables (e.g. S and L), large against small",
    )  # fmt: skip
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("tables", help="list the lake's tables with row counts and versions")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("table", help="Delta maintenance of one table: history, optimize, vacuum")
    p.add_argument("action", choices=["history", "optimize", "vacuum"])
    p.add_argument("name", help="logical table name, e.g. bronze.hotline")
    p.add_argument("--limit", type=int, default=20, help="history: newest commits to show (default 20)")
    p.add_argument("--retention-hours", type=int, default=168, help="vacuum: keep unreferenced files younger than this (default 168)")
    p.add_argument("--apply", action="store_true", help="vacuum: really delete (default: dry run)")
    p.set_defaults(func=cmd_table)

    p = sub.add_parser(
        "maintain",
        help="compact and vacuum every lake table (what the weekly maintain_lake DAG does); figures to ops.maintenance",
        description=(
            "Compact small files and vacuum every lake table, as the weekly maintain_lake DAG does; the figures go to "
            "ops.maintenance. A table whose layout on disk is not its contract's (a lake built before a table became "
            "partitioned by day) is rewritten in the contract's layout, same rows: refines refuse to merge into it until then."
        ),
    )
    p.add_argument("--table", action="append", metavar="NAME", help="only this table (repeatable); default: every table")
    p.set_defaults(func=cmd_maintain)

    p = sub.add_parser("contracts", help="print table contracts: columns, types, keys, grain, PII tags")
    p.add_argument("name", nargs="?", help="one table (default: all)")
    p.set_defaults(func=cmd_contracts)
    return parser


def _path(value: str):
    from pathlib import Path

    return Path(value).resolve()


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = float("nan")
    if not 0 < minutes <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes above 0 and at most a week (10080)")
    return minutes


def _report_errors() -> tuple[type[Exception], ...]:
    """The weekly report's errors that are one clear line to the user (font, PDF renderer, rebuild)."""
    from citybrain.jobs.report.charts import FontMissing
    from citybrain.jobs.report.publish import RebuildMismatch
    from citybrain.jobs.report.render import PdfRendererMissing
    from citybrain.jobs.report.snapshot import VersionUnreadable

    return (FontMissing, PdfRendererMissing, RebuildMismatch, VersionUnreadable)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (SettingsError, KeyError, FileNotFoundError, ValueError, *_report_errors()) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"citybrain: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM while a DAG ran (airflow_runner.RunInterrupted)
        signum = getattr(exc, "signum", signal.SIGINT)
        print(
            f"citybrain: stopped by {signal.Signals(signum).name}; what was committed to the lake stays, and running the command again goes on from there",
            file=sys.stderr,
        )
        return 128 + signum
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback (--verbose shows it)
        if args.verbose:
            raise
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
        print(
            f"citybrain: error: {type(exc).__name__}: {printable(first_line)} (logs: {_log_dir()}; --verbose shows the traceback)",
            file=sys.stderr,
        )
        return 1


def _log_dir() -> str:
    try:
        return str(Settings.from_env().log_dir)
    except SettingsError:
        return ".citybrain/logs"


if __name__ == "__main__":
    sys.exit(main())
