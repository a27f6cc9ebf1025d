"""Side-by-side benchmark: each CityBrain stage against a hand-written DuckDB reference.

A ``Reference`` recomputes one CityBrain table in DuckDB from the same Delta inputs the
product's job reads (bronze for a silver entity, silver for a gold table). The benchmark
times both and prints product time / reference time per stage; the agreement test checks
that both give the same number of rows and the same checksum of the key columns.

``key_checksum`` is the one checksum both sides go through, computed by DuckDB over any
relation (the product's Delta table through ``delta_scan`` or the reference's output), so
a difference in the checksum is a difference in the data, never in the hashing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from citybrain.settings import Settings


@dataclass(frozen=True)
class Reference:
    """How DuckDB recomputes one table: ``build`` creates table ``name`` (e.g. ``ref_silver_complaint``)
    in the connection and returns its row count; ``key_columns`` are compared with the product's table."""

    table: str  # the product's table, "layer.name"
    key_columns: tuple[str, ...]
    build: Callable[..., int]  # build(connection, settings, name) -> rows written

    @property
    def stage(self) -> str:
        return self.table.split(".")[0]


def key_checksum(connection, relation: str, key_columns: tuple[str, ...]) -> tuple[int, int]:
    """(rows, order-independent checksum of the key columns) of ``relation`` (a table name or a
    parenthesised query). Floats are rounded to 6 decimals and timestamps compared in UTC, so the
    two sides agree when their values do."""
    parts = ", ".join(_canonical(c) for c in key_columns)
    rows, total = connection.execute(
        f"SELECT count(*), coalesce(sum(hash({parts})::HUGEINT) % 18446744073709551616, 0) FROM {relation}"
    ).fetchone()
    return int(rows), int(total)


def _canonical(column: str) -> str:
    quoted = f'"{column}"'
    return (
        f"CASE WHEN typeof({quoted}) IN ('DOUBLE', 'FLOAT') THEN round(TRY_CAST({quoted} AS DOUBLE), 6)::VARCHAR"
        f" WHEN typeof({quoted}) LIKE 'TIMESTAMP%' THEN strftime(TRY_CAST({quoted} AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')"
        f" ELSE CAST({quoted} AS VARCHAR) END"
    )


__all__ = ["Reference", "Settings", "key_checksum"]
