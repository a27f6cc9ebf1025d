"""The report's charts and its hotspot map, drawn with matplotlib from the numbers alone.

Each function takes one section's numbers and a language and returns an SVG document as
text (glyphs drawn as paths, so the SVG needs no font wherever it is opened; ids salted so
the same numbers draw the same bytes). The map draws the H3 cells themselves as polygons
(``h3.cell_to_boundary``): no web tiles, nothing fetched.

Chinese needs a CJK font: matplotlib must find ``Noto Sans CJK SC`` (Debian package
``fonts-noto-cjk``) by name, or every character would be drawn as an empty box. ``cjk_font``
finds it or fails with a message that names the package.
"""

from __future__ import annotations

import io
from contextlib import contextmanager

import matplotlib

from citybrain.jobs.report.i18n import indicator_label, rule_label, text

CJK_FONT = "Noto Sans CJK SC"
FONT_PACKAGE = "fonts-noto-cjk"

ACCENT = "#c0392b"  # this week, worst, alerts
GOOD = "#2e8b57"
NEUTRAL = "#9aa5b1"
LATE = "#e67e22"
RATE_COLOURS = ("#1f77b4", "#2e8b57", "#8e44ad")


class FontMissing(RuntimeError):
    """The CJK font the report needs is not installed."""


def cjk_font() -> str:
    """The file of Noto Sans CJK SC as matplotlib sees it; raises FontMissing naming the Debian package."""
    from matplotlib import font_manager

    props = font_manager.FontProperties(family=CJK_FONT)
    try:
        return font_manager.findfont(props, fallback_to_default=False)
    except ValueError:
        pass
    # Installed after matplotlib cached its font list: add the system's Noto CJK files once.
    for path in font_manager.findSystemFonts():
        if "NotoSansCJK" in path.replace("-", "").replace("_", ""):
            font_manager.fontManager.addfont(path)
    try:
        return font_manager.findfont(props, fallback_to_default=False)
    except ValueError:
        raise FontMissing(
            f"the report needs the font {CJK_FONT!r}, which matplotlib cannot find: install the Debian package "
            f"{FONT_PACKAGE} (apt-get install {FONT_PACKAGE})"
        ) from None


@contextmanager
def _style():
    cjk_font()
    with matplotlib.rc_context(
        {
            "font.family": [CJK_FONT],
            "font.size": 8.5,
            "axes.unicode_minus": False,  # the CJK font has no U+2212 in every weight
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.fonttype": "path",
            "svg.hashsalt": "citybrain-report",
        }
    ):
        yield


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def headline_chart(numbers: dict, lang: str) -> str:
    history = numbers["history"]
    with _style():
        fig = _figure(7.2, 2.6)
        ax = fig.add_subplot()
        labels = [h["iso_week"][5:] for h in history]
        counts = [h["received"] or 0 for h in history]
        colours = [NEUTRAL] * (len(history) - 1) + [ACCENT]
        ax.bar(labels, counts, color=colours, width=0.6)
        ax.set_ylabel(text(lang, "headline.chart_count"))
        for x, c in zip(labels, counts, strict=True):
            ax.annotate(f"{c:,}", (x, c), ha="center", va="bottom", fontsize=7, xytext=(0, 1), textcoords="offset points")
        rates = ax.twinx()
        rates.spines["right"].set_visible(True)
        values = []
        for name, colour in zip(("timely_acceptance_rate", "on_time_completion_rate", "satisfaction_rate"), RATE_COLOURS, strict=True):
            series = [None if h[name] is None else 100 * h[name] for h in history]
            values += [v for v in series if v is not None]
            rates.plot(labels, series, marker="o", markersize=3, color=colour, label=text(lang, f"metric.{name}"))
        if values:
            rates.set_ylim(max(0.0, min(values) - 2), 100.5)
        rates.set_ylabel(text(lang, "headline.chart_rate"))
        rates.legend(loc="lower left", fontsize=7, frameon=False, ncols=3)
        ax.set_title(text(lang, "headline.chart", weeks=len(history)), fontsize=9)
        return _svg(fig)


