"""One typed settings object, read from ``CITYBRAIN_*`` environment variables.

The profile switch (``local`` | ``ci`` | ``cluster``) picks where the Spark Connect
session comes from; code never branches on the profile anywhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROFILES = ("local", "ci", "cluster")


class SettingsError(ValueError):
    """A CITYBRAIN_* variable holds a value the project cannot use."""


def _project_root() -> Path:
    """The checkout's root when running from one (the folder holding setup.cfg), else the cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "setup.cfg").exists() else Path.cwd()


def _env(name: str, default: str) -> str:
    value = os.environ.get(f"CITYBRAIN_{name}", "").strip()
    return value or default


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"CITYBRAIN_{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"CITYBRAIN_{name}={raw!r} must be greater than 0")
    return value


def _non_negative_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"CITYBRAIN_{name}={raw!r} is not a number") from None
    if value < 0:
        raise SettingsError(f"CITYBRAIN_{name}={raw!r} must be 0 or more")
    return value


def _port(name: str, default: str) -> int:
    raw = _env(name, default)
    if not raw.isdigit() or int(raw) > 65535:
        raise SettingsError(f"CITYBRAIN_{name}={raw!r} must be a port number")
    return int(raw)


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    """CITYBRAIN_<name>, one of ``allowed`` (the first is the default)."""
    value = _env(name, allowed[0]).lower()
    if value not in allowed:
        raise SettingsError(f"CITYBRAIN_{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class Settings:
    """Where things live and which engine to use.

    lake_root     a local path or an object-store URI (s3://, abfss://, gs://) of the lake
    state_dir     run-time state: engine pid/port file and logs, Airflow home
    demo_dir      where the demo city writes its department drops and planted truth
    profile       local | ci | cluster
    spark_remote  sc://host:port of a Spark 4.1 Connect server; empty = start embedded Sail
    engine_port   the port on 127.0.0.1 of the embedded Sail engine (0 = a free port; 15002 under `citybrain up`)
    airflow_port  the port on 127.0.0.1 of Airflow's api-server under `citybrain up`
    postgres_port the port on 127.0.0.1 (and the socket name) of the stack's PostgreSQL
    scale         demo city size multiplier
    seed          demo city seed
    days          demo city length in days
    pii_key       key for tokenising personal data (a secret: only from the environment; unset =
                  the installation's generated key, see citybrain.privacy)
    drops_follow_links   follow a symbolic link in a drop folder when its target is a regular
                  file inside that folder (off: every link is rejected unread)
    rejected_files       what a rejected drop file does to the ingest run: warn (the good files
                  are taken in, the summary names the rejected ones) or fail (the same, then
                  the run fails naming them)
    reports_dir   where the weekly reports are archived: <reports_dir>/<ISO week>/report.html
    vacuum_retention_days  how long the weekly maintenance keeps files an older version still
                  needs (time travel, rebuilding a past report) before deleting them
    alert_webhook an http(s) URL that receives every task failure as JSON (empty: none)
    """

    lake_root: str
    state_dir: Path
    demo_dir: Path
    profile: str = "local"
    spark_remote: str = ""
    engine_port: int = 0
    airflow_port: int = 8080
    postgres_port: int = 5432
    scale: float = 1.0
    seed: int = 20260831
    days: int = 84
    pii_key: str = field(default="", repr=False)
    drops_follow_links: bool = False
    rejected_files: str = "warn"
    reports_dir: Path = Path("reports")
    vacuum_retention_days: float = 30.0
    alert_webhook: str = field(default="", repr=False)

    @classmethod
    def from_env(cls) -> Settings:
        root = _project_root()
        profile = _env("PROFILE", "ci" if os.environ.get("CI") else "local")
        if profile not in PROFILES:
            raise SettingsError(f"CITYBRAIN_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
        spark_remote = _env("SPARK_REMOTE", "")
        if profile == "cluster" and not spark_remote:
            raise SettingsError("CITYBRAIN_PROFILE=cluster needs CITYBRAIN_SPARK_REMOTE=sc://host:port")
        if spark_remote and not spark_remote.startswith("sc://"):
            raise SettingsError(f"CITYBRAIN_SPARK_REMOTE={spark_remote!r} must look like sc://host:port")
        ports = {
            name: _port(name, default) for name, default in (("ENGINE_PORT", "0"), ("AIRFLOW_PORT", "8080"), ("POSTGRES_PORT", "5432"))
        }
        days_raw = _env("DAYS", "84")
        seed_raw = _env("SEED", "20260831")
        if not days_raw.isdigit() or int(days_raw) < 1:
            raise SettingsError(f"CITYBRAIN_DAYS={days_raw!r} must be a whole number of days >= 1")
        if not seed_raw.isdigit():
            raise SettingsError(f"CITYBRAIN_SEED={seed_raw!r} must be a non-negative whole number")
        alert_webhook = _env("ALERT_WEBHOOK", "")
        if alert_webhook and not alert_webhook.startswith(("http://", "https://")):
            raise SettingsError("CITYBRAIN_ALERT_WEBHOOK must be an http:// or https:// URL")
        return cls(
            lake_root=_resolve_location(_env("LAKE_ROOT", str(root / "lake"))),
            state_dir=Path(_env("STATE_DIR", str(root / ".citybrain"))).resolve(),
            demo_dir=Path(_env("DEMO_DIR", str(root / "demo_city"))).resolve(),
            profile=profile,
            spark_remote=spark_remote,
            engine_port=ports["ENGINE_PORT"],
            airflow_port=ports["AIRFLOW_PORT"],
            postgres_port=ports["POSTGRES_PORT"],
            scale=_positive_float("SCALE", _env("SCALE", "1.0")),
            seed=int(seed_raw),
            days=int(days_raw),
            pii_key=os.environ.get("CITYBRAIN_PII_KEY", ""),
            drops_follow_links=_choice("DROPS_FOLLOW_LINKS", ("no", "yes")) == "yes",
            rejected_files=_choice("REJECTED_FILES", ("warn", "fail")),
            reports_dir=Path(_env("REPORTS_DIR", str(root / "reports"))).expanduser().resolve(),
            vacuum_retention_days=_non_negative_float("VACUUM_RETENTION_DAYS", _env("VACUUM_RETENTION_DAYS", "30")),
            alert_webhook=alert_webhook,
        )

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def is_local_lake(self) -> bool:
        return "://" not in self.lake_root or self.lake_root.startswith("file://")

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"


def _resolve_location(value: str) -> str:
    """Absolute local path for a path, unchanged for a URI."""
    if "://" in value:
        return value.rstrip("/")
    return str(Path(value).expanduser().resolve())
