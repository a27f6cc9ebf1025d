"""What every gold job shares: reporting, periods (ISO week, month) and local time per hotline.

Periods are local: a ticket belongs to the ISO week or month of its ``dt`` (the local date
silver gives it, in the source's own time zone). Instants such as deadlines are compared
with a period's end in that same zone, so "open past its deadline as of the period's end"
means local midnight after the period's last day.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain.schemas.sources import all_sources

PERIOD_TYPES = ("week", "month")


@dataclass
class GoldReport:
    """What a gold job did: rows written and what it could not compute, and why."""

    table: str
    rows: int = 0
    seconds: float = 0.0
    not_computed: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic, repr=False)

    def finish(self, rows: int) -> GoldReport:
        self.rows = rows
        self.seconds = time.monotonic() - self._started
        return self

    def summary(self) -> str:
        text = f"{self.table}: {self.rows:,} rows in {self.seconds:.1f} s"
        if self.details.get("build") == "incremental":  # a job that builds in part says how (jobs/gold/incremental.py)
            text += " (only what silver changed since the last build)"
        elif self.details.get("build") == "full":
            text += f" (whole: {self.details.get('why_full')})"
        if self.not_computed:
            text += "; not computed: " + "; ".join(self.not_computed)
        return text


@cache
def source_timezones() -> dict[str, str]:
    """source_system value (e.g. demo_12345) -> the IANA time zone its mapping reads times in."""
    zones = {}
    for spec in all_sources().values():
        mapping = spec.silver
        if mapping is None:
            continue
        for f in mapping.fields:
            if f.name == "source_system" and f.kind == "const":
                zones[f.argument] = mapping.timezone
    return zones


def entity_timezone(entity: str) -> str:
    """The time zone of the one source that feeds a silver entity (e.g. urban_case_event)."""
    zones = {s.silver.timezone for s in all_sources().values() if s.silver and s.silver.entity == entity}
    if len(zones) != 1:
        raise ValueError(f"silver.{entity} is fed by sources in time zones {sorted(zones)}; say which one to use")
    return zones.pop()


def local_timezone_column(source_system: str = "source_system") -> Column:
    """A column with the time zone of each row's hotline (UTC for an unknown one)."""
    zones = source_timezones()
    expr = F.lit("UTC")
    for system, zone in sorted(zones.items()):
        expr = F.when(F.col(source_system) == system, F.lit(zone)).otherwise(expr)
    return expr


def iso_week_label(day: Column) -> Column:
    """'YYYY-Www' of a date column (ISO 8601 week, Monday first)."""
    thursday = F.date_add(day, 3 - ((F.dayofweek(day) + 5) % 7))  # the week's Thursday decides its ISO year
    return F.format_string("%04d-W%02d", F.year(thursday), F.weekofyear(day))


def iso_week_of(day: date) -> str:
    """``iso_week_label`` of one date on this client: 'YYYY-Www' (ISO 8601 week, Monday first)."""
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def week_start(day: Column) -> Column:
    """The Monday of a date's ISO week."""
    return F.date_sub(day, (F.dayofweek(day) + 5) % 7)


def with_periods(df: DataFrame, day: str, period_types: tuple[str, ...] = PERIOD_TYPES) -> DataFrame:
    """One copy of each row per period type, with period_type, period (label), period_start and period_end (dates; end exclusive).

    The copies come from one explode, so the rows are computed once whatever the number of period types.
    """
    periods = []
    for period_type in period_types:
        if period_type == "week":
            start = week_start(F.col(day))
            label = iso_week_label(F.col(day))
            end = F.date_add(start, 7)
        elif period_type == "month":
            start = F.trunc(F.col(day), "month")
            label = F.date_format(F.col(day), "yyyy-MM")
            end = F.add_months(start, 1)
        else:
            raise ValueError(f"period type {period_type!r} is not one of {PERIOD_TYPES}")
        periods.append(
            F.struct(F.lit(period_type).alias("period_type"), label.alias("period"), start.alias("period_start"), end.alias("period_end"))
        )
    exploded = df.withColumn("_period", F.explode(F.array(*periods)))
    return exploded.select(
        *[F.col(c) for c in df.columns if c not in ("period_type", "period", "period_start", "period_end")],
        *[F.col(f"_period.{c}").alias(c) for c in ("period_type", "period", "period_start", "period_end")],
    )


def local_midnight_utc(day: Column, zone: Column | str) -> Column:
    """The instant (UTC timestamp) of local midnight at the start of ``day`` in ``zone``."""
    zone_col = F.lit(zone) if isinstance(zone, str) else zone
    return F.to_utc_timestamp(day.cast("timestamp"), zone_col)
