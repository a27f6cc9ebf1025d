"""Small inline batches of a complaint-like table, with its contract and rules (imported by the tests)."""

from __future__ import annotations

import datetime as dt

from citybrain.quality.rules import ColumnChecks, RowRule
from citybrain.schemas.contract import Column, Contract

SCHEMA = (
    "complaint_id string, district string, received_at timestamp, closed_at timestamp, "
    "satisfaction int, dt date, _source_file string, _source_row bigint"
)
CONTRACT = Contract(
    name="silver.qtest_complaint",
    columns=(
        Column("complaint_id", "string", False),
        Column("district", "string", False),
        Column("received_at", "timestamp", False),
        Column("closed_at", "timestamp", True),
        Column("satisfaction", "int", True),
        Column("dt", "date", False),
    ),
    grain="one row per complaint",
    description="test table",
    owner="tests",
    keys=("complaint_id",),
)
CHECKS = {"district": ColumnChecks(allowed=("east", "west")), "satisfaction": ColumnChecks(min=1, max=5)}
CLOSED_AFTER_RECEIVED = RowRule(
    "closed_after_received",
    "closed_at IS NULL OR closed_at >= received_at",
    "closed before it was received",
    "concat(cast(received_at as string), ' -> ', cast(closed_at as string))",
)
UTC = dt.UTC
DAY = dt.date(2026, 3, 2)


def ts(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


NINE, TEN = ts(9), ts(10)


def row(cid, district="east", received=NINE, closed=TEN, satisfaction=4, source_row=1):
    return (cid, district, received, closed, satisfaction, DAY, "hotline/2026-03-02.csv", source_row)
