"""Which day a DAG run works on: the run's data interval, a date given by hand, or none.

A dated run takes only that day's work (an ingest takes the drop files dated that day, a
refine the bronze batches holding that day's drops), so a backfill of a day never takes a
later day's file and a rerun of a day replaces nothing of the others. A run without a day
(``citybrain demo``, ``citybrain run`` without ``--date``, a manual trigger without a date)
takes everything new, as before.

Where the day comes from, first match wins:

- the run's conf ``{"day": "YYYY-MM-DD"}`` (``citybrain run --date``, ``citybrain backfill``,
  a manual trigger with that conf);
- a scheduled or backfill run (``airflow backfill create``): its data interval's start, as a
  date in the city's time zone; the daily timetable's interval is one city day;
- an Asset-triggered run: the days its triggering events carry (an ingest's event says which
  day it took in); an event without a day (the grid's, a drop-folder watcher's) makes it undated;
- any other run: no day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: the city's clock: drop file names carry its dates, and the daily runs fire on it
CITY_TIMEZONE = "Asia/Shanghai"
#: the daily runs fire at 01:00 city time, for the day before (its drops are in by then)
DAILY_CRON = "0 1 * * *"
#: gold is rebuilt weekly, Monday 04:00 city time: after the daily runs of Sunday and their refines
WEEKLY_CRON = "0 4 * * 1"
#: run types whose data interval is the day they work on
INTERVAL_RUN_TYPES = frozenset({"scheduled", "backfill"})


class RunDateError(ValueError):
    """A day or a range of days that cannot be run; the message says why."""


def daily_timetable():
    """The daily timetable: fires at ``DAILY_CRON`` city time with a one-day data interval
    that starts one day earlier, so ``data_interval_start`` is the day the run covers."""
    from airflow.sdk import CronTriggerTimetable

    return CronTriggerTimetable(DAILY_CRON, timezone=CITY_TIMEZONE, interval=timedelta(days=1))


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
    """The city day a data interval starting at ``start`` covers."""
    return start.astimezone(ZoneInfo(CITY_TIMEZONE)).date()


def logical_date_for(day: date) -> datetime:
    """The logical date Airflow gives the daily run of ``day`` (its data interval starts on ``day``),
    so a run by hand and a scheduled run of one day are the same run to Airflow."""
    return datetime.combine(day + timedelta(days=1), time(1, 0), tzinfo=ZoneInfo(CITY_TIMEZONE))


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
