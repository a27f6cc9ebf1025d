"""gold.governance_scorecard: the 数字城管 / 智慧城管 indicators the data supports, per street and month.

The contract states every indicator's exact definition; ``GovernanceScorecardParams``
beside it holds what the job needs to know (which hotline serves the city, which ticket
category and case source make the 12345 transfer). The seed's evaluation index has 24
third-level indicators; the ones the department data cannot support are listed in
``UNSUPPORTED_SEED_INDICATORS`` (and in jobs/gold/README.md), not invented.

Cases are dated in the urban-management system's local time. A case is "handled" at its
last 处置 (handled_at), or at its 结案 (closed_at) when no 处置 was recorded; that instant is
what the deadline (处置时限) is judged against.
"""

from __future__ import annotations

from dataclasses import dataclass

from citybrain.schemas.contract import Column, Contract


@dataclass(frozen=True)
class GovernanceScorecardParams:
    """What gold.governance_scorecard needs to know beyond the data (the one place for it).

    hotline_sources        silver.complaint source_system values of the hotline(s) serving the
                           city whose urban cases these are (denominator of the 12345 conversion)
    hotline_category_l1    the ticket category whose tickets the 12345 centre may hand to 数字城管
    transfer_source        the case source of a case handed over by the 12345 hotline
    period_types           month (as cities publish it); week is possible
    """

    hotline_sources: tuple[str, ...] = ("demo_12345",)
    hotline_category_l1: str = "城市管理"
    transfer_source: str = "12345转办"
    period_types: tuple[str, ...] = ("month",)

    def __post_init__(self) -> None:
        if not self.period_types or any(p not in ("week", "month") for p in self.period_types):
            raise ValueError(f"period_types must be week and/or month, not {self.period_types}")


#: Third-level indicators of the seed's 智慧城管 evaluation index (article 5, table 2) that no
#: department feed here can measure: (first level, second level, third level, why).
UNSUPPORTED_SEED_INDICATORS = (
    ("管理体制", "体制健全", "在线服务机构的建设与运作", "organisational fact, not in any feed"),
    ("管理体制", "体制健全", "相应的组织体系建设", "organisational fact, not in any feed"),
    ("管理体制", "责任落实", "对横向上责任到位的推进", "needs responsibility assignments (门前三包), not in any feed"),
    ("管理体制", "责任落实", "对纵向上有机衔接的推进", "needs the hierarchy's coordination records, not in any feed"),
    ("管理体制", "基层建设", "基层街居终端建设", "needs an inventory of street/community terminals"),
    ("管理体制", "基层建设", "基层管理机构建设", "organisational fact, not in any feed"),
    ("运行机制", "法治化", "相关法律、法规、制度健全程度", "needs a register of regulations; expert judgement"),
    ("运行机制", "法治化", "对专业规划的宣传效果", "needs publicity and survey data"),
    ("运行机制", "法治化", "对相关法律、法规、制度的普及", "needs legal-education and survey data"),
    ("运行机制", "可持续", "资金人才保障", "needs budget and staffing data"),
    ("运行机制", "可持续", "“智慧城管”能力建设水平", "needs an assessment of systems and equipment"),
    ("社会认同", "公众参与", "行业开放度", "needs market/outsourcing data"),
    ("社会认同", "社会监督", "政务公开水平", "needs disclosure records"),
    ("社会认同", "社会监督", "绩效评估与奖罚机制", "needs the reward/penalty records"),
    ("服务质量", "便民性", "为弱势群体服务水平", "cases and tickets carry no vulnerable-group marker"),
    ("服务质量", "便民性", "为群众办实事制度建设水平", "institutional, not in any feed"),
    ("服务质量", "创新性", "更新速度", "needs the platform's release history"),
    ("服务质量", "创新性", "理论研究与实践革新", "expert judgement"),
    ("服务质量", "公正性", "执法规范程度", "needs law-enforcement case records (行政执法), not in any feed"),
    ("服务质量", "公正性", "廉洁勤政提升程度", "needs discipline-inspection records"),
)

#: Third-level indicators the scorecard does measure, with the columns that measure them.
SUPPORTED_SEED_INDICATORS = (
    ("运行机制", "高效率", "时效性", "on_time_closure_rate, closure_rate, median_minutes_to_dispatch, median_minutes_to_close"),
    ("运行机制", "高效率", "应急事件的处理速度", "urgent_on_time_rate (cases flagged urgent)"),
    ("社会认同", "公众参与", "公众参与率", "citizen_report_share, hotline_conversion_rate"),
    (
        "服务质量",
        "公正性",
        "监管的有效程度",
        "partly: rework_rate (verification sends back poor handling), overdue_open_at_period_end",
    ),
)


def _count(name: str, definition: str) -> Column:
    return Column(name, "bigint", True, definition)


def _rate(name: str, definition: str) -> Column:
    return Column(name, "double", True, definition + "; between 0 and 1, null when the denominator is 0 or null")


