"""Every DAG file in dags/ imports cleanly and follows the conventions in dags/README.md.

The tests are parametrized over the files in dags/; each file is parsed on its own with
the lake, state and demo folders pointed at paths that do not exist, so a DAG file that
does I/O at parse time (reads the lake, starts the engine) is caught and named.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from citybrain.airflow_runner import APPROVED_TAGS, DAG_ID_PATTERN, DEFAULT_DAGS_FOLDER

DAG_FILES = sorted(p for p in DEFAULT_DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
# Settings a DAG file could use to find the lake or the engine: all must stay untouched.
PARSE_TIME_PATHS = {"CITYBRAIN_LAKE_ROOT": "lake", "CITYBRAIN_STATE_DIR": "state", "CITYBRAIN_DEMO_DIR": "demo_city"}


@dataclass(frozen=True)
class Parsed:
    dags: dict  # dag_id -> DAG
    import_errors: dict[str, str]
    touched: list[str]  # parse-time paths that exist after parsing


@pytest.fixture(scope="module")
def parse(airflow_home, tmp_path_factory):
    """parse(path) -> Parsed: a DagBag of one file (or a folder), cached per path."""
    from airflow.dag_processing.dagbag import DagBag

    @functools.cache
    def _parse(path: Path) -> Parsed:
        root = tmp_path_factory.mktemp("parse-time")
        paths = {var: root / name for var, name in PARSE_TIME_PATHS.items()}
        with pytest.MonkeyPatch.context() as mp:
            for var, p in paths.items():
                mp.setenv(var, str(p))
            bag = DagBag(dag_folder=path)
        return Parsed(
            dags=dict(bag.dags),
            import_errors=dict(bag.import_errors),
            touched=[f"{var}={p}" for var, p in paths.items() if p.exists()],
        )

    return _parse


def _file_id(path: Path) -> str:
    return path.name


def _dags_of(parsed: Parsed, dag_file: Path):
    assert not parsed.import_errors, f"{dag_file.name} does not import: {parsed.import_errors}"
    assert parsed.dags, f"{dag_file.name} defines no DAG"
    return sorted(parsed.dags.values(), key=lambda d: d.dag_id)


def test_dags_folder_parses_as_a_whole(parse):
    """No import errors and no duplicate dag_ids across files; at least one DAG once files exist."""
    if not DAG_FILES:
        pytest.skip(f"no DAG files in {DEFAULT_DAGS_FOLDER} yet (dags/*.py)")
    parsed = parse(DEFAULT_DAGS_FOLDER)
    assert parsed.import_errors == {}
    assert len(parsed.dags) >= 1, f"{len(DAG_FILES)} DAG file(s) in {DEFAULT_DAGS_FOLDER} but no DAG parsed"
    per_file = sum(len(parse(f).dags) for f in DAG_FILES)
    assert len(parsed.dags) == per_file, "the same dag_id is defined in more than one file"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dag_file_does_no_io_at_parse_time(parse, dag_file):
    parsed = parse(dag_file)
    assert not parsed.import_errors, parsed.import_errors
    assert parsed.touched == [], f"{dag_file.name} created or wrote these at parse time: {parsed.touched}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dag_ids_are_verb_object(parse, dag_file):
    bad = [d.dag_id for d in _dags_of(parse(dag_file), dag_file) if not DAG_ID_PATTERN.fullmatch(d.dag_id)]
    assert bad == [], f"dag_ids must be lowercase verb_object (e.g. ingest_hotline): {bad}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dags_have_approved_tags(parse, dag_file):
    problems = {}
    for dag in _dags_of(parse(dag_file), dag_file):
        tags = set(dag.tags or ())
        if not tags:
            problems[dag.dag_id] = "no tags"
        elif tags - APPROVED_TAGS:
            problems[dag.dag_id] = f"unapproved tags {sorted(tags - APPROVED_TAGS)}"
    assert problems == {}, f"approved tags are {sorted(APPROVED_TAGS)}"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dags_retry(parse, dag_file):
    retries = {d.dag_id: (d.default_args or {}).get("retries", 0) for d in _dags_of(parse(dag_file), dag_file)}
    assert {k: v for k, v in retries.items() if not v or v < 1} == {}, "default_args['retries'] must be >= 1"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dags_do_not_catch_up(parse, dag_file):
    catching_up = [d.dag_id for d in _dags_of(parse(dag_file), dag_file) if d.catchup]
    assert catching_up == [], "set catchup=False; backfill explicitly"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=_file_id)
def test_dags_are_documented(parse, dag_file):
    undocumented = [d.dag_id for d in _dags_of(parse(dag_file), dag_file) if not (d.doc_md or "").strip()]
    assert undocumented == [], "set doc_md (doc_md=__doc__ with a module docstring)"


def test_parse_time_check_can_fail(parse, tmp_path):
    """The I/O check catches a DAG file that creates the lake folder while parsing."""
    dag_file = tmp_path / "ingest_parse_time_io.py"
    dag_file.write_text(
        "import os, pathlib\n"
        "from datetime import datetime\n"
        "from airflow.sdk import dag\n"
        "pathlib.Path(os.environ['CITYBRAIN_LAKE_ROOT'], 'bronze').mkdir(parents=True)\n"
        "@dag(schedule=None, start_date=datetime(2026, 1, 1))\n"
        "def ingest_parse_time_io():\n"
        "    pass\n"
        "ingest_parse_time_io()\n"
    )
    parsed = parse(dag_file)
    assert list(parsed.dags) == ["ingest_parse_time_io"]
    assert [t.split("=")[0] for t in parsed.touched] == ["CITYBRAIN_LAKE_ROOT"]
    assert os.environ.get("CITYBRAIN_LAKE_ROOT") != parsed.touched[0].split("=", 1)[1]


def _scheduled_on(dag) -> set[str]:
    """Names of the Assets a DAG's schedule waits for (any nesting of all/any)."""
    return {a.name for a in _assets_of(dag)}


