"""The dashboards kept as code, their rendering per environment, the export clean-up, the
credentials and the Superset config's guards (fast: no Superset server)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from citybrain import serving, superset
from citybrain.schemas import get_contract
from citybrain.settings import Settings


def _assets() -> dict[str, dict]:
    return {str(p.relative_to(superset.ASSETS)): yaml.safe_load(p.read_text()) for p in sorted(superset.ASSETS.rglob("*.yaml"))}


def _of(kind: str) -> dict[str, dict]:
    return {name: doc for name, doc in _assets().items() if name.startswith(f"{kind}/")}


def test_templates_hold_no_path_of_any_machine():
    for path in superset.ASSETS.rglob("*.yaml"):
        text = path.read_text()
        for needle in ("/work/", "/tmp/", "/home/", "/root/", ".citybrain", "duckdb:////"):
            assert needle not in text, f"{path.name} holds {needle!r}"
    (database,) = _of("databases").values()
    assert database["sqlalchemy_uri"] == "duckdb:///" + superset.SERVING_DB_PLACEHOLDER
    assert database["allow_dml"] is False and database["extra"]["engine_params"]["connect_args"]["read_only"] is True


def test_every_reference_between_assets_resolves():
    (database,) = _of("databases").values()
    datasets = {d["uuid"]: d for d in _of("datasets").values()}
    charts = {c["uuid"]: c for c in _of("charts").values()}
    assert all(d["database_uuid"] == database["uuid"] for d in datasets.values())
    assert all(c["dataset_uuid"] in datasets for c in charts.values())
    placed = set()
    for dashboard in _of("dashboards").values():
        uuids = [n["meta"]["uuid"] for n in dashboard["position"].values() if isinstance(n, dict) and n.get("type") == "CHART"]
        assert len(uuids) == len(set(uuids)), f"{dashboard['slug']} places a chart twice"
        assert set(uuids) <= set(charts), dashboard["slug"]
        placed |= set(uuids)
    assert placed == set(charts), "every chart is on a dashboard"
    assert {d["slug"] for d in _of("dashboards").values()} == {
        "city-overview",
        "complaint-hotspots",
        "service-performance",
        "data-quality",
        "stability-risk",
        "ride-hailing-demand",
    }


def test_datasets_of_lake_tables_have_the_contract_columns():
    for dataset in _of("datasets").values():
        if dataset["sql"] or dataset["schema"] != "gold":
            continue
        contract = get_contract(f"{dataset['schema']}.{dataset['table_name']}")
        columns = {c["column_name"] for c in dataset["columns"]}
        assert set(contract.column_names) <= columns, f"{contract.name}: the dataset lacks {set(contract.column_names) - columns}"


def _settings(tmp_path: Path, profile: str = "local") -> Settings:
    return Settings.from_env().with_(state_dir=tmp_path / "state", lake_root=str(tmp_path / "lake"), profile=profile)


def test_render_fills_the_serving_path_and_contract_descriptions(tmp_path):
    serving_db = tmp_path / "serving" / "citybrain.duckdb"
    out = superset.render_assets(_settings(tmp_path), serving_db, tmp_path / "rendered")
    database = yaml.safe_load(next((out / "databases").glob("*.yaml")).read_text())
    assert database["sqlalchemy_uri"] == f"duckdb:///{serving_db}"
    hotspots = yaml.safe_load((out / "datasets" / "CityBrain" / "complaint_hotspots.yaml").read_text())
    described = {c["column_name"]: c["description"] for c in hotspots["columns"]}
    contract = get_contract("gold.complaint_hotspots")
    assert described["alert_confidence"] == contract.column("alert_confidence").description
    assert described["district_code"] == serving.ADDED_COLUMNS["district_code"]
    assert contract.grain in hotspots["description"]
    for path in (out / "datasets").rglob("*.yaml"):
        dataset = yaml.safe_load(path.read_text())
        if not dataset["sql"] and dataset["schema"] == "gold":
            table = get_contract(f"gold.{dataset['table_name']}")
            silent = {c.name for c in table.columns if not c.description}  # the contract says nothing about these
            undescribed = {c["column_name"] for c in dataset["columns"] if not c["description"]}
            assert undescribed <= silent, (path.name, undescribed - silent)


def test_clean_export_templates_paths_and_places_each_chart_once():
    chart = {"slice_name": "A chart", "uuid": "c-1", "params": {}, "query_context": "{...}", "dataset_uuid": "d-1"}
    position = {
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": ["ROW-1", "ROW-N-X"]},
        "ROW-1": {"type": "ROW", "id": "ROW-1", "children": ["CHART-1"]},
        "CHART-1": {"type": "CHART", "id": "CHART-1", "children": [], "meta": {"chartId": 7, "sliceName": "A chart", "uuid": None}},
        "ROW-N-X": {"type": "ROW", "id": "ROW-N-X", "children": ["CHART-X"]},
        "CHART-X": {"type": "CHART", "id": "CHART-X", "children": [], "meta": {"chartId": 7, "sliceName": "A chart", "uuid": "c-1"}},
    }
    files = {
        "export/metadata.yaml": yaml.safe_dump({"version": "1.0.0", "type": "assets", "timestamp": "now"}),
        "export/databases/CityBrain.yaml": yaml.safe_dump({"sqlalchemy_uri": "duckdb:////somewhere/citybrain.duckdb", "uuid": "db"}),
        "export/datasets/CityBrain/t_3.yaml": yaml.safe_dump(
            {"table_name": "t", "schema": "gold", "sql": None, "description": "old", "columns": [{"column_name": "a", "description": "x"}]}
        ),
        "export/charts/A_chart_7.yaml": yaml.safe_dump(chart),
        "export/dashboards/D_1.yaml": yaml.safe_dump({"slug": "d", "position": position}),
    }
    cleaned = {name: yaml.safe_load(text) for name, text in superset.clean_export(files).items()}
    assert set(cleaned) == {
        "metadata.yaml",
        "databases/CityBrain.yaml",
        "datasets/CityBrain/t.yaml",
        "charts/A_chart.yaml",
        "dashboards/D.yaml",
    }
    assert "timestamp" not in cleaned["metadata.yaml"]
    assert cleaned["databases/CityBrain.yaml"]["sqlalchemy_uri"] == "duckdb:///" + superset.SERVING_DB_PLACEHOLDER
    assert cleaned["datasets/CityBrain/t.yaml"]["description"] is None
    assert cleaned["datasets/CityBrain/t.yaml"]["columns"][0]["description"] is None
    assert cleaned["charts/A_chart.yaml"]["query_context"] is None
    layout = cleaned["dashboards/D.yaml"]["position"]
    assert layout["GRID_ID"]["children"] == ["ROW-1"] and "CHART-X" not in layout
    assert layout["CHART-1"]["meta"]["uuid"] == "c-1"


def test_credentials_are_generated_once_and_kept_private(tmp_path, monkeypatch):
    for var in superset._SECRET_VARS.values():
        monkeypatch.delenv(var, raising=False)
    settings = _settings(tmp_path)
    first, path = superset.credentials(settings)
    again, _ = superset.credentials(settings)
    assert first == again and set(first) == {"secret_key", "admin", "city_analyst", "district_analyst"}
    assert len(set(first.values())) == 4 and all(len(v) >= 16 for v in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("CITYBRAIN_SUPERSET_ADMIN_PASSWORD", "from-the-environment")
    assert superset.credentials(settings)[0]["admin"] == "from-the-environment"


def test_cluster_profile_generates_nothing(tmp_path, monkeypatch):
    for var in superset._SECRET_VARS.values():
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(superset.SupersetError, match="CITYBRAIN_SUPERSET_SECRET_KEY"):
        superset.credentials(_settings(tmp_path, "cluster"))
    assert not (tmp_path / "state" / "superset" / "credentials.json").exists()


def test_a_district_code_cannot_carry_sql(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYBRAIN_SUPERSET_DISTRICT", "1' OR '1'='1")
    with pytest.raises(superset.SupersetError, match="must be a district code"):
        superset.district_code(_settings(tmp_path))


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    full = {**base, "CITYBRAIN_STATE_DIR": str(tmp_path / "state"), "CITYBRAIN_LAKE_ROOT": str(tmp_path / "lake"), **env}
    return subprocess.run([sys.executable, "-m", "citybrain.cli", *args], env=full, capture_output=True, text=True, timeout=120)


def test_expected_failures_are_one_line_without_traceback(tmp_path):
    cluster = _cli(tmp_path, "superset", "start", CITYBRAIN_PROFILE="cluster", CITYBRAIN_SPARK_REMOTE="sc://127.0.0.1:1")
    assert cluster.returncode == 1 and "CITYBRAIN_SUPERSET_SECRET_KEY" in cluster.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = _cli(tmp_path, "superset", "start", "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and "is in use" in busy.stderr
    status = _cli(tmp_path, "superset", "status")
    assert status.returncode == 1 and status.stdout.strip() == "not running"
    for done in (cluster, busy):
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def _config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Load infra/superset/superset_config.py in a child process and print its guards."""
    config = str(superset.INFRA / "superset_config.py")
    code = (
        f"import json, runpy; c = runpy.run_path({config!r}); "
        "print(json.dumps({'rls': c['FEATURE_FLAGS'].get('RLS_IN_SQLLAB'), 'functions': sorted(c['DISALLOWED_SQL_FUNCTIONS']['duckdb']),"
        " 'cache': [c['DATA_CACHE_CONFIG']['CACHE_TYPE'], c['CACHE_CONFIG']['CACHE_TYPE']], 'uri': c['SQLALCHEMY_DATABASE_URI'], 'key': c['SECRET_KEY']}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("CITYBRAIN_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "CITYBRAIN_SUPERSET_HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_turns_on_sql_lab_rls_refuses_file_functions_and_caches_nothing(tmp_path):
    done = _config(tmp_path, CITYBRAIN_SUPERSET_SECRET_KEY="k" * 40)
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert config["rls"] is True
    assert {
        "delta_scan",
        "read_parquet",
        "parquet_scan",
        "read_csv",
        "read_csv_auto",
        "read_json",
        "read_text",
        "read_blob",
        "glob",
    } <= set(config["functions"])
    assert config["cache"] == ["NullCache", "NullCache"]
    assert config["uri"].startswith(f"sqlite:///{tmp_path}/superset.db") and config["key"] == "k" * 40
    pg = _config(tmp_path, CITYBRAIN_SUPERSET_SECRET_KEY="k" * 40, CITYBRAIN_SUPERSET_DATABASE_URI="postgresql://u:p@db/superset")
    assert json.loads(pg.stdout)["uri"] == "postgresql://u:p@db/superset"


def test_config_refuses_to_start_a_cluster_without_a_secret_key(tmp_path):
    (tmp_path / "credentials.json").write_text(json.dumps({"secret_key": "local-only"}))
    assert json.loads(_config(tmp_path).stdout)["key"] == "local-only"
    cluster = _config(tmp_path, CITYBRAIN_PROFILE="cluster")
    assert cluster.returncode != 0 and "CITYBRAIN_SUPERSET_SECRET_KEY is not set" in cluster.stderr


def test_stability_datasets_carry_the_district_and_no_person():
    datasets = {d["table_name"]: d for d in _of("datasets").values()}
    stability = {name: d for name, d in datasets.items() if name.startswith("stability_")}
    assert set(stability) == {"stability_risk", "stability_red_list_latest_week", "stability_contributions_latest_week"}
    for name, dataset in stability.items():
        columns = {c["column_name"] for c in dataset["columns"]}
        assert "district_code" in columns, f"{name}: row-level security needs district_code"
        assert not {c for c in columns if any(w in c for w in ("token", "masked", "phone", "petitioner", "caller"))}, name
    red_list = next(c for c in _of("charts").values() if c["slice_name"].startswith("Red list of communities"))
    assert {"unit_name", "level", "score", "top1_indicator", "warning_probability"} <= set(red_list["params"]["all_columns"])
