"""Helpers shared by tests (importable as ``tests_support``: tests/ is on sys.path under pytest's rootdir conftest)."""

from pathlib import Path

SHARED_REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
