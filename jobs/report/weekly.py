"""The report's numbers: which week, which hotline, and each section's figures, from a pinned lake.

Every function here reads only through a ``LakeSnapshot`` and returns plain, JSON-able
values (ints, floats rounded to 6 places, strings, lists, dicts) in a stable order, so that
the same snapshot always gives the same ``numbers.json``. Nothing here formats text or
draws: sentences are in ``interpret.py``, charts in ``charts.py``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from citybrain.jobs.gold.common import iso_week_of
from citybrain.jobs.report.snapshot import LakeSnapshot
from citybrain.schemas.gold.report_index import ReportParams

HOTSPOTS = "gold.complaint_hotspots"
PERFORMANCE = "gold.hotline_performance"
SCORECARD = "gold.governance_scorecard"
STABILITY = "gold.stability_risk"
GRID = "silver.grid"
LEDGER = "ops.ingest_ledger"
AUDIT = "ops.batch_audit"
QUALITY = "ops.quality_results"
DEMAND = "gold.ride_hailing_demand"
FORECAST = "gold.demand_forecast"

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class NothingToReport(ValueError):
    """The lake has no data for the report (or for the week asked for)."""


@dataclass(frozen=True, order=True)
class Week:
    """An ISO 8601 week (Monday first), e.g. Week.parse('2026-W47')."""

    start: date  # its Monday

    @classmethod
    def parse(cls, label: str) -> Week:
        m = _WEEK.match(label or "")
        if not m:
            raise ValueError(f"week {label!r} must look like 2026-W35 (ISO year, 'W', two-digit week)")
        try:
            return cls(date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1))
        except ValueError:
            raise ValueError(f"week {label!r} does not exist (ISO year {m.group(1)} has no week {m.group(2)})") from None

    @classmethod
    def of(cls, day: date) -> Week:
        return cls(day - timedelta(days=day.weekday()))

    @property
    def label(self) -> str:
        return iso_week_of(self.start)

    @property
    def end(self) -> date:
        """Its Sunday (the last day, inclusive)."""
        return self.start + timedelta(days=6)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(7)]

    def minus(self, weeks: int) -> Week:
        return Week(self.start - timedelta(days=7 * weeks))

    @property
    def previous(self) -> Week:
        return self.minus(1)


def choose_week(weeks: dict[str, bool], requested: str | None = None) -> Week:
    """The report's week: ``requested`` if the data has it, else the latest complete week.

    ``weeks`` maps each ISO week label in the data to whether the data covers it whole.
    A requested week may be incomplete (the report says so); the default never is.
    """
    if not weeks:
        raise NothingToReport("the lake has no weeks to report on yet (build the gold tables first)")
    span = f"{min(weeks)} to {max(weeks)}"
    if requested is not None:
        week = Week.parse(requested)
        if week.label not in weeks:
            raise NothingToReport(f"no data for {week.label}; the lake has {span}")
        return week
    complete = [w for w, is_complete in weeks.items() if is_complete]
    if not complete:
        raise NothingToReport(f"no complete ISO week in the data yet ({span}); ask for one with --week")
    return Week.parse(max(complete))


def choose_source(received: dict[str, int], requested: str | None = None) -> str:
    """The hotline the report covers: ``requested``, else the one with the most tickets (ties: by name)."""
    if not received:
        raise NothingToReport(f"{PERFORMANCE} has no city rows: build it first (build_gold_hotline_performance)")
    if requested is not None:
        if requested not in received:
            raise NothingToReport(f"no hotline {requested!r} in {PERFORMANCE}; it has {', '.join(sorted(received))}")
        return requested
    return min(received, key=lambda s: (-received[s], s))


@dataclass(frozen=True)
class Scope:
    """What every section reads: the pinned lake, the week, the hotline and the thresholds."""

    snapshot: LakeSnapshot
    week: Week
    source_system: str
    params: ReportParams


def weeks_in_data(snapshot: LakeSnapshot, source_system: str | None = None) -> tuple[dict[str, bool], dict[str, int]]:
    """({week label: complete?}, {hotline: tickets received}) from the city rows of gold.hotline_performance."""
    city = snapshot.read(
        PERFORMANCE,
        columns=["source_system", "period", "period_complete", "received"],
        where=[("period_type", "=", "week"), ("unit_type", "=", "city")],
    )
    if city is None or city.empty:
        return {}, {}
    received = {str(k): int(v) for k, v in city.groupby("source_system")["received"].sum().items()}
    if source_system is not None:
        city = city[city["source_system"] == source_system]
    weeks = {str(k): bool(v) for k, v in city.groupby("period")["period_complete"].all().items()}
    return weeks, received


# --- values -------------------------------------------------------------------------


def _num(value):
    """A JSON-stable number: None for null/NaN, int for integral counts, floats rounded to 6 places."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, 6)
    return value


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