def hotspot_map(numbers: dict, lang: str) -> str:
    import h3
    import numpy as np
    from matplotlib import cm, colors
    from matplotlib import patheffects as pe
    from matplotlib.collections import PolyCollection

    cells = numbers["cells"]
    with _style():
        fig = _figure(7.2, 5.2)
        ax = fig.add_subplot()
        polygons = [[(lng, lat) for lat, lng in h3.cell_to_boundary(cell)] for cell, *_ in cells]
        counts = np.array([c[1] or 0 for c in cells], dtype=float)
        norm = colors.Normalize(vmin=0, vmax=max(1.0, float(counts.max()) if len(counts) else 1.0))
        cmap = matplotlib.colormaps["YlOrRd"]
        faces = [cmap(norm(v)) if v > 0 else (0.93, 0.93, 0.93, 1.0) for v in counts]
        ax.add_collection(PolyCollection(polygons, facecolors=faces, edgecolors="white", linewidths=0.3))

        centres = {cell: h3.cell_to_latlng(cell) for cell, *_ in cells}
        streets: dict[str, list[tuple[float, float]]] = {}
        for cell, _, _, street in cells:
            if street:
                streets.setdefault(street, []).append(centres[cell])
        halo = [pe.withStroke(linewidth=2.2, foreground="white")]
        for street, points in sorted(streets.items()):
            lat, lng = np.mean(points, axis=0)
            ax.text(lng, lat, street, ha="center", va="center", fontsize=7, color="#34495e", alpha=0.85, path_effects=halo)

        numbered: dict[str, list[int]] = {}
        for i, alert in enumerate(numbers["top"], start=1):
            numbered.setdefault(alert["h3_cell"], []).append(i)
        for cell, idx in numbered.items():
            lat, lng = h3.cell_to_latlng(cell)
            boundary = [(x, y) for y, x in h3.cell_to_boundary(cell)]
            ax.add_collection(PolyCollection([boundary], facecolors="none", edgecolors="#1a237e", linewidths=1.4))
            ax.text(
                lng, lat, ",".join(map(str, idx)), ha="center", va="center", fontsize=8, weight="bold", color="#1a237e", path_effects=halo
            )

        if polygons:
            xs = [x for p in polygons for x, _ in p]
            ys = [y for p in polygons for _, y in p]
            ax.set_xlim(min(xs), max(xs))
            ax.set_ylim(min(ys), max(ys))
            ax.set_aspect(1 / np.cos(np.radians(np.mean(ys))))
        ax.set_axis_off()
        bar = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, pad=0.01)
        bar.set_label(text(lang, "hotspots.map_legend"))
        ax.set_title(text(lang, "hotspots.map"), fontsize=9)
        return _svg(fig)


def performance_chart(numbers: dict, lang: str) -> str:
    streets = numbers["streets"]  # rank order, best first
    best = {s["unit_code"] for s in numbers["best"]}
    worst = {s["unit_code"] for s in numbers["worst"]}
    with _style():
        fig = _figure(7.2, 0.18 * len(streets) + 0.8)
        ax = fig.add_subplot()
        names = [f"{s['rank']}. {s['unit_name']}" for s in streets][::-1]
        scores = [s["composite_score"] for s in streets][::-1]
        colours = [GOOD if s["unit_code"] in best else ACCENT if s["unit_code"] in worst else NEUTRAL for s in streets][::-1]
        ax.barh(names, scores, color=colours, height=0.65)
        low = min(scores)
        ax.set_xlim(max(0.0, low - 3), 100.8)
        for y, s in enumerate(streets[::-1]):
            change = s["rank_change"]
            mark = "—" if not change else f"↑{change}" if change > 0 else f"↓{-change}"
            colour = GOOD if (change or 0) > 0 else ACCENT if (change or 0) < 0 else NEUTRAL
            ax.text(s["composite_score"] + 0.1, y, f"{s['composite_score']:.1f}  {mark}", va="center", fontsize=7, color=colour)
        ax.set_xlabel(text(lang, "metric.composite_score"))
        ax.set_title(text(lang, "performance.chart"), fontsize=9)
        return _svg(fig)


def scorecard_chart(numbers: dict, lang: str) -> str:
    streets = numbers["streets"]  # lowest on-time closure first
    city = numbers["city"]["on_time_closure_rate"]
    with _style():
        fig = _figure(7.2, 0.16 * max(len(streets), 1) + 0.8)
        ax = fig.add_subplot()
        names = [s["unit_name"] for s in streets]
        rates = [100 * s["on_time_closure_rate"] for s in streets]
        colours = [ACCENT if i == 0 else NEUTRAL for i in range(len(streets))]
        ax.barh(names, rates, color=colours, height=0.65)
        ax.invert_yaxis()
        if city is not None:
            ax.axvline(100 * city, color="#34495e", linestyle="--", linewidth=1)
        if rates:
            ax.set_xlim(max(0.0, min(rates) - 5), 100.5)
        for y, r in enumerate(rates):
            ax.text(r + 0.1, y, f"{r:.1f}%", va="center", fontsize=7)
        ax.set_xlabel(text(lang, "metric.on_time_closure_rate") + " (%)")
        ax.set_title(text(lang, "scorecard.chart", month=numbers["month"]), fontsize=9)
        return _svg(fig)


