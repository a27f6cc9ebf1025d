"""gold.report_index: every build of the weekly insight report, with the lake versions it read.

A report is a function of the lake at fixed Delta versions: the index records, per build,
the version of every table the report read (``table_versions``, JSON) and a digest of the
numbers it printed (``numbers_sha256``). ``citybrain report --rebuild`` reads the same
versions again (Delta time travel) and must print the same numbers.

``ReportParams`` beside the contract holds what the report's sections need to know beyond
the data: how many rows each list shows and when a change counts as a change. One place
for these thresholds, read by the report job, its sentences and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.schemas.contract import Column, Contract

#: Report languages; the first is the default (Chinese for the city's leaders).
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class ReportParams:
    """Thresholds and list lengths of the weekly report (the one place for them).

    history_weeks        weeks shown in the trend chart of the headline numbers, the report week included
    steady_count_pct     a count that moves less than this many percent from the week before is "about the same"
    steady_rate_points   a rate that moves less than this many percentage points is "about the same"
    top_hotspots         alerts listed in the hotspot table (most confident, then largest excess, first)
    streets              best and worst streets listed
    movers               streets listed among the biggest movers up and down the ranking (and risers in stability risk)
    red_list             communities listed in the stability red list (orange and red first)
    late_after_hours     a drop file ingested more than this many hours after the end of its drop date is late
    """

    history_weeks: int = 8
    steady_count_pct: float = 2.0
    steady_rate_points: float = 0.3
    top_hotspots: int = 8
    streets: int = 3
    movers: int = 3
    red_list: int = 8
    late_after_hours: float = 36.0

    def __post_init__(self) -> None:
        if self.history_weeks < 2:
            raise ValueError(f"history_weeks must be at least 2 (this week and the one before), not {self.history_weeks}")
        if self.steady_count_pct < 0 or self.steady_rate_points < 0:
            raise ValueError("the steady bands must be >= 0")
        if min(self.top_hotspots, self.streets, self.movers, self.red_list) < 1:
            raise ValueError("top_hotspots, streets, movers and red_list must be at least 1")
        if self.late_after_hours <= 0:
            raise ValueError(f"late_after_hours must be > 0, not {self.late_after_hours}")


GOLD_REPORT_INDEX = Contract(
    name="gold.report_index",
    columns=(
        Column("build_id", "string", False, "one build of one report: '<iso_week>-<lang>-<UTC time>-<random>'"),
        Column("iso_week", "string", False, "the ISO week 'YYYY-Www' the report is about (local dates of the sources)"),
        Column("language", "string", False, "zh | en"),
        Column("source_system", "string", True, "the hotline the report covers (hotlines of two cities never mix); null without one"),
        Column("built_at", "timestamp", False, "when the build finished"),
        Column("is_rebuild", "boolean", False, "true: built from the table versions another build recorded (rebuilt_from)"),
        Column("rebuilt_from", "string", True, "build_id whose table_versions this build read; null for a fresh build"),
        Column(
            "table_versions",
            "string",
            False,
            "JSON object {table: Delta version} of every table the report read, keys sorted; a table that did not"
            " exist at build time is absent (and not read by a rebuild)",
        ),
        Column("numbers_sha256", "string", False, "SHA-256 of numbers.json: equal digests = the same numbers"),
        Column("sections", "string", False, "comma-separated section keys in the order printed, e.g. headline,hotspots"),
        Column("html_path", "string", False, "the report's HTML file (self-contained: images inline)"),
        Column("pdf_path", "string", True, "the report's PDF; null when no PDF renderer was found"),
        Column("numbers_path", "string", False, "numbers.json beside the report (stable key order)"),
        Column("renderer", "string", True, "what printed the PDF, e.g. 'Chromium 156.0.8078.108'; null without a PDF"),
        Column("code_version", "string", False, "citybrain package version that built it"),
    ),
    grain="one row per report build (week x language x build)",
    description=(
        "The weekly insight report's archive: one row per build with its files, the Delta version of every table it"
        " read and a digest of its numbers, so any past week can be rebuilt and checked."
    ),
    owner="analytics",
    keys=("build_id",),
)