# --- headline -----------------------------------------------------------------------

#: The headline numbers, in print order: (key, kind, table). kind: count | rate.
HEADLINE_METRICS = (
    ("received", "count", PERFORMANCE),
    ("timely_acceptance_rate", "rate", PERFORMANCE),
    ("on_time_completion_rate", "rate", PERFORMANCE),
    ("satisfaction_rate", "rate", PERFORMANCE),
    ("direct_answer_rate", "rate", PERFORMANCE),
    ("open_past_deadline", "count", PERFORMANCE),
    ("urban_cases", "count", HOTSPOTS),
    ("police_incidents", "count", HOTSPOTS),
    ("petitions", "count", HOTSPOTS),
    ("ride_pickups", "count", HOTSPOTS),
)
#: The rates drawn in the headline chart (the 三率 of the composite score).
TREND_RATES = ("timely_acceptance_rate", "on_time_completion_rate", "satisfaction_rate")


def headline(scope: Scope) -> dict | None:
    """The week's key numbers beside the week before's, and the trend of the last weeks.

    Hotline figures are the city row of gold.hotline_performance; the other departments'
    counts are the sums over the hotline's cells of gold.complaint_hotspots' context
    columns (records located in the city's H3 cells that week).
    """
    weeks = [scope.week.minus(i) for i in reversed(range(scope.params.history_weeks))]
    labels = [w.label for w in weeks]
    perf_columns = [m for m, _, table in HEADLINE_METRICS if table == PERFORMANCE]
    city = scope.snapshot.read(
        PERFORMANCE,
        columns=["period", *perf_columns],
        where=[
            ("period_type", "=", "week"),
            ("unit_type", "=", "city"),
            ("source_system", "=", scope.source_system),
            ("period", "in", labels),
        ],
    )
    if city is None or city.empty:
        return None
    by_week = {str(r["period"]): r for r in city.to_dict("records")}
    context_columns = [m for m, _, table in HEADLINE_METRICS if table == HOTSPOTS]
    context = scope.snapshot.read(
        HOTSPOTS,
        columns=["week_start", *context_columns],
        where=[("category_level", "=", "all"), ("source_system", "=", scope.source_system), ("week_start", "in", [w.start for w in weeks])],
    )
    if context is not None and not context.empty:
        sums = context.groupby("week_start")[context_columns].sum()
        for w in weeks:
            if w.start in sums.index:
                by_week.setdefault(w.label, {}).update({c: int(sums.loc[w.start, c]) for c in context_columns})

    def value(label: str, metric: str):
        return _num(by_week.get(label, {}).get(metric))

    this, previous = scope.week.label, scope.week.previous.label
    return {
        "metrics": [
            {"metric": metric, "kind": kind, "value": value(this, metric), "previous": value(previous, metric)}
            for metric, kind, _ in HEADLINE_METRICS
        ],
        "history": [{"iso_week": label, **{m: value(label, m) for m in ("received", *TREND_RATES)}} for label in labels],
    }


# --- hotspots -----------------------------------------------------------------------


def cell_streets(snapshot: LakeSnapshot, resolution: int) -> dict[str, str]:
    """H3 cell -> the street holding most of its registered residents (silver.grid); {} without a registry."""
    column = f"h3_r{resolution}"
    grid = snapshot.read(GRID, columns=[column, "street_name", "population"])
    if grid is None or grid.empty:
        return {}
    grid = grid.dropna(subset=[column, "street_name"]).assign(population=lambda g: g["population"].fillna(0))
    people = grid.groupby([column, "street_name"], as_index=False)["population"].sum()
    people = people.sort_values([column, "population", "street_name"], ascending=[True, False, True])
    return {str(k): str(v) for k, v in people.drop_duplicates(column).set_index(column)["street_name"].items()}


