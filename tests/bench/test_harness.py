"""The benchmark's small pieces: memory sizes, the engine's memory limit, Spark time patterns in DuckDB, the table."""

from __future__ import annotations

import os
import re

import duckdb
import pytest

from citybrain.bench import duck
from citybrain.bench.harness import (
    StageResult,
    engine_memory_env,
    format_line,
    markdown,
    memory_bytes,
    peak_mb,
    reset_peak,
    scaling,
)
from citybrain.democity import DEMO_SOURCES
from citybrain.schemas.sources import get_source


def test_memory_sizes():
    assert memory_bytes("8G") == 8 * 2**30
    assert memory_bytes("512m") == 512 * 2**20
    assert memory_bytes("1073741824") == 2**30
    assert engine_memory_env("2G") == {
        "SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair",
        "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(2 * 2**30),
    }


def test_own_peak_memory_is_read_and_reset():
    reset_peak(os.getpid())
    assert 10 < peak_mb(os.getpid()) < 100_000


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("2026-09-01 08:05:09", "yyyy-MM-dd HH:mm:ss", "2026-09-01 00:05:09"),
        ("2026/9/1 8:05", "yyyy/M/d H:mm", "2026-09-01 00:05:00"),
        ("2026/9/1 0:05:09", "yyyy/M/d H:mm:ss", "2026-08-31 16:05:09"),
        ("20260901080509", "yyyyMMddHHmmss", "2026-09-01 00:05:09"),
        ("\u3000 2026-09-01 08:05:09\r", "yyyy-MM-dd HH:mm:ss", "2026-09-01 00:05:09"),
        ("2026-09-01", "yyyy-MM-dd HH:mm:ss", None),
    ],
)
def test_shanghai_wall_time_becomes_utc(value, pattern, expected):
    sql = duck.utc_timestamp("t", (pattern,), "Asia/Shanghai")
    got = duckdb.sql(f"SELECT strftime({sql}, '%Y-%m-%d %H:%M:%S') FROM (SELECT {duck.quote(value)} AS t)").fetchone()[0]
    assert got == expected


def test_every_demo_time_pattern_translates():
    """The references cover the demo city's sources (the open-data layouts have none yet)."""
    for source in DEMO_SOURCES:
        mapping = get_source(source).silver
        for pattern in mapping.timestamp_formats if mapping else ():
            left = re.sub("%[YmdHMS]", "", duck.strptime_format(pattern))
            assert not re.search("[A-Za-z]", left), f"{source}: {pattern!r} leaves {left!r}"


def test_table_says_ratio_and_failure():
    ok = StageResult("silver", "ride_trip", 1000, 4.0, 900, 500, reference_seconds=2.0, reference_mb=300, agree="yes")
    failed = StageResult("gold", "demand_forecast", 0, 0.1, 900, 500, error="ValueError: no model")
    assert "2.0x" in format_line(ok) and "yes" in format_line(ok)
    assert "FAILED: ValueError" in format_line(failed)
    table = markdown([ok, failed], ["machine: test"])
    assert "| silver | ride_trip | 1,000 | 4.00 | 250 |" in table
    assert "1 compared stages: 4.0 s vs reference 2.0 s = 2.0x" in table


def test_time_per_record_of_a_large_run_against_a_small_one_by_hand(tmp_path, capsys):
    """``scaling`` reads two tables written by ``markdown``; the figures below are computed by hand."""
    from citybrain.cli import main

    def table(scale: float, results: list[StageResult]) -> str:
        return markdown(results, [f"demo city: size X, scale {scale}, 84 days, seed 1"])

    small = table(
        1.0,
        [
            StageResult("silver", "complaint", 1_000, 2.0, 1, 1, reference_seconds=1.0, agree="yes"),
            StageResult("silver", "calendar_day", 84, 0.5, 1, 1),
            StageResult("gold", "complaint_hotspots", 500, 1.0, 1, 1),
            StageResult("gold", "demand_forecast (training)", 0, 10.0, 1, 1),
            StageResult("bronze", "only_small", 10, 1.0, 1, 1),
        ],
    )
    large = table(
        30.0,
        [
            StageResult("silver", "complaint", 30_000, 66.0, 1, 1, reference_seconds=30.0, agree="yes"),
            StageResult("silver", "calendar_day", 84, 0.6, 1, 1),
            StageResult("gold", "complaint_hotspots", 500, 3.0, 1, 1),
            StageResult("gold", "demand_forecast (training)", 0, 12.0, 1, 1),
        ],
    )
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1:] for line in scaling(small, large).splitlines()[2:]}
    assert rows["silver complaint"] == ["1,000", "2.00", "30,000", "66.00", "30.0", "33.0", "1.10 |"]  # (66/30000) / (2/1000)
    assert rows["silver calendar_day"][-1] == "1.20 |"  # the same 84 rows: 0.6 / 0.5
    assert rows["gold complaint_hotspots"] == ["(input)", "1.00", "(30x)", "3.00", "30.0", "3.0", "0.10 |"]  # by the city's growth
    assert rows["gold demand_forecast (training)"][-1] == "0.04 |"  # 12 / 10 / 30
    assert "bronze only_small" not in rows  # not in the large run
    with pytest.raises(ValueError, match="not a benchmark table"):
        scaling("| silver | complaint |", large)

    (tmp_path / "S.md").write_text(small, encoding="utf-8")
    (tmp_path / "L.md").write_text(large, encoding="utf-8")
    assert main(["bench", "--scaling", str(tmp_path / "S.md"), str(tmp_path / "L.md")]) == 0
    assert "| silver complaint | 1,000 | 2.00 | 30,000 | 66.00 | 30.0 | 33.0 | 1.10 |" in capsys.readouterr().out
