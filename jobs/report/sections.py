"""The report's sections, in print order: the one list the build, the template and the docs read.

A section is four things: the tables it reads, a numbers function (``weekly.py``: pinned
lake -> JSON-able dict, or None when there is nothing to say), a sentences function
(``interpret.py``: numbers -> plain-language sentences) and a chart function
(``charts.py``: numbers -> SVG), plus its template ``templates/sections/<key>.html.j2``.
Sentences and charts see only the numbers, so a rebuild that finds the same numbers
prints the same report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from citybrain.jobs.report import charts, interpret, weekly
from citybrain.schemas.gold.report_index import ReportParams


@dataclass(frozen=True)
class Section:
    key: str  # template sections/<key>.html.j2, strings section.<key>
    tables: tuple[str, ...]  # what its numbers function reads (the snapshot pins them)
    numbers: Callable[[weekly.Scope], dict | None]
    sentences: Callable[[dict, str, ReportParams], list[str]]
    chart: Callable[[dict, str], str]


def _quarantine_tables() -> tuple[str, ...]:
    from citybrain.schemas import all_contracts

    return tuple(name for name in all_contracts() if name.startswith("quarantine."))


def sections() -> tuple[Section, ...]:
    return (
        Section("headline", (weekly.PERFORMANCE, weekly.HOTSPOTS), weekly.headline, interpret.headline_sentences, charts.headline_chart),
        Section("hotspots", (weekly.HOTSPOTS, weekly.GRID), weekly.hotspots, interpret.hotspot_sentences, charts.hotspot_map),
        Section("performance", (weekly.PERFORMANCE,), weekly.performance, interpret.performance_sentences, charts.performance_chart),
        Section("scorecard", (weekly.SCORECARD,), weekly.scorecard, interpret.scorecard_sentences, charts.scorecard_chart),
        Section("stability", (weekly.STABILITY,), weekly.stability, interpret.stability_sentences, charts.stability_chart),
        Section("demand", (weekly.DEMAND, weekly.FORECAST), weekly.demand, interpret.demand_sentences, charts.demand_chart),
        Section(
            "data_quality",
            (weekly.LEDGER, weekly.AUDIT, weekly.QUALITY, *_quarantine_tables()),
            weekly.data_quality,
            interpret.quality_sentences,
            charts.quality_chart,
        ),
    )


def tables_read() -> list[str]:
    """Every table any section reads, plus gold.hotline_performance (it decides the week and the hotline)."""
    return sorted({weekly.PERFORMANCE, *(t for s in sections() for t in s.tables)})
