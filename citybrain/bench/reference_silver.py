"""DuckDB references of the silver refine, one per entity: typing, dedup and placement on the grid."""

from __future__ import annotations

from citybrain.bench import Reference

SILVER_REFERENCES: dict[str, Reference] = {}