def hotspots(scope: Scope) -> dict | None:
    """The week's sub-category alerts (new, intensifying), and every cell's count for the map."""
    this, previous = scope.week, scope.week.previous
    rows = scope.snapshot.read(
        HOTSPOTS,
        columns=[
            "h3_cell",
            "h3_resolution",
            "week_start",
            "category_level",
            "category",
            "category_l1",
            "complaints",
            "expected_from_history",
            "gi_class",
            "alert_confidence",
            "alert_window_weeks",
            "is_alert",
            "trend",
            "top_subcategories",
            "example_text",
        ],
        where=[("source_system", "=", scope.source_system), ("week_start", "in", [this.start, previous.start])],
    )
    if rows is None or rows.empty or not (rows["week_start"] == this.start).any():
        return None
    resolution = int(rows["h3_resolution"].iloc[0])
    streets = cell_streets(scope.snapshot, resolution)
    now = rows[rows["week_start"] == this.start]
    before = rows[(rows["week_start"] == previous.start) & (rows["category_level"] == "l2") & rows["is_alert"]]
    alerted_before = set(zip(before["h3_cell"], before["category"], strict=True))

    alerts = now[(now["category_level"] == "l2") & now["is_alert"]].copy()
    alerts["excess"] = alerts["complaints"] - alerts["expected_from_history"].fillna(0)
    alerts = alerts.sort_values(["alert_confidence", "excess", "h3_cell", "category"], ascending=[False, False, True, True])
    listed = []
    for r in alerts.to_dict("records"):
        listed.append(
            {
                "h3_cell": r["h3_cell"],
                "street": streets.get(r["h3_cell"]),
                "category": r["category"],
                "category_l1": _text(r["category_l1"]),
                "complaints": _num(r["complaints"]),
                "expected": _num(r["expected_from_history"]),
                "confidence": _num(r["alert_confidence"]),
                "window_weeks": _num(r["alert_window_weeks"]),
                "trend": r["trend"],
                "is_new": (r["h3_cell"], r["category"]) not in alerted_before,
                "top_subcategories": _text(r["top_subcategories"]),
                "example_text": _text(r["example_text"]),
            }
        )
    cells = now[now["category_level"] == "all"].sort_values("h3_cell")
    by_l1 = Counter(a["category_l1"] or a["category"] for a in listed)
    return {
        "resolution": resolution,
        "alerts": len(listed),
        "new_alerts": sum(a["is_new"] for a in listed),
        "intensifying": sum(a["trend"] in ("new", "intensifying") for a in listed),
        "alerts_last_week": len(alerted_before),
        "alerts_by_group": [[k, v] for k, v in sorted(by_l1.items(), key=lambda kv: (-kv[1], kv[0]))],
        "top": listed[: scope.params.top_hotspots],
        "cells": [[r["h3_cell"], _num(r["complaints"]), _num(r["gi_class"]), streets.get(r["h3_cell"])] for r in cells.to_dict("records")],
    }


# --- service performance ----------------------------------------------------------


def performance(scope: Scope) -> dict | None:
    """Street ranking of the week (gold.hotline_performance): best, worst, biggest movers."""
    columns = [
        "unit_code",
        "unit_name",
        "rank",
        "units_ranked",
        "previous_rank",
        "rank_change",
        "composite_score",
        "received",
        "timely_acceptance_rate",
        "on_time_completion_rate",
        "satisfaction_rate",
    ]
    streets = scope.snapshot.read(
        PERFORMANCE,
        columns=columns,
        where=[
            ("period_type", "=", "week"),
            ("unit_type", "=", "street"),
            ("source_system", "=", scope.source_system),
            ("period", "=", scope.week.label),
        ],
    )
    if streets is None:
        return None
    ranked = streets.dropna(subset=["rank"]).sort_values(["rank", "unit_code"])
    if ranked.empty:
        return None
    rows = [{c: _num(r[c]) if c not in ("unit_code", "unit_name") else _text(r[c]) for c in columns} for r in ranked.to_dict("records")]
    for r in rows:
        for c in ("rank", "units_ranked", "previous_rank", "rank_change"):
            r[c] = None if r[c] is None else int(r[c])
    n, m = scope.params.streets, scope.params.movers
    up = sorted((r for r in rows if (r["rank_change"] or 0) > 0), key=lambda r: (-r["rank_change"], r["rank"], r["unit_code"]))
    down = sorted((r for r in rows if (r["rank_change"] or 0) < 0), key=lambda r: (r["rank_change"], -r["rank"], r["unit_code"]))
    return {
        "units_ranked": len(rows),
        "streets": rows,
        "best": rows[:n],
        "worst": list(reversed(rows[-n:])),
        "movers_up": up[:m],
        "movers_down": down[:m],
    }


# --- urban-management scorecard -----------------------------------------------------

