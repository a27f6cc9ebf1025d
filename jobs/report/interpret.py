"""Plain-language sentences from the report's numbers: templates filled with numbers, chosen by conditions.

No model writes these: each sentence is a template from ``i18n.STRINGS`` picked by a rule
written here (rising, falling or about the same; none, some; ...) and filled with the
numbers of ``weekly.py``. The functions are pure: numbers in, sentences out.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.jobs.report.i18n import indicator_label, rule_label, text
from citybrain.schemas.gold.report_index import ReportParams


@dataclass(frozen=True)
class Change:
    """How a figure moved from the week before: direction up | down | steady | no_previous | no_data."""

    direction: str
    diff: float | None = None  # value - previous (counts) or percentage points (rates)
    pct: float | None = None  # percent change of a count; None from zero or for rates


def count_change(value: int | None, previous: int | None, steady_pct: float) -> Change:
    """A count's change: steady when it moved less than ``steady_pct`` percent (0 -> 0 is steady)."""
    if value is None:
        return Change("no_data")
    if previous is None:
        return Change("no_previous")
    diff = value - previous
    if previous == 0:
        return Change("steady" if value == 0 else "up", diff, None)
    pct = 100.0 * diff / previous
    if abs(pct) < steady_pct:
        return Change("steady", diff, pct)
    return Change("up" if diff > 0 else "down", diff, pct)


def rate_change(value: float | None, previous: float | None, steady_points: float) -> Change:
    """A rate's change in percentage points: steady when it moved less than ``steady_points``."""
    if value is None:
        return Change("no_data")
    if previous is None:
        return Change("no_previous")
    points = 100.0 * (value - previous)
    if abs(points) < steady_points:
        return Change("steady", points)
    return Change("up" if points > 0 else "down", points)


# --- formatting -----------------------------------------------------------------------


