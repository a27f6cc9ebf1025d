"""The cluster deployments of infra/cluster/ agree with the code and the pins, so they cannot rot unseen.

No Kubernetes runs here: these tests parse the manifests, the Helm values, the Spark
configuration and the Dockerfiles, and check what must match across them and the project
(ports, service names, the environment variables the settings read, the Sail keys the
installed pysail knows, the Spark and Airflow releases of infra/constraints.txt).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from citybrain.dag_defaults import SPARK_POOL
from citybrain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "infra" / "cluster"
NAMESPACE = "citybrain"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _one(docs: list[dict], kind: str, name: str) -> dict:
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _pin(package: str) -> str:
    [version] = re.findall(rf"^{re.escape(package)}==(\S+)$", (ROOT / "infra" / "constraints.txt").read_text(), re.M)
    return version


def _spark_conf() -> dict[str, str]:
    lines = (CLUSTER / "spark" / "spark-defaults.conf").read_text().splitlines()
    return dict(line.split(None, 1) for line in lines if line.strip() and not line.startswith("#"))


def _lake_env() -> dict[str, str]:
    lines = (CLUSTER / "base" / "lake.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _citybrain_variables() -> set[str]:
    """Every CITYBRAIN_* variable the code reads (settings read theirs as _env("NAME"))."""
    names = set()
    for path in (ROOT / "citybrain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names |= set(re.findall(r"CITYBRAIN_[A-Z0-9_]+[A-Z0-9]", text))
        if path.name == "settings.py":
            names |= {f"CITYBRAIN_{n}" for n in re.findall(r'"([A-Z][A-Z0-9_]+)", "', text)}
    return names


SAIL = _docs(CLUSTER / "sail" / "sail.yaml")
SPARK = _docs(CLUSTER / "spark" / "spark-connect.yaml")
VALUES = yaml.safe_load((CLUSTER / "airflow" / "values.yaml").read_text())


@pytest.mark.parametrize("path", sorted(CLUSTER.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CLUSTER)))
def test_every_manifest_parses_and_names_its_namespace(path):
    docs = _docs(path)
    assert docs
    for doc in docs:
        if path.name == "values.yaml":
            continue
        assert doc.get("apiVersion") and doc.get("kind"), doc
        if doc["kind"] == "Kustomization":
            assert doc["namespace"] == NAMESPACE
            for resource in doc["resources"]:
                assert (path.parent / resource).exists(), resource
        elif doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]


def test_sail_server_runs_in_kubernetes_cluster_mode_on_the_port_its_service_and_airflow_use():
    deployment = _one(SAIL, "Deployment", "sail-spark-server")
    pod = deployment["spec"]["template"]["spec"]
    [server] = pod["containers"]
    env = _env(server)
    port = int(server["args"][server["args"].index("--port") + 1])
    assert server["command"] == ["sail"] and server["args"][:2] == ["spark", "server"]
    assert [p["containerPort"] for p in server["ports"]] == [port]
    service = _one(SAIL, "Service", "sail-spark-server")
    assert [p["port"] for p in service["spec"]["ports"]] == [port]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    remote = next(e["value"] for e in VALUES["env"] if e["name"] == "CITYBRAIN_SPARK_REMOTE")
    assert remote == f"sc://sail-spark-server.{NAMESPACE}.svc:{port}"

    assert env["SAIL_MODE"] == "kubernetes-cluster"
    assert env["SAIL_KUBERNETES__NAMESPACE"] == NAMESPACE
    assert env["SAIL_KUBERNETES__IMAGE"] == server["image"]
    account = env["SAIL_KUBERNETES__WORKER_SERVICE_ACCOUNT_NAME"]
    assert account == pod["serviceAccountName"] == _one(SAIL, "ServiceAccount", account)["metadata"]["name"]
    [rule] = _one(SAIL, "Role", "sail-workers")["rules"]
    assert rule["resources"] == ["pods"] and {"create", "delete", "watch"} <= set(rule["verbs"])
    binding = _one(SAIL, "RoleBinding", "sail-workers")
    assert binding["subjects"][0]["name"] == account and binding["roleRef"]["name"] == "sail-workers"


def test_sail_workers_get_the_lake_settings_and_every_sail_key_is_one_the_pinned_sail_knows():
    import pysail

    [server] = _one(SAIL, "Deployment", "sail-spark-server")["spec"]["template"]["spec"]["containers"]
    env = _env(server)
    template = json.loads(env["SAIL_KUBERNETES__WORKER_POD_TEMPLATE"])
    [worker] = template["spec"]["containers"]
    assert worker["envFrom"] == server["envFrom"]
    assert {e[next(iter(e))]["name"] for e in server["envFrom"]} == {"citybrain-lake"}

    native = b"".join(p.read_bytes() for p in Path(pysail.__file__).parent.glob("_native*.so"))
    keys = [name.removeprefix("SAIL_").lower().replace("__", ".") for name in env if name.startswith("SAIL_") and name != "SAIL_MODE"]
    assert keys and all(key.encode() in native for key in keys), [k for k in keys if k.encode() not in native]
    image = (CLUSTER / "image" / "Dockerfile").read_text()  # Sail and the jobs at the project's pins
    assert "COPY infra/constraints.txt /opt/citybrain/constraints.txt" in image and "--constraint /opt/citybrain/constraints.txt" in image


def test_the_spark_connect_server_uses_delta_for_the_pinned_spark_release_and_its_own_ports():
    conf = _spark_conf()
    client = _pin("pyspark-client")
    spark_minor = ".".join(client.split(".")[:2])
    delta = next(p for p in conf["spark.jars.packages"].split(",") if p.startswith("io.delta:"))
    assert delta.startswith(f"io.delta:delta-spark_{spark_minor}_2.13:")
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert conf["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert f'"pyspark=={client}"' in (CLUSTER / "spark" / "Dockerfile").read_text()

    deployment = _one(SPARK, "Deployment", "spark-connect")
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports["spark-connect"] == int(conf["spark.connect.grpc.binding.port"])
    assert [p["port"] for p in _one(SPARK, "Service", "spark-connect")["spec"]["ports"]] == [ports["spark-connect"]]
    driver = _one(SPARK, "Service", "spark-connect-driver")
    assert conf["spark.driver.host"] == f"spark-connect-driver.{NAMESPACE}.svc" and driver["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["port"] for p in driver["spec"]["ports"]} == {
        "driver": int(conf["spark.driver.port"]),
        "block-manager": int(conf["spark.driver.blockManager.port"]),
    }
    assert conf["spark.kubernetes.namespace"] == NAMESPACE
    assert conf["spark.kubernetes.container.image"] == server["image"]
    assert conf["spark.kubernetes.authenticate.driver.serviceAccountName"] == deployment["spec"]["template"]["spec"]["serviceAccountName"]
    [mount] = server["volumeMounts"]
    assert mount["mountPath"] == "/usr/local/lib/python3.11/site-packages/pyspark/conf" and server["args"][0].startswith(
        "/usr/local/lib/python3.11/site-packages/pyspark/bin/"
    )


def test_the_lake_is_on_s3_for_spark_sail_and_deltalake_alike():
    conf, lake = _spark_conf(), _lake_env()
    assert lake["CITYBRAIN_LAKE_ROOT"].startswith("s3://")
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == lake["AWS_ENDPOINT_URL"] == lake["AWS_ENDPOINT"]
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == lake["AWS_REGION"]
    assert "hadoop-aws" in conf["spark.jars.packages"]


def test_airflow_runs_the_projects_dags_on_the_kubernetes_executor_with_the_spark_pool():
    assert VALUES["executor"] == "KubernetesExecutor"
    assert VALUES["airflowVersion"] == _pin("apache-airflow")
    assert VALUES["images"]["airflow"]["repository"] == "citybrain"
    dockerfile = (CLUSTER / "image" / "Dockerfile").read_text()
    assert f"AIRFLOW__CORE__DAGS_FOLDER={VALUES['config']['core']['dags_folder']}" in dockerfile
    assert f"COPY dags/ {VALUES['config']['core']['dags_folder']}/" in dockerfile
    assert f"airflow pools set {SPARK_POOL} " in VALUES["migrateDatabaseJob"]["args"][-1]
    mounted = {m["mountPath"] for m in VALUES["volumeMounts"]}
    assert next(e["value"] for e in VALUES["env"] if e["name"] == "CITYBRAIN_DEMO_DIR") in mounted


def test_every_citybrain_variable_the_deployments_set_is_one_the_code_reads_and_the_settings_accept(monkeypatch):
    known = _citybrain_variables()
    named = set(_lake_env()) | {e["name"] for e in VALUES["env"]}
    for path in CLUSTER.rglob("*"):
        if path.is_file():
            named |= set(re.findall(r"CITYBRAIN_[A-Z0-9_]+[A-Z0-9]", path.read_text(encoding="utf-8")))
    citybrain = {n for n in named if n.startswith("CITYBRAIN_")}
    assert citybrain and citybrain <= known, citybrain - known

    for name in known:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**_lake_env(), **{e["name"]: e["value"] for e in VALUES["env"]}}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CITYBRAIN_PII_KEY", "k" * 32)  # from the secret citybrain-lake
    settings = Settings.from_env()
    assert settings.profile == "cluster" and settings.lake_root == _lake_env()["CITYBRAIN_LAKE_ROOT"]
    assert settings.spark_remote.startswith("sc://sail-spark-server.")
