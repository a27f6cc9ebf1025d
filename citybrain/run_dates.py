"""Which day a DAG run works on: the run's data interval, a date given by hand, or none.

A dated run takes only that day's work (an ingest takes the drop files dated that day, a
refine the bronze batches holding that day's drops), so a backfill of a day never takes a
later day's file and a rerun of a day replaces nothing of the others. A run without a day
(``citybrain demo``, ``citybrain run`` without ``--date``, a manual trigger without a date)
takes everything new, as before.

Where the day comes from, first match wins:

- the run's conf ``{"day": "YYYY-MM-DD"}`` (``citybrain run --date``, ``citybrain backfill``,
  a manual trigger with that conf);
- a scheduled or backfill run (``airflow backfill create``): the date its data interval starts.
  The daily timetable's intervals run from midnight UTC to midnight UTC (08:00 in the demo
  city), so its logical date is the day and ``airflow backfill create --from-date 2026-09-01
  --to-date 2026-09-14`` runs exactly those 14 days; the run fires when the day is over;
- an Asset-triggered run: the days its triggering events carry (an ingest's event says which
  day it took in); an event without a day (the grid's, a drop-folder watcher's) makes it undated;
- any other run: no day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta

#: the city's clock, which the weekly runs keep
CITY_TIMEZONE = "Asia/Shanghai"
#: the daily runs: one data interval per day, midnight to midnight UTC (see the module's doc)
DAILY_CRON = "0 0 * * *"
#: gold is rebuilt weekly, Monday 10:00 city time: after the daily run of Sunday (08:00 Monday) and its refines
WEEKLY_CRON = "0 10 * * 1"
#: run types whose data interval is the day they work on
INTERVAL_RUN_TYPES = frozenset({"scheduled", "backfill"})


class RunDateError(ValueError):
    """A day or a range of days that cannot be run; the message says why."""


def daily_timetable():
    """The daily timetable: one data interval per UTC day, run when the day is over; the
    interval's start (the logical date) is the day the run covers."""
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(DAILY_CRON, timezone="UTC")


def weekly_timetable():
    """The weekly timetable of gold: fires at ``WEEKLY_CRON`` city time, its data interval the week before."""
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(WEEKLY_CRON, timezone=CITY_TIMEZONE, interval=timedelta(weeks=1))


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` as a date, or a clear error."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise RunDateError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included; a range that ends before it starts is an error."""
    if last < first:
        raise RunDateError(f"the range ends ({last}) before it starts ({first})")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_of_interval(start: datetime) -> date:
    """The day a daily data interval starting at ``start`` covers."""
    return start.astimezone(UTC).date()


def logical_date_for(day: date) -> datetime:
    """The logical date of Airflow's daily run of ``day``, which a run by hand of that day takes too
    (so Airflow keeps one run per DAG and day, and a rerun replaces it)."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


def run_days(context: Mapping) -> tuple[date, ...] | None:
    """The days a running task works on (None: undated, everything new); see the module's doc."""
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    if conf.get("day"):
        return (parse_day(str(conf["day"])),)
    run_type = str(getattr(getattr(dag_run, "run_type", None), "value", getattr(dag_run, "run_type", "")) or "")
    start = context.get("data_interval_start")
    if run_type in INTERVAL_RUN_TYPES and start is not None:
        return (day_of_interval(start),)
    if run_type == "asset_triggered":
        events = [e for batch in (context.get("triggering_asset_events") or {}).values() for e in batch]
        days = [(getattr(e, "extra", None) or {}).get("day") for e in events]
        if events and all(days):
            return tuple(sorted({parse_day(d) for d in days}))
    return None


def run_day(context: Mapping) -> date | None:
    """The one day a daily task (an ingest) works on; None when undated."""
    days = run_days(context)
    return days[0] if days else None