SCORECARD_RATES = (
    "on_time_closure_rate",
    "closure_rate",
    "rework_rate",
    "postponement_rate",
    "urgent_on_time_rate",
    "citizen_report_share",
)


def stability(scope: Scope) -> dict | None:
    """The week's social-stability risk (gold.stability_risk): communities by level, the red list
    with each one's three largest reasons, the biggest risers, and the streets. Places only."""
    columns = [
        "unit_type", "unit_code", "unit_name", "street_name", "district_name", "status", "score", "level", "level_color",
        "score_change", "rank_in_week", "top1_indicator", "top1_contribution", "top2_indicator", "top2_contribution",
        "top3_indicator", "top3_contribution", "warning_probability",
    ]  # fmt: skip
    rows = scope.snapshot.read(STABILITY, columns=columns, where=[("iso_week", "=", scope.week.label)])
    if rows is None or rows.empty:
        return None
    texts = {"unit_type", "unit_code", "unit_name", "street_name", "district_name", "status", "level", "level_color"}
    texts |= {f"top{k}_indicator" for k in (1, 2, 3)}
    clean = [{c: _text(r[c]) if c in texts else _num(r[c]) for c in columns} for r in rows.to_dict("records")]
    communities = [r for r in clean if r["unit_type"] == "community"]
    scored = sorted((r for r in communities if r["score"] is not None), key=lambda r: (-r["score"], r["unit_code"]))
    if not scored:
        return None
    levels = {}
    for r in scored:
        levels[r["level_color"]] = levels.get(r["level_color"], 0) + 1
    alert = [r for r in scored if r["level_color"] in ("orange", "red")]
    risers = sorted((r for r in scored if (r["score_change"] or 0) > 0), key=lambda r: (-r["score_change"], r["unit_code"]))
    streets = sorted(
        (r for r in clean if r["unit_type"] == "street" and r["score"] is not None), key=lambda r: (-r["score"], r["unit_code"])
    )
    return {
        "communities_scored": len(scored),
        "insufficient": sum(1 for r in communities if r["status"] != "scored"),
        "levels": {color: levels.get(color, 0) for color in ("red", "orange", "yellow", "blue")},
        "red_list": (alert or scored)[: scope.params.red_list],
        "red_list_is_alert": bool(alert),
        "risers": risers[: scope.params.movers],
        "streets": streets,
    }


def scorecard(scope: Scope) -> dict | None:
    """The 数字城管 scorecard of the month holding the week's last day, beside the month before."""
    month = scope.week.end.strftime("%Y-%m")
    first = scope.week.end.replace(day=1)
    previous_month = (first - timedelta(days=1)).strftime("%Y-%m")
    columns = [
        "period",
        "period_complete",
        "unit_type",
        "unit_code",
        "unit_name",
        "reported",
        "overdue_open_at_period_end",
        *SCORECARD_RATES,
    ]
    rows = scope.snapshot.read(SCORECARD, columns=columns, where=[("period_type", "=", "month"), ("period", "in", [month, previous_month])])
    if rows is None or rows.empty or not ((rows["period"] == month) & (rows["unit_type"] == "city")).any():
        return None

    def city(period: str) -> dict | None:
        found = rows[(rows["period"] == period) & (rows["unit_type"] == "city")]
        if found.empty:
            return None
        r = found.iloc[0]
        return {c: _num(r[c]) for c in ("reported", "overdue_open_at_period_end", *SCORECARD_RATES)}

    streets = rows[(rows["period"] == month) & (rows["unit_type"] == "street")].dropna(subset=["on_time_closure_rate"])
    streets = streets.sort_values(["on_time_closure_rate", "unit_code"], ascending=[True, True])
    return {
        "month": month,
        "month_complete": bool(rows[(rows["period"] == month) & (rows["unit_type"] == "city")]["period_complete"].iloc[0]),
        "previous_month": previous_month,
        "city": city(month),
        "city_previous": city(previous_month),
        "streets": [
            {
                "unit_code": _text(r["unit_code"]),
                "unit_name": _text(r["unit_name"]),
                "on_time_closure_rate": _num(r["on_time_closure_rate"]),
                "reported": _num(r["reported"]),
                "overdue_open_at_period_end": _num(r["overdue_open_at_period_end"]),
            }
            for r in streets.to_dict("records")
        ],
    }


# --- ride-hailing demand -------------------------------------------------------------