def fmt_count(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_rate(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def fmt_pct(value: float) -> str:
    return f"{abs(value):.1f}%"


def fmt_points(value: float) -> str:
    return f"{abs(value):.1f}"


def describe(lang: str, kind: str, change: Change, *, unit: str = "", previous=None, than: str = "week") -> str:
    """The change fragment ('比上周增加15件（+0.4%）', 'down 0.8 points on the week before'); ``than`` week | month."""
    before = text(lang, f"than.{than}")
    if change.direction in ("no_previous", "no_data"):
        return text(lang, "change.no_previous", than=before)
    if kind == "rate":
        return text(lang, f"change.rate.{change.direction}", points=fmt_points(change.diff or 0.0), than=before)
    if change.direction == "steady":
        return text(lang, "change.count.steady", previous=fmt_count(previous), unit=unit)
    if change.pct is None:
        return text(lang, "change.count.up_from_zero", diff=fmt_count(abs(change.diff)), unit=unit)
    return text(lang, f"change.count.{change.direction}", diff=fmt_count(abs(change.diff)), pct=fmt_pct(change.pct), unit=unit)


def metric_change(lang: str, metric: dict, params: ReportParams) -> tuple[Change, str]:
    """(Change, its fragment) of one headline metric {metric, kind, value, previous}."""
    if metric["kind"] == "rate":
        change = rate_change(metric["value"], metric["previous"], params.steady_rate_points)
        return change, describe(lang, "rate", change)
    change = count_change(metric["value"], metric["previous"], params.steady_count_pct)
    return change, describe(lang, "count", change, unit=text(lang, f"unit.{metric['metric']}"), previous=metric["previous"])


# --- sections -------------------------------------------------------------------------


def headline_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    metrics = {m["metric"]: m for m in numbers["metrics"]}
    received = metrics["received"]
    if received["value"] is None:
        return [text(lang, "headline.no_data")]
    out = [text(lang, "headline.received", value=fmt_count(received["value"]), change=metric_change(lang, received, params)[1])]

    rates = ("timely_acceptance_rate", "on_time_completion_rate", "satisfaction_rate")
    out.append(
        text(
            lang,
            "headline.rates",
            timely=fmt_rate(metrics[rates[0]]["value"]),
            on_time=fmt_rate(metrics[rates[1]]["value"]),
            satisfaction=fmt_rate(metrics[rates[2]]["value"]),
        )
    )
    moved = [
        (abs(c.diff), name, fragment)
        for name in rates
        for c, fragment in [metric_change(lang, metrics[name], params)]
        if c.direction in ("up", "down")
    ]
    if moved:
        _, name, fragment = max(moved, key=lambda m: (m[0], m[1]))
        out.append(text(lang, "headline.rates_mover", metric=text(lang, f"metric.{name}"), change=fragment))
    elif all(metrics[r]["previous"] is not None and metrics[r]["value"] is not None for r in rates):
        out.append(text(lang, "headline.rates_steady"))

    others = ("urban_cases", "police_incidents", "petitions")
    if all(metrics[o]["value"] is not None for o in others):
        out.append(
            text(
                lang,
                "headline.others",
                urban=fmt_count(metrics["urban_cases"]["value"]),
                police=fmt_count(metrics["police_incidents"]["value"]),
                petitions=fmt_count(metrics["petitions"]["value"]),
            )
        )
        moved = [
            (abs(c.pct or 0.0), name, fragment)
            for name in others
            for c, fragment in [metric_change(lang, metrics[name], params)]
            if c.direction in ("up", "down")
        ]
        if moved:
            _, name, fragment = max(moved, key=lambda m: (m[0], m[1]))
            out.append(text(lang, "headline.others_mover", metric=text(lang, f"metric.{name}"), change=fragment))
    return out


def place(lang: str, alert: dict) -> str:
    return alert["street"] or text(lang, "label.cell", cell=alert["h3_cell"])


def hotspot_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    if numbers["alerts"] == 0:
        return [text(lang, "hotspots.none", last=numbers["alerts_last_week"])]
    out = [
        text(
            lang,
            "hotspots.summary",
            alerts=numbers["alerts"],
            last=numbers["alerts_last_week"],
            new=numbers["new_alerts"],
            intensifying=numbers["intensifying"],
        )
    ]
    top = numbers["top"][0]
    expected = top["expected"]
    out.append(
        text(
            lang,
            "hotspots.top",
            place=place(lang, top),
            category=top["category"],
            complaints=fmt_count(top["complaints"]),
            expected="—" if expected is None else f"{expected:.1f}",
            confidence=top["confidence"],
        )
    )
    group, n = numbers["alerts_by_group"][0]
    if n > 1:
        out.append(text(lang, "hotspots.group", group=group, n=n))
    return out


def performance_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    best, worst = numbers["best"][0], numbers["worst"][0]
    out = [
        text(
            lang,
            "performance.summary",
            n=numbers["units_ranked"],
            best=best["unit_name"],
            best_score=f"{best['composite_score']:.1f}",
            worst=worst["unit_name"],
            worst_score=f"{worst['composite_score']:.1f}",
        )
    ]
    up = numbers["movers_up"][0] if numbers["movers_up"] else None
    down = numbers["movers_down"][0] if numbers["movers_down"] else None
    values = {}
    if up:
        values.update(up=up["unit_name"], up_k=up["rank_change"], up_rank=up["rank"])
    if down:
        values.update(down=down["unit_name"], down_k=-down["rank_change"], down_rank=down["rank"])
    key = (
        "performance.movers"
        if up and down
        else "performance.only_up"
        if up
        else "performance.only_down"
        if down
        else "performance.no_movers"
    )
    out.append(text(lang, key, **values))
    return out


def scorecard_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    city, before = numbers["city"], numbers["city_previous"] or {}
    change = rate_change(city["on_time_closure_rate"], before.get("on_time_closure_rate"), params.steady_rate_points)
    out = [
        text(
            lang,
            "scorecard.summary",
            month=numbers["month"],
            to_date="" if numbers["month_complete"] else text(lang, "scorecard.to_date"),
            on_time=fmt_rate(city["on_time_closure_rate"]),
            change=describe(lang, "rate", change, than="month"),
            closure=fmt_rate(city["closure_rate"]),
            rework=fmt_rate(city["rework_rate"]),
        )
    ]
    if numbers["streets"]:
        worst = numbers["streets"][0]
        out.append(
            text(
                lang,
                "scorecard.worst",
                street=worst["unit_name"],
                rate=fmt_rate(worst["on_time_closure_rate"]),
                overdue=fmt_count(worst["overdue_open_at_period_end"]),
            )
        )
    return out


def demand_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    before = numbers["orders_previous"]
    change = None if not before else numbers["orders"] / before - 1
    out = [
        text(
            lang,
            "demand.summary",
            orders=fmt_count(numbers["orders"]),
            change=text(lang, "demand.no_previous") if change is None else text(lang, "demand.change", pct=f"{100 * change:+.1f}%"),
            cancel=fmt_rate(numbers["cancel_share"]),
            cell=numbers["busiest_cell"],
            cell_orders=fmt_count(numbers["busiest_cell_orders"]),
        )
    ]
    if numbers["anomalies"]:
        first = numbers["anomalies"][0]
        out.append(
            text(
                lang,
                "demand.anomalies",
                n=fmt_count(numbers["anomaly_count"]),
                hour=first["local_hour"],
                cell=first["h3_cell"],
                actual=fmt_count(first["actual"]),
                forecast=f"{first['forecast']:.1f}",
            )
        )
    else:
        out.append(text(lang, "demand.no_anomalies"))
    return out


def quality_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    sep = text(lang, "list_sep")
    out = []
    if numbers["quarantine"]:
        top = numbers["quarantine"][0]
        out.append(
            text(
                lang,
                "quality.quarantine",
                rows=fmt_count(numbers["quarantined_rows"]),
                source=top["source"],
                reason=rule_label(lang, top["rule"], top["reason"]),
                n=fmt_count(top["rows"]),
            )
        )
    else:
        out.append(text(lang, "quality.quarantine_none"))

    drops = numbers["drops"]
    missing = [d for d in drops if d["missing"]]
    if drops and not missing:
        out.append(text(lang, "quality.drops_ok", n=len(drops), days=max(d["expected_days"] for d in drops)))
    if missing:
        dates = sorted({day for d in missing for day in d["missing"]})
        out.append(
            text(
                lang,
                "quality.drops_missing",
                sources=sep.join(d["source"] for d in missing),
                k=sum(len(d["missing"]) for d in missing),
                dates=sep.join(day[5:] for day in dates),
            )
        )
    late_files = sum(len(d["late"]) for d in drops)
    if late_files:
        worst = max(d["max_lag_hours"] or 0 for d in drops)
        out.append(text(lang, "quality.drops_late", files=late_files, hours=f"{params.late_after_hours:g}", days=f"{worst / 24:.0f}"))

    table_level = [c for c in numbers["failed_checks"] if c["level"] == "table"]
    if table_level:
        out.append(text(lang, "quality.checks_table", n=len(table_level), rules=sep.join(f"{c['table']} {c['rule']}" for c in table_level)))
    elif numbers["failed_checks"]:
        out.append(text(lang, "quality.checks_rows", n=len(numbers["failed_checks"])))
    elif drops:
        out.append(text(lang, "quality.checks_none"))
    if numbers["batches"]["unbalanced"]:
        out.append(text(lang, "quality.unbalanced", n=numbers["batches"]["unbalanced"]))
    return out


def stability_reasons(row: dict, lang: str) -> str:
    """A community's three largest reasons with their points, in ``lang``."""
    parts = [
        text(lang, "stability.reason", name=indicator_label(lang, row[f"top{k}_indicator"]), points=f"{row[f'top{k}_contribution']:.1f}")
        for k in (1, 2, 3)
        if row.get(f"top{k}_indicator")
    ]
    return ("、" if lang == "zh" else ", ").join(parts)


def stability_sentences(numbers: dict, lang: str, params: ReportParams) -> list[str]:
    levels = numbers["levels"]
    out = [text(lang, "stability.summary", n=numbers["communities_scored"], **levels)]
    top = numbers["red_list"][0]
    if numbers["red_list_is_alert"]:
        out.append(
            text(
                lang,
                "stability.top",
                name=top["unit_name"],
                street=top["street_name"],
                score=f"{top['score']:.1f}",
                level=text(lang, f"level.{top['level_color']}"),
                reasons=stability_reasons(top, lang),
            )
        )
    else:
        out.append(text(lang, "stability.no_alert"))
    if numbers["risers"]:
        r = numbers["risers"][0]
        out.append(
            text(
                lang,
                "stability.risers",
                name=r["unit_name"],
                street=r["street_name"],
                change=f"{r['score_change']:.1f}",
                score=f"{r['score']:.1f}",
            )
        )
    if numbers["insufficient"]:
        out.append(text(lang, "stability.insufficient", n=numbers["insufficient"]))
    out.append(text(lang, "stability.note"))
    return out
