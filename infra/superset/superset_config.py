"""Superset configuration of CityBrain (loaded through SUPERSET_CONFIG_PATH by ``citybrain superset``).

Read by Superset's own virtual environment (.venv-superset), so it imports nothing from
citybrain: everything it needs comes from CITYBRAIN_* environment variables, which
``citybrain superset start`` sets.

    CITYBRAIN_SUPERSET_HOME          state folder (metadata DB, secret key); default ./.citybrain/superset
    CITYBRAIN_SUPERSET_SECRET_KEY    the session-signing key; under the local and ci profiles a key
                                     generated once and kept in
                                     <home>/credentials.json is used when unset
    CITYBRAIN_SUPERSET_DATABASE_URI  metadata DB (e.g. postgresql://user:pw@host/superset); default SQLite
    CITYBRAIN_PROFILE                local | ci | cluster (cluster: no key file fallback)

What it guarantees (each checked by tests/superset):
- query results are never cached, so a new Delta commit shows on the next query;
- row-level security also applies to SQL Lab (feature flag RLS_IN_SQLLAB);
- SQL Lab refuses DuckDB's file-reading functions, so nobody reads lake files around the views.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from sqlalchemy import event as _sqlalchemy_event
from sqlalchemy.engine import Engine as _Engine

_HOME = Path(os.environ.get("CITYBRAIN_SUPERSET_HOME") or Path.cwd() / ".citybrain" / "superset").resolve()
_PROFILE = os.environ.get("CITYBRAIN_PROFILE", "local").strip() or "local"


def _secret_key() -> str:
    key = os.environ.get("CITYBRAIN_SUPERSET_SECRET_KEY", "").strip()
    key_file = _HOME / "credentials.json"  # written by citybrain superset start (local and ci profiles)
    if not key and _PROFILE != "cluster" and key_file.exists():
        key = json.loads(key_file.read_text()).get("secret_key", "")
    if not key:
        raise RuntimeError(
            "CITYBRAIN_SUPERSET_SECRET_KEY is not set"
            + (" (the cluster profile has no generated key)" if _PROFILE == "cluster" else f" and {key_file} does not exist")
        )
    return key


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = os.environ.get("CITYBRAIN_SUPERSET_DATABASE_URI", "").strip() or (
    f"sqlite:///{_HOME / 'superset.db'}?check_same_thread=false"
)

APP_NAME = "CityBrain"

# Nothing is cached: every chart and SQL Lab query reads the serving views, which read the
# Delta tables' latest commit (a rebuilt gold table shows without a restart).
CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_DEFAULT_TIMEOUT = 0
RESULTS_BACKEND = None

FEATURE_FLAGS = {
    # row-level security rules also rewrite SQL Lab queries on tables that have a dataset
    "RLS_IN_SQLLAB": True,
    "DASHBOARD_RBAC": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
}

# DuckDB can read any file it can reach (delta_scan, read_parquet, 'file.csv' as a table, ...).
# The serving views are the only way to the lake: SQL Lab and charts refuse these functions.
DISALLOWED_SQL_FUNCTIONS = {
    "duckdb": {
        "delta_scan",
        "iceberg_scan",
        "parquet_scan",
        "read_parquet",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "read_csv",
        "read_csv_auto",
        "sniff_csv",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_json_objects_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_text",
        "read_blob",
        "read_xlsx",
        "st_read",
        "glob",
        "getenv",
        "query",
        "query_table",
        "duckdb_settings",
        "duckdb_extensions",
        "duckdb_databases",
        "which_secret",
        "duckdb_secrets",
        "load_extension",
    },
}


def _harden_duckdb(dbapi_connection, _record) -> None:
    """Every DuckDB connection: load the delta extension by path (no download), then allow file
    access only to the directories of the tables the serving views read, and lock the
    configuration. No query can then read or write any other file (bronze and silver with their
    personal data, the metadata DB, the credentials, /etc) or change these settings back.

    DuckDB shares one database instance, and so one configuration, between the connections a
    process opens to the same file: the first connection hardens it, the others find it locked.
    """
    if not type(dbapi_connection).__module__.startswith("duckdb_engine"):
        return
    with _HARDENING:
        if dbapi_connection.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
            return
        import duckdb
        import duckdb_extension_delta

        extension = Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "delta.duckdb_extension"
        dbapi_connection.execute(f"LOAD '{extension}'")
        served = set()
        for (sql,) in dbapi_connection.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall():
            served.update(path.replace("''", "'") for path in re.findall(r"delta_scan\('((?:[^']|'')*)'\)", sql or ""))
        allowed = ", ".join("'" + (path.rstrip("/") + "/").replace("'", "''") + "'" for path in sorted(served))
        dbapi_connection.execute(f"SET allowed_directories = [{allowed}]")
        dbapi_connection.execute("SET enable_external_access = false")
        dbapi_connection.execute("SET lock_configuration = true")


_HARDENING = threading.Lock()
_sqlalchemy_event.listen(_Engine, "connect", _harden_duckdb)

# the SQLite metadata database is not a database analysts may add
PREVENT_UNSAFE_DB_CONNECTIONS = True

# Base maps are tile servers on the internet; without one the deck.gl layers draw on a blank map.
MAPBOX_API_KEY = ""

SUPERSET_WEBSERVER_TIMEOUT = 120
SQLLAB_TIMEOUT = 120
ROW_LIMIT = 50000
