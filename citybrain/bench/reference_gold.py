"""DuckDB references of the gold jobs, one per gold table, computed from the silver Delta tables."""

from __future__ import annotations

from citybrain.bench import Reference

GOLD_REFERENCES: dict[str, Reference] = {}
