"""The lake as the report sees it: every table it reads pinned at one Delta version.

The report reads with the ``deltalake`` package, not Spark: it needs Delta time travel by
version number (a rebuild reads exactly the versions a past build recorded), which
``DeltaTable(path, version=v)`` gives on any engine (Sail has no ``DESCRIBE HISTORY`` and
its ``versionAsOf`` support is not something the project tests), and its reads are small
(one week of gold rows, a few hundred ops rows) — a Spark round trip per read would cost
more than the read. Partition filters keep them small: one ``week_start`` of the hotspots,
one week of ``dt`` of each quarantine table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from citybrain.lake import table_location
from citybrain.settings import Settings


class VersionUnreadable(RuntimeError):
    """A pinned version of a table cannot be read any more (vacuumed, or the table was replaced)."""


@dataclass(frozen=True)
class LakeSnapshot:
    """Tables pinned at Delta versions; a table not in ``versions`` did not exist and is not read."""

    settings: Settings
    versions: dict[str, int] = field(default_factory=dict)

    @classmethod
    def latest(cls, settings: Settings, names: Iterable[str]) -> LakeSnapshot:
        """Pin each existing table of ``names`` at its current version."""
        from deltalake import DeltaTable

        versions = {}
        for name in sorted(set(names)):
            location = table_location(settings, name)
            if DeltaTable.is_deltatable(location):
                versions[name] = DeltaTable(location).version()
        return cls(settings, versions)

    @classmethod
    def from_json(cls, settings: Settings, text: str) -> LakeSnapshot:
        return cls(settings, {str(k): int(v) for k, v in json.loads(text).items()})

    def to_json(self) -> str:
        return json.dumps(dict(sorted(self.versions.items())), sort_keys=True)

    def has(self, name: str) -> bool:
        return name in self.versions

    def read(self, name: str, columns: list[str] | None = None, where: list[tuple] | None = None) -> pd.DataFrame | None:
        """Rows of ``name`` at its pinned version, or None if it was absent.

        ``where`` is a list of ``(column, op, value)`` conditions, all of which must hold;
        op is one of ``= != < <= > >= in``. The read goes through a pyarrow dataset: the
        same read through ``DeltaTable.to_pyarrow_table`` aborted the interpreter at exit
        now and then (deltalake 1.6.6, "terminate called without an active exception").
        """
        from deltalake import DeltaTable

        if name not in self.versions:
            return None
        version = self.versions[name]
        try:
            dataset = DeltaTable(table_location(self.settings, name), version=version).to_pyarrow_dataset()
            table = dataset.to_table(columns=columns, filter=_expression(where or []))
        except Exception as exc:  # deltalake and pyarrow raise their own types for a missing log or data file
            raise VersionUnreadable(f"{name} version {version} cannot be read ({exc}); was the table vacuumed past that version?") from exc
        return table.to_pandas()


_OPERATORS = {
    "=": lambda f, v: f == v,
    "!=": lambda f, v: f != v,
    "<": lambda f, v: f < v,
    "<=": lambda f, v: f <= v,
    ">": lambda f, v: f > v,
    ">=": lambda f, v: f >= v,
    "in": lambda f, v: f.isin(list(v)),
}


def _expression(where: list[tuple]):
    """A pyarrow dataset filter: the AND of ``(column, op, value)`` conditions; None for no condition."""
    import pyarrow.dataset as ds

    expression = None
    for column, op, value in where:
        condition = _OPERATORS[op](ds.field(column), value)
        expression = condition if expression is None else expression & condition
    return expression
