"""The stack's scheduler imports what its tasks import, so that each task forked from it starts warm."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from citybrain import stack, tasks
from citybrain.jobs.gold import GOLD_TABLES
from citybrain.settings import Settings


def _imports_inside_functions(path: Path) -> set[str]:
    """The citybrain modules a file imports inside its functions (``from a import b``: a.b when b is a module, else a)."""
    found = set()
    for function in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("citybrain"):
                found |= {_module(node.module, alias.name) for alias in node.names}
    return found


def _module(parent: str, name: str) -> str:
    try:
        return f"{parent}.{name}" if importlib.util.find_spec(f"{parent}.{name}") else parent
    except ModuleNotFoundError:  # the parent is a module, not a package: ``name`` is one of its objects
        return parent


def _preloaded() -> set[str]:
    code = "import json, sys; from citybrain import warm_scheduler; warm_scheduler.preload(); print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_scheduler_has_every_module_a_task_imports():
    loaded = _preloaded()
    wanted = _imports_inside_functions(Path(tasks.__file__)) | {f"citybrain.jobs.gold.{t}" for t in GOLD_TABLES}
    assert {"citybrain.jobs.silver.refine", "citybrain.jobs.bronze.ingest", "citybrain.serving"} <= wanted  # the scan sees them
    assert wanted - loaded == set()
    assert "great_expectations" in loaded  # what the quality gate imports on first use: ~3 s in each task otherwise
    assert "airflow.jobs.scheduler_job_runner" not in loaded  # Airflow itself is started afterwards, as usual


def test_the_stack_starts_its_scheduler_warm():
    argv = stack._airflow_argv(Settings.from_env(), "scheduler")
    assert argv[:3] == [sys.executable, "-m", "citybrain.warm_scheduler"]
    assert argv[3:] == ["scheduler", "--skip-serve-logs"]
    assert stack._airflow_argv(Settings.from_env(), "triggerer")[1:] == ["triggerer", "--skip-serve-logs"]


def test_the_warm_scheduler_hands_its_arguments_to_airflow():
    done = subprocess.run(
        [sys.executable, "-m", "citybrain.warm_scheduler", "scheduler", "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--skip-serve-logs" in done.stdout
    assert "preloaded in" in done.stderr
