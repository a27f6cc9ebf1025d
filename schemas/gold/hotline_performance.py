"""gold.hotline_performance: the 接诉即办 rates per street, per handling unit and for the whole city.

The contract states every column's exact definition; ``HotlinePerformanceParams`` beside it
holds the thresholds and weights the job uses (the acceptance time limit, what counts as
satisfied, the composite score's weights), so that the job, the docs and the tests read
one definition.

Each count is dated by its own event, in the hotline's local time: received by the
receive date, dispatched by the dispatch date, due by the deadline's date, resolved by the
resolution date, visited by the callback date. Stocks ("open past the deadline") are taken
as of the period's end: local midnight after its last day.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.schemas.contract import Column, Contract

#: satisfaction codes of an effective callback (the citizen was reached and answered)
CALLBACK_CODES = ("satisfied", "basically_satisfied", "dissatisfied")
#: the rates a composite score may weigh
SCORABLE_RATES = (
    "direct_answer_rate",
    "timely_acceptance_rate",
    "on_time_completion_rate",
    "completion_rate",
    "effective_callback_rate",
    "satisfaction_rate",
)


@dataclass(frozen=True)
class HotlinePerformanceParams:
    """Thresholds and weights of gold.hotline_performance (the one place for them).

    acceptance_limit_hours     a dispatched ticket signed for (签收) within this many hours of
                               its dispatch counts as accepted in time (及时签收)
    count_basically_satisfied  基本满意 counts as satisfied (most cities count it; some do not)
    score_weights              (rate column, weight) pairs of the composite score; the score is
                               the weighted mean of the rates a unit has (null rates are left
                               out and the weights of the others renormalised), times 100
    period_types               which periods to build: week (ISO), month
    """

    acceptance_limit_hours: float = 2.0
    count_basically_satisfied: bool = True
    score_weights: tuple[tuple[str, float], ...] = (
        ("timely_acceptance_rate", 0.2),
        ("on_time_completion_rate", 0.4),
        ("satisfaction_rate", 0.4),
    )
    period_types: tuple[str, ...] = ("week", "month")

    def __post_init__(self) -> None:
        if self.acceptance_limit_hours <= 0:
            raise ValueError(f"acceptance_limit_hours must be > 0, not {self.acceptance_limit_hours}")
        unknown = [name for name, _ in self.score_weights if name not in SCORABLE_RATES]
        if unknown or not self.score_weights:
            raise ValueError(f"score_weights must name some of {SCORABLE_RATES}; unknown: {unknown}")
        if any(weight <= 0 for _, weight in self.score_weights):
            raise ValueError(f"score weights must be > 0: {self.score_weights}")
        if not self.period_types or any(p not in ("week", "month") for p in self.period_types):
            raise ValueError(f"period_types must be week and/or month, not {self.period_types}")

    @property
    def satisfied_codes(self) -> tuple[str, ...]:
        return ("satisfied", "basically_satisfied") if self.count_basically_satisfied else ("satisfied",)


def _count(name: str, definition: str) -> Column:
    return Column(name, "bigint", True, definition + "; null when the source has no such data")


def _rate(name: str, definition: str) -> Column:
    return Column(name, "double", True, definition + "; between 0 and 1, null when the denominator is 0 or null")


GOLD_HOTLINE_PERFORMANCE = Contract(
    name="gold.hotline_performance",
    columns=(
        Column("source_system", "string", False, "which hotline (silver.complaint.source_system); hotlines are never mixed"),
        Column("period_type", "string", False, "week (ISO 8601, Monday first) | month"),
        Column("period", "string", False, "'2026-W36' for a week, '2026-09' for a month (local dates)"),
        Column("period_start", "date", False, "first local day of the period"),
        Column("period_end", "date", False, "first local day AFTER the period (exclusive end)"),
        Column(
            "period_complete",
            "boolean",
            False,
            "the source's data covers the whole period: its first receive date is on or before period_start and"
            " the last local day it reported anything on is on or after the period's last day",
        ),
        Column(
            "as_of",
            "timestamp",
            False,
            "the instant the period is judged at: local midnight after the period's last day (UTC instant), or"
            " the end of the source's last reported day when that comes first (an incomplete last period)",
        ),
        Column("unit_type", "string", False, "street | handling_unit | city"),
        Column(
            "unit_code",
            "string",
            False,
            "street: the ticket's located street_code (silver.complaint, placed on silver.grid); handling_unit:"
            " the handling_unit text as exported; city: 'city' (every ticket of the source, located or not)",
        ),
        Column("unit_name", "string", True, "street name from silver.grid; the handling unit's text; 全市 for the city"),
        _count("received", "tickets received in the period (by dt, the local receive date)"),
        _count(
            "direct_answered",
            "of received, answered by the call centre without dispatch (is_direct_answer, 直接答复); null for"
            " handling units (a unit a ticket was handed to did not answer it directly)",
        ),
        _rate("direct_answer_rate", "直接答复率 = direct_answered / received"),
        _count("dispatched", "tickets dispatched (交办) in the period (by the local date of dispatched_at)"),
        _count(
            "accepted_in_time",
            "of dispatched, signed for (accepted_at) at most HotlinePerformanceParams.acceptance_limit_hours (2 h)"
            " after dispatched_at; a ticket never signed for is not in time",
        ),
        _rate("timely_acceptance_rate", "及时签收率 = accepted_in_time / dispatched"),
        _count(
            "due",
            "tickets whose deadline (due_at) falls in the period (local date of due_at) and before as_of",
        ),
        _count("resolved_by_period_end", "of due, resolved (办结, resolved_at) before as_of"),
        _count("resolved_on_time", "of due, resolved at or before their deadline (resolved_at <= due_at)"),
        _rate("on_time_completion_rate", "按时办结率 = resolved_on_time / due"),
        _rate("completion_rate", "办结率 = resolved_by_period_end / due"),
        _count("resolved", "tickets resolved in the period (by the local date of resolved_at)"),
        _count(
            "resolved_with_callback",
            "of resolved, those with an effective callback (satisfaction satisfied, basically_satisfied or"
            " dissatisfied), whenever the callback happened in the data",
        ),
        _rate(
            "effective_callback_rate",
            "有效回访率 = resolved_with_callback / resolved (a cohort: the callbacks of the period's resolved"
            " tickets; the last days' callbacks may still be missing in an incomplete period)",
        ),
        _count(
            "visited",
            "tickets called back in the period (by the local date of visited_at) with satisfaction satisfied,"
            " basically_satisfied or dissatisfied (an effective callback)",
        ),
        _count(
            "satisfied",
            "of visited, satisfied or basically satisfied (basically satisfied counts unless"
            " HotlinePerformanceParams.count_basically_satisfied is False)",
        ),
        _rate("satisfaction_rate", "回访满意率 = satisfied / visited"),
        _count(
            "open_past_deadline",
            "tickets open past their deadline as of as_of: due_at before as_of and resolved_at null or at/after"
            " as_of, whatever period the deadline fell in (a stock, not a flow)",
        ),
        Column(
            "composite_score",
            "double",
            True,
            "100 x the weighted mean of the rates in HotlinePerformanceParams.score_weights (default: timely"
            " acceptance 0.2, on-time completion 0.4, satisfaction 0.4); a null rate is left out and the other"
            " weights renormalised; null when every weighted rate is null",
        ),
        Column(
            "rank",
            "int",
            True,
            "rank of composite_score among the units of the same unit_type, source and period (1 = best; ties"
            " share a rank); null for the city row and for units without a score",
        ),
        Column("units_ranked", "int", True, "how many units of this type have a rank in the period; null for the city row"),
        Column("previous_rank", "int", True, "the unit's rank in the immediately preceding period of the same type; null if none"),
        Column("rank_change", "int", True, "previous_rank - rank: positive = moved up (better), negative = moved down"),
    ),
    grain=(
        "one row per source_system, period_type, period, unit_type and unit_code, for every period from the source's first"
        " receive date to its last reported day, where the unit has a ticket event dated in the period or a ticket open"
        " past its deadline at the period's end"
    ),
    description=(
        "12345 接诉即办 performance: direct answer, timely acceptance, on-time completion, completion, callback and"
        " satisfaction rates, the backlog past its deadline and a ranked composite score, per street, handling unit"
        " and the whole city, per ISO week and month, in the hotline's local time. Rebuilt whole on every run."
    ),
    owner="data-engineering",
    keys=("source_system", "period_type", "period", "unit_type", "unit_code"),
)
