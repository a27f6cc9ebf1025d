"""silver.urban_case_event and silver.urban_case: digital urban-management cases (数字城管)."""

from citybrain.schemas.contract import BY_DAY, Column, Contract
from citybrain.schemas.silver.common import LINEAGE_COLUMNS, LOCATION_COLUMNS

SILVER_URBAN_CASE_EVENT = Contract(
    name="silver.urban_case_event",
    columns=(
        Column("case_no", "string", False),
        Column("event_seq", "int", False),
        Column("event_type", "string", True, "上报/核实/立案/派遣/处置/核查/结案/返工/延期/作废"),
        Column("event_code", "string", True, "reported/verified/filed/dispatched/handled/checked/closed/rework/postponed/voided"),
        Column("event_at", "timestamp", False),
        Column("source", "string", True, "监督员上报, 公众举报(微信), 视频监控, 12345转办"),
        Column("category", "string", True, "部件 (component) or 事件 (event)"),
        Column("major_type", "string", True),
        Column("minor_type", "string", True),
        Column("description", "string", True),
        Column("reported_grid_code", "string", True, "grid code written by the inspector"),
        Column("address", "string", True, pii="address"),
        Column("lon", "double", True),
        Column("lat", "double", True),
        Column("reporter_id", "string", True, "inspector staff number"),
        Column("reporter_name_masked", "string", True, pii="name"),
        Column("handler_unit", "string", True),
        Column("deadline", "timestamp", True),
        Column("is_urgent", "boolean", True),
        Column("is_overdue", "boolean", True),
        Column("remark", "string", True),
        Column("case_event_id", "string", False, "case_no:event_seq"),
        *LOCATION_COLUMNS,
        *LINEAGE_COLUMNS,
        Column("dt", "date", False, "local date of the event"),
    ),
    grain="one row per case event",
    description="Every step of every urban-management case: the timeline behind silver.urban_case.",
    owner="data-engineering",
    keys=("case_event_id",),
    partition_by=BY_DAY,  # 4.4 MiB, updated by re-sent events at the default city (see BY_DAY)
    deletion_vectors=True,  # merged with each day's versions (see the note on deletion vectors)
)

_STAGE_MINUTES = (
    Column("minutes_to_file", "double", True, "reported -> filed"),
    Column("minutes_to_dispatch", "double", True, "filed -> dispatched"),
    Column("minutes_to_handle", "double", True, "dispatched -> handled"),
    Column("minutes_to_check", "double", True, "handled -> checked"),
    Column("minutes_to_close", "double", True, "reported -> closed"),
)

SILVER_URBAN_CASE = Contract(
    name="silver.urban_case",
    columns=(
        Column("case_no", "string", False),
        Column("source", "string", True),
        Column("is_citizen_report", "boolean", True, "reported by the public (public participation)"),
        Column("category", "string", True),
        Column("major_type", "string", True),
        Column("minor_type", "string", True),
        Column("handler_unit", "string", True),
        Column("is_urgent", "boolean", True),
        Column("reported_at", "timestamp", False),
        Column("verified_at", "timestamp", True),
        Column("filed_at", "timestamp", True),
        Column("dispatched_at", "timestamp", True),
        Column("handled_at", "timestamp", True),
        Column("checked_at", "timestamp", True),
        Column("closed_at", "timestamp", True),
        Column("deadline", "timestamp", True),
        Column("rework_count", "int", False),
        Column("postponed", "boolean", False),
        Column("voided", "boolean", False),
        Column(
            "is_overdue",
            "boolean",
            True,
            "the deadline compared with the case's last 处置 (handled_at) or, not handled yet, with its LATEST EVENT"
            " (updated_at): true when that is after the deadline; null without a deadline. Not an as-of-now"
            " judgement: a case dispatched and never handled, with no event after its deadline, stays false however"
            " late it is. For overdue as of a period's end use gold.governance_scorecard.overdue_open_at_period_end",
        ),
        Column("status", "string", False, "reported | filed | dispatched | handled | closed | voided"),
        *_STAGE_MINUTES,
        Column("events", "int", False, "events seen for the case"),
        *LOCATION_COLUMNS,
        Column("updated_at", "timestamp", False, "time of the latest event"),
        Column("_refined_at", "timestamp", False),
        Column("dt", "date", False, "local date the case was reported"),
    ),
    grain="one row per urban-management case",
    description="Cases with their full timeline and durations per stage (立案, 派遣, 处置, 核查, 结案).",
    owner="data-engineering",
    keys=("case_no",),
    partition_by=BY_DAY,  # 1.4 MiB, cases rebuilt by each day's events at the default city (see BY_DAY)
    deletion_vectors=True,  # merged with each day's versions (see the note on deletion vectors)
)
