"""The same jobs on Sail's distributed runtime give the same tables as on its local runtime.

``SAIL_MODE=local-cluster`` runs Sail's cluster runtime (a driver and workers exchanging
data over RPC, on threads of one server process): the road to Sail on Kubernetes. A small
demo city goes through ingest, refine and every gold job on a local-cluster server and on
the suite's own local-mode engine; every silver and gold table must hold the same rows.

Columns that are different by nature are left out of the comparison: when a row was
written and which run wrote it (batch and refine ids, timestamps of the run).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from citybrain import lake
from citybrain.democity import DEMO_SOURCES, generate
from citybrain.jobs.bronze import ingest
from citybrain.jobs.gold import GOLD_TABLES
from citybrain.jobs.silver import refine
from citybrain.schemas import all_contracts

pytestmark = pytest.mark.slow

SOURCES = sorted(DEMO_SOURCES, key=lambda s: s != "registry")
#: columns that say when and in which run a row was written, not what it holds
RUN_COLUMNS = {"_batch_id", "_ingested_at", "_refined_at", "built_at", "computed_at", "batch_id", "refine_id", "quarantined_at"}
TABLE_RUN_COLUMNS = {"silver.grid": {"updated_at"}}  # there it is when the row was written


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster_remote(tmp_path_factory):
    """A Sail server in local-cluster mode on 127.0.0.1, stopped by its pid."""
    port = _free_port()
    log = tmp_path_factory.mktemp("sail_cluster") / "sail-local-cluster.log"
    code = f"from pysail.spark import SparkConnectServer; SparkConnectServer('127.0.0.1', {port}).start(background=False)"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SAIL_MODE": "local-cluster"}
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None, f"the local-cluster server exited; see {log}"
        time.sleep(0.2)
    yield f"sc://127.0.0.1:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _build(spark, settings) -> None:
    for source in SOURCES:
        ingest.run(spark, settings, source)
    for source in SOURCES:
        refine.refine(spark, settings, source)
    for table in GOLD_TABLES:
        importlib.import_module(f"citybrain.jobs.gold.{table}").run(spark, settings)


def _fingerprint(spark, settings, name: str) -> dict[str, str]:
    """Row count and, per column (the run columns left out), a checksum of its sorted values."""
    df = lake.read(spark, settings, name)
    columns = sorted(c for c in df.columns if c not in RUN_COLUMNS | TABLE_RUN_COLUMNS.get(name, set()))
    rows = df.select(*columns).collect()
    sums = {c: hashlib.sha256("\n".join(sorted(repr(_rounded(r[c])) for r in rows)).encode()).hexdigest() for c in columns}
    return {"rows": str(len(rows)), **sums}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)  # sums may add up in another order across workers
    if isinstance(value, str) and value.startswith('{"') and '"_batch_id"' in value:  # a quarantined record
        return json.dumps({k: v for k, v in json.loads(value).items() if k != "_batch_id"}, sort_keys=True)
    return value


def test_silver_and_gold_are_the_same_on_the_local_cluster_runtime(spark, settings, cluster_remote, tmp_path_factory):
    from citybrain import engine

    root = tmp_path_factory.mktemp("local_cluster_city")
    generate(root / "demo_city", days=14, scale=0.05)
    local = settings.with_(lake_root=str(root / "lake_local"), demo_dir=root / "demo_city")
    cluster = settings.with_(lake_root=str(root / "lake_cluster"), demo_dir=root / "demo_city", spark_remote=cluster_remote)

    _build(spark, local)
    cluster_spark = engine.get_session(cluster, new=True)
    try:
        assert cluster_spark.range(3).count() == 3
        _build(cluster_spark, cluster)
        names = [n for n in sorted(all_contracts()) if n.split(".")[0] in ("silver", "gold", "quarantine") and lake.exists(local, n)]
        assert {"silver.complaint", "silver.ride_trip", "gold.complaint_hotspots"} <= set(names)
        different = {}
        for name in names:
            mine, theirs = _fingerprint(spark, local, name), _fingerprint(cluster_spark, cluster, name)
            if mine != theirs:
                different[name] = sorted(c for c in mine if mine[c] != theirs.get(c))
        assert not different, f"columns that differ between local and local-cluster: {different}"
    finally:
        engine.close_sessions(cluster_remote)