def _assets_of(dag) -> list:
    """The Assets a DAG's schedule waits for (any nesting of all/any)."""
    found, todo = [], [getattr(dag.timetable, "asset_condition", None)]
    while todo:
        node = todo.pop()
        if hasattr(node, "objects"):
            todo.extend(node.objects)
        elif getattr(node, "name", None):
            found.append(node)
    return found


def test_each_layer_runs_when_the_layer_before_changes(parse):
    """refine_<source> waits for bronze.<source> (and silver.grid when placed on it); build_gold_<table> for its main silver input; the
    publishing DAGs for gold. Unscheduling one would leave its layer stale without any error."""
    from citybrain.jobs.gold import GOLD_TABLES
    from citybrain.schemas.sources import all_sources

    dags = parse(DEFAULT_DAGS_FOLDER).dags
    from citybrain.tasks import needs_grid

    for source in all_sources():
        grid = {"silver.grid"} if needs_grid(source) else set()
        assert _scheduled_on(dags[f"refine_{source}"]) == {f"bronze.{source}"} | grid, source
    assert {s for s in all_sources() if needs_grid(s)} >= {"hotline", "urban_cases"}
    for table, inputs in GOLD_TABLES.items():  # built from silver: weekly (tests/dags/test_schedules.py)
        assert _scheduled_on(dags[f"build_gold_{table}"]) == ({inputs[0]} if inputs[0].startswith("gold.") else set()), table
    for publisher in ("publish_serving_views", "publish_weekly_report"):
        assert _scheduled_on(dags[publisher]) and _scheduled_on(dags[publisher]) <= {f"gold.{t}" for t in GOLD_TABLES}, publisher


def test_every_asset_a_dag_waits_for_is_produced_by_a_dag(parse):
    """A schedule on an Asset no task announces never runs under a scheduler (dag.test hides it); an
    Asset with a watcher (a drop folder's) is announced by the triggerer."""
    dags = parse(DEFAULT_DAGS_FOLDER).dags
    produced = {outlet.name for dag in dags.values() for t in dag.tasks for outlet in t.outlets}
    produced |= {a.name for dag in dags.values() for a in _assets_of(dag) if getattr(a, "watchers", None)}
    waited = {name: dag_id for dag_id, dag in dags.items() for name in _scheduled_on(dag)}
    assert {name: dag_id for name, dag_id in waited.items() if name not in produced} == {}
