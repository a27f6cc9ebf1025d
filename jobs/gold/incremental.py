"""Incremental gold builds: what changed in silver since a gold table's last build.

A gold job built incrementally records, after each write, a watermark in ``ops.gold_builds``:
the silver tables it read (table id and Delta version), its fingerprint (parameters, contract,
build rules) and the gold table's version after the write. The next build asks ``plan``:

- **full** when there is any doubt: no watermark (first build), ``full=True`` (the job's ``run``),
  another fingerprint (a parameter, the contract or the rules changed), the gold table moved
  on since (another writer, a repair, ``citybrain maintain``), a silver table replaced (another
  id), a commit since the recorded version no longer readable, or a silver table not partitioned by ``dt``;
- otherwise **the silver days that changed**: the ``dt`` partitions of every data file added or
  removed by the commits between the recorded version and now. A MERGE that replaces a row
  rewrites its file or gives it a deletion vector (a ``remove`` and an ``add`` of it), so both
  the new version's day and the old version's day are there (a row that moves day too), and a
  late batch for an old day names that old day. The job turns those days into the gold
  periods they can affect (its own rule, e.g. a trip's drop-off the next day).

Reading those commits costs the number of files they name, not the rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from citybrain import lake
from citybrain.schemas import get_contract
from citybrain.schemas.ops import GOLD_BUILDS
from citybrain.settings import Settings

#: commits that rewrite files without changing a row (``citybrain maintain``): a gold table may have
#: them after its recorded build and still be built incrementally
DATA_PRESERVING = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


@dataclass(frozen=True)
class Plan:
    """What a build must do: ``full`` (with ``reason``), or recompute what ``changed_days`` can affect."""

    full: bool
    reason: str | None = None
    changed_days: frozenset[date] = frozenset()
    inputs: dict[str, dict] = field(default_factory=dict)  # what this build reads: {table: {id, version}}
    state: dict = field(default_factory=dict)  # what the last build kept (job-specific)


def fingerprint(table: str, params, rules: str) -> str:
    """One hash of the job's parameters, the table's contract and the job's build rules (a text the
    job changes whenever its logic changes what it writes)."""
    text = "\n".join((repr(params), get_contract(table).ddl(), repr(get_contract(table).partition_by), rules))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_versions(settings: Settings, inputs: tuple[str, ...]) -> dict[str, dict]:
    from deltalake import DeltaTable

    found = {}
    for name in inputs:
        current = DeltaTable(lake.table_location(settings, name))
        found[name] = {"id": current.metadata().id, "version": current.version()}
    return found


def unchanged_since(settings: Settings, table: str, version: int) -> bool:
    """Whether ``table`` holds the rows it held at ``version``: no commit since, or only compactions and vacuums."""
    if not lake.exists(settings, table):
        return False
    newer = lake.version(settings, table) - version
    if newer < 0:
        return False
    commits = lake.history(settings, table, newer) if newer else []  # the newest ``newer`` commits: those after it
    return all(c.get("operation") in DATA_PRESERVING for c in commits)


def last_build(settings: Settings, table: str) -> dict | None:
    """The newest row of ``ops.gold_builds`` for ``table``, or None."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    if not lake.exists(settings, GOLD_BUILDS.name):
        return None
    builds = DeltaTable(lake.table_location(settings, GOLD_BUILDS.name)).to_pyarrow_table()
    builds = builds.filter(pc.equal(builds["table"], table))
    if builds.num_rows == 0:
        return None
    return builds.sort_by([("built_at", "descending")]).slice(0, 1).to_pylist()[0]


def changed_days(settings: Settings, name: str, since: dict, now: dict) -> frozenset[date] | str:
    """The ``dt`` values of the files added or removed in ``name`` from ``since`` to ``now`` (each
    {id, version}), or why they cannot be known (a text).

    Read from the commits in between (``_delta_log/<version>.json``), not by comparing the two
    versions' file lists: a MERGE into a table with deletion vectors (schemas.contract) keeps a
    file whose rows it replaced and gives it a deletion vector, so the file's path is in both
    lists and only its commit (a ``remove`` and an ``add`` of that path) names its day."""
    from deltalake import DeltaTable

    location = lake.table_location(settings, name)
    current = DeltaTable(location, version=now["version"])
    if current.metadata().id != since["id"]:
        return f"{name} was replaced since the last build"
    if "dt" not in current.metadata().partition_columns:
        return f"{name} is not partitioned by dt"
    days: set[date] = set()
    for version in range(since["version"] + 1, now["version"] + 1):
        try:
            actions = _commit_actions(location, version)
        except OSError as exc:  # a log cleaned up: rebuild whole
            return f"{name} version {version}'s commit cannot be read ({type(exc).__name__})"
        for action in actions:
            change = action.get("add") or action.get("remove")
            if change is None:
                continue
            day = (change.get("partitionValues") or {}).get("dt")
            if day is None:
                return f"{name} version {version} changed a file without a day ({change.get('path')})"
            days.add(date.fromisoformat(day))
    return frozenset(days)


def _commit_actions(location: str, version: int) -> list[dict]:
    """The actions of one Delta commit (one JSON object per line)."""
    import pyarrow.fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(location if "://" in location else f"file://{location}")
    with filesystem.open_input_stream(f"{root}/_delta_log/{version:020d}.json") as stream:
        return [json.loads(line) for line in stream.read().decode().splitlines() if line.strip()]


def plan(settings: Settings, table: str, inputs: tuple[str, ...], fingerprint_: str, *, full: bool = False) -> Plan:
    """Whether ``table`` must be built whole, or which silver days changed since its last build."""
    versions = input_versions(settings, inputs)
    previous = last_build(settings, table)
    reason = None
    if full:
        reason = "a full build was asked for"
    elif previous is None:
        reason = "no earlier build recorded"
    elif previous["fingerprint"] != fingerprint_:
        reason = "parameters, contract or build rules changed"
    elif not unchanged_since(settings, table, previous["gold_version"]):
        reason = f"{table} changed since its last recorded build"
    elif problem := lake.layout_problem(settings, table):
        reason = problem
    if reason:
        return Plan(True, reason, inputs=versions)
    recorded = json.loads(previous["inputs"])
    days: frozenset[date] = frozenset()
    for name in inputs:
        if name not in recorded:
            return Plan(True, f"{name} was not read by the last build", inputs=versions)
        changed = changed_days(settings, name, recorded[name], versions[name])
        if isinstance(changed, str):
            return Plan(True, changed, inputs=versions)
        days |= changed
    return Plan(False, changed_days=days, inputs=versions, state=json.loads(previous["state"] or "{}"))


def record_build(
    settings: Settings,
    table: str,
    plan_: Plan,
    fingerprint_: str,
    *,
    rows: int,
    state: dict,
    days: tuple[date, date] | None = None,
) -> None:
    """Append this build's watermark to ``ops.gold_builds`` (after the gold write: a build that fails
    before it leaves the previous watermark, and the next build recomputes at least as much)."""
    lake.append_rows(
        settings,
        GOLD_BUILDS.name,
        [
            {
                "table": table,
                "mode": "full" if plan_.full else "incremental",
                "reason": plan_.reason,
                "fingerprint": fingerprint_,
                "gold_version": lake.version(settings, table),
                "inputs": json.dumps(plan_.inputs, sort_keys=True),
                "state": json.dumps(state, sort_keys=True),
                "days_from": days[0] if days else None,
                "days_to": days[1] if days else None,
                "rows": rows,
                "built_at": datetime.now(UTC),
            }
        ],
    )