def demand(scope: Scope) -> dict | None:
    """Ride-hailing orders of the week beside the week before, by local hour of day, the busiest
    cell, and the anomalies the forecaster flagged in the week (gold tables only)."""
    rows = scope.snapshot.read(
        DEMAND,
        columns=["h3_cell", "dt", "hour_of_day", "orders", "cancelled"],
        where=[("dt", ">=", scope.week.previous.start), ("dt", "<=", scope.week.end)],
    )
    if rows is None or rows.empty:
        return None
    rows["dt"] = pd.to_datetime(rows["dt"]).dt.date
    this = rows[rows["dt"] >= scope.week.start]
    if this.empty:
        return None
    before = rows[rows["dt"] < scope.week.start]
    by_cell = this.groupby("h3_cell")["orders"].sum().sort_values(ascending=False, kind="stable")
    flags = scope.snapshot.read(
        FORECAST,
        columns=["h3_cell", "local_hour", "actual", "forecast", "upper", "is_anomaly", "horizon"],
        where=[("dt", ">=", scope.week.start), ("dt", "<=", scope.week.end), ("horizon", "=", "24h")],
    )
    flagged = flags[flags["is_anomaly"].fillna(False).astype(bool)] if flags is not None else pd.DataFrame()
    flagged = flagged.sort_values(["local_hour", "h3_cell"]) if not flagged.empty else flagged
    return {
        "orders": int(this["orders"].sum()),
        "orders_previous": int(before["orders"].sum()) if not before.empty else None,
        "cancel_share": _num(this["cancelled"].sum() / max(1, this["orders"].sum())),
        "by_hour": [int(this[this["hour_of_day"] == h]["orders"].sum()) for h in range(24)],
        "by_hour_previous": [int(before[before["hour_of_day"] == h]["orders"].sum()) for h in range(24)] if not before.empty else None,
        "busiest_cell": _text(by_cell.index[0]),
        "busiest_cell_orders": int(by_cell.iloc[0]),
        "anomalies": [
            {
                "h3_cell": _text(r["h3_cell"]),
                "local_hour": _text(r["local_hour"]),
                "actual": _num(r["actual"]),
                "forecast": _num(r["forecast"]),
            }
            for r in flagged.head(10).to_dict("records")
        ]
        if not flagged.empty
        else [],
        "anomaly_count": len(flagged),
    }


# --- data quality -------------------------------------------------------------------


def quarantine_tables(snapshot: LakeSnapshot) -> list[str]:
    return sorted(name for name in snapshot.versions if name.startswith("quarantine."))


def _entity_sources() -> dict[str, list[str]]:
    """silver entity -> the sources feeding it, e.g. ride_trip -> [ridehailing]; complaint -> [boston311, hotline]."""
    from citybrain.schemas.sources import all_sources

    feeds: dict[str, list[str]] = {}
    for name, spec in all_sources().items():
        if spec.silver is not None:
            feeds.setdefault(spec.silver.entity, []).append(name)
    return {entity: sorted(names) for entity, names in feeds.items()}


def _source_of(feeders: list[str], source_file) -> str:
    """The source of a quarantined row: the entity's only feeder, else the drop folder its file came from."""
    if len(feeders) == 1:
        return feeders[0]
    folder = str(source_file or "").split("/", 1)[0]
    return folder if folder in feeders else ",".join(feeders)