def demand_chart(numbers: dict, lang: str) -> str:
    with _style():
        fig = _figure(7.2, 2.4)
        ax = fig.add_subplot()
        hours = list(range(24))
        ax.bar(hours, numbers["by_hour"], color=ACCENT, width=0.7, label=text(lang, "demand.this_week"))
        if numbers["by_hour_previous"]:
            ax.plot(
                hours,
                numbers["by_hour_previous"],
                color=NEUTRAL,
                linewidth=1.2,
                marker="o",
                markersize=2,
                label=text(lang, "demand.last_week"),
            )
        ax.set_xticks(hours[::3])
        ax.set_xlabel(text(lang, "demand.hour"))
        ax.legend(fontsize=7, frameon=False)
        ax.set_title(text(lang, "demand.chart"), fontsize=9)
        return _svg(fig)


def quality_chart(numbers: dict, lang: str) -> str:
    import numpy as np
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    with _style():
        fig = _figure(7.2, 3.2)
        left, right = fig.subplots(1, 2, width_ratios=(1.1, 1))

        by_source: dict[str, dict[str, int]] = {}
        for q in numbers["quarantine"]:
            label = rule_label(lang, q["rule"], q["reason"])
            by_source.setdefault(q["source"], {}).setdefault(label, 0)
            by_source[q["source"]][label] += q["rows"]
        sources = sorted(by_source, key=lambda s: sum(by_source[s].values()))
        rules = sorted({r for counts in by_source.values() for r in counts})
        palette = matplotlib.colormaps["tab10"]
        start = np.zeros(len(sources))
        for i, rule in enumerate(rules):
            widths = np.array([by_source[s].get(rule, 0) for s in sources], dtype=float)
            left.barh(sources, widths, left=start, color=palette(i % 10), label=rule, height=0.6)
            start += widths
        if rules:
            left.legend(fontsize=6.5, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2)
        else:
            left.text(0.5, 0.5, text(lang, "quality.quarantine_none"), ha="center", va="center", transform=left.transAxes)
            left.set_yticks([])
        left.set_title(text(lang, "quality.chart_quarantine"), fontsize=9)

        drops = numbers["drops"]
        days = sorted({d for drop in drops for d in drop["days"]})
        code = {"on_time": 1, "late": 2, "missing": 3}
        grid = np.array([[code.get(drop["days"].get(d, ""), 0) for d in days] for drop in drops]) if drops and days else np.zeros((1, 1))
        cmap = ListedColormap(["#ffffff", GOOD, LATE, ACCENT])
        right.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto")
        right.set_xticks(range(len(days)), [d[5:] for d in days], fontsize=7)
        right.set_yticks(range(len(drops)), [d["source"] for d in drops], fontsize=7)
        right.set_xticks(np.arange(-0.5, len(days), 1), minor=True)
        right.set_yticks(np.arange(-0.5, len(drops), 1), minor=True)
        right.grid(which="minor", color="white", linewidth=1.5)
        right.tick_params(which="minor", length=0)
        for spine in right.spines.values():
            spine.set_visible(False)
        right.legend(
            handles=[Patch(color=c, label=text(lang, f"quality.{k}")) for k, c in (("on_time", GOOD), ("late", LATE), ("missing", ACCENT))],
            fontsize=6.5,
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncols=3,
        )
        right.set_title(text(lang, "quality.chart_drops"), fontsize=9)
        return _svg(fig)


LEVEL_COLOURS = {"red": "#c0392b", "orange": "#e67e22", "yellow": "#f1c40f", "blue": "#5b8db8"}
REASON_SHADES = ("#34495e", "#5d6d7e", "#85929e")


def stability_chart(numbers: dict, lang: str) -> str:
    """The red list's scores split into their three largest reasons and the rest (they add up to the score)."""
    rows = numbers["red_list"][::-1]
    with _style():
        fig = _figure(7.2, 0.3 * len(rows) + 1.2)
        ax = fig.add_subplot()
        names = [r["unit_name"] for r in rows]
        left = [0.0] * len(rows)
        for k, shade in zip((1, 2, 3), REASON_SHADES, strict=True):
            points = [r[f"top{k}_contribution"] or 0.0 for r in rows]
            bars = ax.barh(names, points, left=left, color=shade, height=0.6)
            for bar, r, p in zip(bars, rows, points, strict=True):
                if p >= 6 and r[f"top{k}_indicator"]:
                    label = indicator_label(lang, r[f"top{k}_indicator"])
                    ax.text(bar.get_x() + 0.5, bar.get_y() + bar.get_height() / 2, label[:10], va="center", fontsize=6, color="white")
            left = [a + b for a, b in zip(left, points, strict=True)]
        other = [max(r["score"] - left[i], 0.0) for i, r in enumerate(rows)]
        ax.barh(names, other, left=left, color=NEUTRAL, height=0.6, label=text(lang, "stability.other"))
        for y, r in enumerate(rows):
            ax.text(r["score"] + 0.8, y, f"{r['score']:.1f}", va="center", fontsize=7, color=LEVEL_COLOURS.get(r["level_color"], NEUTRAL))
        ax.set_xlim(0, 105)
        ax.set_xlabel(text(lang, "col.score"))
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.set_title(text(lang, "stability.chart"), fontsize=9)
        return _svg(fig)
