"""gold.complaint_hotspots: where complaints concentrate or grow, per H3 cell and ISO week.

The parameters of the job sit beside the contract (HotspotParams): one place for the
resolution, the neighbourhood, the windows and the confidence levels that the job, the
evaluation, the docs and the dashboards read.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.schemas.contract import Column, Contract

ALL_CATEGORIES = "all"
LEVELS = ("all", "l1", "l2")


@dataclass(frozen=True)
class HotspotParams:
    """How gold.complaint_hotspots is computed (defaults measured on the demo city; see jobs/gold/README.md).

    resolution          H3 resolution of the cells (silver carries 7, 8 and 9)
    k_ring              Gi* neighbourhood: the cell and its k rings
    alert_windows       lengths in weeks of the windows the excess test tries (Bonferroni over them)
    baseline_weeks      weeks before a window that make its baseline
    min_baseline_weeks  no alert before this many weeks of history
    prior_weeks         weight, in weeks of evidence, of the low-rank city-wide fit beside the cell's own history
    rank                number of city-wide category profiles in that fit
    min_count           complaints a window needs before it can alert
    alert_q             false discovery rate of an alert (0.05: "hot at 95 %")
    continue_alpha      level at which an open alert stays open, week by week
    trend_weeks         weeks of Gi* history behind the emerging-hotspot trend
    top_subcategories   sub-categories listed per row
    """

    resolution: int = 8
    k_ring: int = 1
    alert_windows: tuple[int, ...] = (1, 3)
    baseline_weeks: int = 8
    min_baseline_weeks: int = 3
    prior_weeks: float = 16.0
    rank: int = 2
    min_count: int = 5
    alert_q: float = 0.05
    continue_alpha: float = 0.05
    trend_weeks: int = 8
    top_subcategories: int = 3

    def __post_init__(self) -> None:
        if self.resolution not in (7, 8, 9):
            raise ValueError(f"hotspot resolution {self.resolution}: silver carries H3 cells at resolutions 7, 8 and 9")
        if self.alert_q not in (0.10, 0.05, 0.01):
            raise ValueError(f"alert_q {self.alert_q}: use 0.10, 0.05 or 0.01 (90, 95 or 99 % confidence)")
        if self.k_ring < 1:
            raise ValueError("k_ring must be at least 1")


GOLD_COMPLAINT_HOTSPOTS = Contract(
    name="gold.complaint_hotspots",
    columns=(
        Column("source_system", "string", False, "which hotline (demo_12345, boston_311, ...): cities never mix"),
        Column("h3_cell", "string", False, "H3 cell (resolution in h3_resolution)"),
        Column("h3_resolution", "int", False),
        Column("iso_week", "string", False, "ISO week 'YYYY-Www' of the tickets' local received date"),
        Column("week_start", "date", False, "Monday of the ISO week"),
        Column("category_level", "string", False, "all | l1 (category group) | l2 (sub-category)"),
        Column("category", "string", False, "'all', a category_l1 or a category_l2"),
        Column("category_l1", "string", True, "the group of an l2 row; the category itself on an l1 row; null on 'all'"),
        Column("complaints", "bigint", False, "tickets received in the cell and week (zero-filled over the city's cells)"),
        Column("population", "bigint", True, "registered residents of the cell (silver.grid); null where the city has no registry"),
        Column("rate_per_1000", "double", True, "complaints per 1,000 residents; null without population"),
        Column(
            "expected_from_population", "double", True, "the city's rate per resident for the category and week x the cell's population"
        ),
        Column(
            "expected_from_history",
            "double",
            True,
            "the cell's own recent weeks blended with a low-rank city-wide category mix (Gamma-Poisson posterior mean); null in the first weeks",
        ),
        Column("excess_z", "double", True, "(complaints - expected) / sqrt(expected), expected from history, else population"),
        Column("gi_star_z", "double", True, "Getis-Ord Gi* z-score of excess_z over the cell's k-ring"),
        Column("gi_star_p", "double", True, "two-sided p-value of gi_star_z"),
        Column(
            "gi_class", "int", False, "+3/+2/+1 hot, -1/-2/-3 cold at 99/95/90 % after Benjamini-Hochberg per week and category; 0 none"
        ),
        Column("alert_p", "double", True, "p-value of the cell-category's excess (negative binomial, Bonferroni over the windows)"),
        Column("alert_window_weeks", "int", False, "length of the window behind alert_p; 0 = not tested"),
        Column("alert_confidence", "int", False, "90, 95 or 99: highest confidence at which the excess is a BH-FDR discovery; 0 none"),
        Column("is_alert", "boolean", False, "an unusual excess at the configured false discovery rate (the hotspot alert)"),
        Column(
            "trend", "string", False, "emerging-hotspot trend of the Gi* series: new, intensifying, persistent, diminishing, sporadic, none"
        ),
        Column("trend_mk_z", "double", True, "Mann-Kendall z of the cell's Gi* series over the trend weeks"),
        Column("trend_mk_p", "double", True),
        Column("forecast_next_week", "double", True, "expected complaints next week (the risk used to rank cells)"),
        Column(
            "top_subcategories", "string", True, "largest sub-categories this week with their expected counts, e.g. '噪声扰民 21 (4.1)'"
        ),
        Column("example_text", "string", True, "one complaint text of the top sub-category (already scrubbed in silver)"),
        Column("police_incidents", "bigint", False, "110 incidents in the cell and week"),
        Column("petitions", "bigint", False, "petitions placed in the cell (at their community) and week"),
        Column("urban_cases", "bigint", False, "urban-management cases reported in the cell and week"),
        Column("ride_pickups", "bigint", False, "ride-hailing pickups in the cell and week"),
        Column("built_at", "timestamp", False),
    ),
    grain="one row per hotline per H3 cell per ISO week per category (all, each category group, each sub-category)",
    description="Complaint hotspots: counts, expected counts, excess alerts, Gi* hot and cold spots, emerging trends and cross-domain context.",
    owner="analytics",
    keys=("source_system", "h3_cell", "iso_week", "category_level", "category"),
)

GOLD_HOTSPOT_CONTEXT = Contract(
    name="gold.hotspot_context",
    columns=(
        Column(
            "context",
            "string",
            False,
            "which record: police_incidents, petitions, urban_cases or ride_pickups (a column of gold.complaint_hotspots)",
        ),
        Column("h3_cell", "string", False, "H3 cell (resolution in h3_resolution)"),
        Column("h3_resolution", "int", False),
        Column("week_start", "date", False, "Monday of the ISO week of the record's silver dt"),
        Column("records", "bigint", False, "the department's records in the cell and week"),
        Column("built_at", "timestamp", False),
    ),
    grain="one row per kind of context record per H3 cell per ISO week with at least one record",
    description=(
        "Other departments' records per cell and week: the cross-domain context of gold.complaint_hotspots, kept between "
        "its builds so that a new day recounts only the weeks it changed (jobs/gold/hotspot_context.py)."
    ),
    owner="analytics",
    keys=("context", "h3_cell", "week_start"),
)
