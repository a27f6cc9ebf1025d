"""Helpers of the incremental-build tests: a gold table's content, and the same table built whole."""

from __future__ import annotations

from citybrain.lake_content import REBUILD_COLUMNS, content_checksum


def content(settings, table: str) -> tuple[int, int]:
    """(rows, checksum) of ``table`` over every column but the rebuild columns (``built_at``)."""
    return content_checksum(settings, table, REBUILD_COLUMNS)


def rebuilt_whole(spark, settings, job) -> tuple[int, int]:
    """(rows, checksum) of ``job``'s table built whole from the same silver (the lake's table is left rebuilt)."""
    report = job.run(spark, settings, full=True)
    assert report.details["build"] == "full"
    return content(settings, job.TABLE)


def first_build(spark, settings, job) -> None:
    """Build ``job``'s table for the first time: a full build, for want of an earlier one."""
    first = job.run(spark, settings)
    assert (first.details["build"], first.details["why_full"]) == ("full", "no earlier build recorded")