def data_quality(scope: Scope) -> dict | None:
    """What was quarantined in the week and why, which drops were missing or late, which checks failed.

    Drops: a source is expected every day of the week once it has delivered on more than
    one day (a daily feed; a one-off registry snapshot is not expected weekly), from its
    first drop date to the latest drop date of any source in the lake. A drop is late when it was ingested more than
    ``ReportParams.late_after_hours`` after the end of its drop date (UTC).
    Checks: ops.quality_results of the refine runs that took in the week's drop files.
    """
    snap, week, params = scope.snapshot, scope.week, scope.params
    ledger = snap.read(
        LEDGER,
        columns=["source", "file", "drop_date", "records", "parse_errors", "unknown_fields", "duplicate_of", "batch_id", "ingested_at"],
    )
    quarantined = _quarantined(snap, week)
    if ledger is None and not quarantined:
        return None
    drops, batch_ids = [], set()
    if ledger is not None and not ledger.empty:
        drop_days = ledger.groupby("source")["drop_date"].agg(["min", "nunique"])
        last_day = ledger["drop_date"].max()  # no day after the lake's latest drop can be judged yet
        in_week = ledger[ledger["drop_date"].between(week.start, week.end)]
        batch_ids = set(in_week["batch_id"])
        for source in sorted(drop_days.index):
            first, distinct = drop_days.loc[source, "min"], int(drop_days.loc[source, "nunique"])
            rows = in_week[in_week["source"] == source]
            if distinct <= 1 and rows.empty:
                continue  # a one-off delivery (the registry): not expected every day
            expected = [d for d in week.days if first <= d <= last_day] if distinct > 1 else sorted(set(rows["drop_date"]))
            received = set(rows["drop_date"])
            lag_hours = [
                (
                    pd.Timestamp(r["ingested_at"])
                    - pd.Timestamp(datetime.combine(r["drop_date"] + timedelta(days=1), datetime.min.time()), tz="UTC")
                )
                / pd.Timedelta(hours=1)
                for r in rows.to_dict("records")
            ]
            late = sorted(
                {r["drop_date"] for r, lag in zip(rows.to_dict("records"), lag_hours, strict=True) if lag > params.late_after_hours}
            )
            drifted = sorted({f for fields in rows["unknown_fields"].dropna() for f in str(fields).split(",") if f})
            drops.append(
                {
                    "source": source,
                    "expected_days": len(expected),
                    "received_days": len(received & set(expected)),
                    "missing": [d.isoformat() for d in expected if d not in received],
                    "late": [d.isoformat() for d in late],
                    "max_lag_hours": _num(round(max(lag_hours), 1)) if lag_hours else None,
                    "files": int(len(rows)),
                    "records": int(rows["records"].sum()),
                    "parse_errors": int(rows["parse_errors"].sum()),
                    "duplicate_files": int(rows["duplicate_of"].notna().sum()),
                    "unknown_fields": drifted,
                    "days": {d.isoformat(): ("missing" if d not in received else "late" if d in late else "on_time") for d in expected},
                }
            )
    batches, checks = _batches_and_checks(snap, batch_ids)
    return {
        "quarantined_rows": sum(q["rows"] for q in quarantined),
        "quarantine": quarantined,
        "drops": drops,
        "batches": batches,
        "failed_checks": checks,
    }


def _quarantined(snap: LakeSnapshot, week: Week) -> list[dict]:
    """Rows refused in the week (by their file's drop date), per source, rule and reason, largest first."""
    sources = _entity_sources()
    out = []
    for name in quarantine_tables(snap):
        entity = name.split(".", 1)[1]
        rows = snap.read(name, columns=["rule", "reason", "source_file"], where=[("dt", ">=", week.start), ("dt", "<=", week.end)])
        if rows is None or rows.empty:
            continue
        feeders = sources.get(entity, [entity])
        rows["source"] = [_source_of(feeders, f) for f in rows["source_file"]]
        for (source, rule, reason), n in rows.groupby(["source", "rule", "reason"]).size().items():
            out.append({"source": source, "entity": entity, "rule": rule, "reason": reason, "rows": int(n)})
    return sorted(out, key=lambda q: (-q["rows"], q["source"], q["rule"], q["reason"]))


def _batches_and_checks(snap: LakeSnapshot, batch_ids: set[str]) -> tuple[dict, list[dict]]:
    audit = snap.read(AUDIT, columns=["batch_id", "refine_id", "records_in", "accepted", "quarantined", "collapsed", "balanced"])
    if audit is None or not batch_ids:
        return {"refined": 0, "unbalanced": 0}, []
    audit = audit[audit["batch_id"].isin(batch_ids)]
    refine_ids = sorted(set(audit["refine_id"]))
    batches = {"refined": int(len(audit)), "unbalanced": int((~audit["balanced"]).sum())}
    results = snap.read(
        QUALITY, columns=["table_name", "batch_id", "rule", "level", "success", "measured_value", "threshold", "unexpected_count"]
    )
    if results is None or results.empty:
        return batches, []
    failed = results[results["batch_id"].isin(refine_ids) & ~results["success"]]
    checks = []
    for (table, rule, level), group in failed.groupby(["table_name", "rule", "level"]):
        group = group.sort_values("batch_id")
        checks.append(
            {
                "table": table,
                "rule": rule,
                "level": level,
                "runs_failed": int(len(group)),
                "unexpected": _num(group["unexpected_count"].sum(min_count=1)),
                "measured_value": _text(group["measured_value"].iloc[-1]),
                "threshold": _text(group["threshold"].iloc[-1]),
            }
        )
    level_order = {"table": 0, "row": 1}
    return batches, sorted(checks, key=lambda c: (level_order.get(c["level"], 2), -(c["unexpected"] or 0), c["table"], c["rule"]))