GOLD_GOVERNANCE_SCORECARD = Contract(
    name="gold.governance_scorecard",
    columns=(
        Column("period_type", "string", False, "month (as cities publish it) | week (ISO 8601)"),
        Column("period", "string", False, "'2026-09' for a month, '2026-W36' for a week (local dates)"),
        Column("period_start", "date", False, "first local day of the period"),
        Column("period_end", "date", False, "first local day AFTER the period (exclusive end)"),
        Column(
            "period_complete",
            "boolean",
            False,
            "the case data covers the whole period: the first case was reported on or before period_start and"
            " the last local day with any case event is on or after the period's last day",
        ),
        Column(
            "as_of",
            "timestamp",
            False,
            "the instant the period is judged at: local midnight after its last day (UTC instant), or the end of"
            " the last day with any case event when that comes first (an incomplete last period)",
        ),
        Column("unit_type", "string", False, "street | city"),
        Column("unit_code", "string", False, "street: the case's located street_code; city: 'city' (every case)"),
        Column("unit_name", "string", True, "street name from silver.grid; 全市 for the city"),
        _count("reported", "上报数: cases reported in the period (by dt, the local date of reported_at)"),
        _count("citizen_reported", "of reported, reported by the public (is_citizen_report: 公众举报(微信) or 12345转办)"),
        _rate("citizen_report_share", "公众参与: citizen_reported / reported"),
        _count("filed", "立案数: of reported, filed (立案, filed_at set) and not voided (作废); counted whenever filed"),
        _rate("filing_rate", "立案率 = filed / reported"),
        _count(
            "due",
            "应结案数: cases not voided whose deadline (处置时限, after any postponement) falls in the period (local"
            " date) and before as_of",
        ),
        _count("closed_by_period_end", "of due, closed (结案, closed_at) before as_of"),
        _rate("closure_rate", "结案率 = closed_by_period_end / due (postponed cases are not excluded)"),
        _count(
            "handled_on_time",
            "of due, handled at or before the deadline: the last 处置 event (handled_at), or 结案 when no 处置"
            " was recorded, is <= deadline; a case sent back (返工) is judged by its last 处置",
        ),
        _rate("on_time_closure_rate", "按期结案率 = handled_on_time / due"),
        _count("reworked", "of due, sent back at least once (返工, rework_count >= 1)"),
        _rate("rework_rate", "返工率 = reworked / due"),
        _count("postponed", "of due, postponed (延期) at least once"),
        _rate("postponement_rate", "延期率 = postponed / due"),
        _count("urgent_due", "of due, flagged urgent (is_urgent)"),
        _count("urgent_handled_on_time", "of urgent_due, handled at or before the deadline (as handled_on_time)"),
        _rate("urgent_on_time_rate", "紧急问题按期结案率 = urgent_handled_on_time / urgent_due"),
        _count(
            "overdue_open_at_period_end",
            "cases open past their deadline as of as_of: not voided, deadline before as_of, and neither handled"
            " (last 处置) nor closed before as_of, whatever period the deadline fell in (a stock). Judged from the"
            " timestamps, not from silver.urban_case.is_overdue",
        ),
        _count("dispatched", "cases dispatched (派遣) in the period (by the local date of dispatched_at)"),
        Column(
            "median_minutes_to_dispatch",
            "double",
            True,
            "exact median (F.median; the mean of the two middle values for an even count) of minutes_to_dispatch"
            " (filed -> dispatched) over the period's dispatched cases; null when none",
        ),
        _count("closed", "cases closed (结案) in the period (by the local date of closed_at)"),
        Column(
            "median_minutes_to_close",
            "double",
            True,
            "exact median of minutes_to_close (reported -> closed) over the period's closed cases; null when none",
        ),
        _count(
            "hotline_urban_tickets",
            "tickets of GovernanceScorecardParams.hotline_sources received in the period (dt) in category_l1"
            " 城市管理 and located in the unit (street_code; city: located in any street); null without hotline data",
        ),
        _count("cases_from_12345", "of reported, cases whose source is 12345转办 (handed over by the hotline)"),
        _rate(
            "hotline_conversion_rate",
            "12345 转办率 = cases_from_12345 / hotline_urban_tickets, same unit and period (a ratio of two counts,"
            " not a ticket-to-case match: the case does not carry a ticket number silver can join on)",
        ),
    ),
    grain=(
        "one row per period_type, period, unit_type and unit_code, for every period from the first case report to the"
        " last day with a case event, where the unit has a case or hotline event dated in the period or a case open"
        " past its deadline at the period's end"
    ),
    description=(
        "The digital urban-management (数字城管) scorecard: reported, filed, due, closure, on-time closure, rework,"
        " postponement, urgent on-time rate, backlog past the deadline, stage medians, public participation and the"
        " 12345-to-case conversion, per street and for the whole city, per month. Rebuilt whole on every run."
    ),
    owner="data-engineering",
    keys=("period_type", "period", "unit_type", "unit_code"),
)
