"""silver.complaint: citizen requests from any hotline (the 12345 centre, a 311 service)."""

from citybrain.schemas.contract import BY_DAY, Column, Contract
from citybrain.schemas.silver.common import LINEAGE_COLUMNS, LOCATION_COLUMNS

SILVER_COMPLAINT = Contract(
    name="silver.complaint",
    columns=(
        Column("complaint_id", "string", False, "source_system:ticket_no"),
        Column("source_system", "string", False, "which hotline, e.g. demo_12345, boston_311"),
        Column("ticket_no", "string", False),
        Column("received_at", "timestamp", False),
        Column("updated_at", "timestamp", False, "time of the ticket's latest status"),
        Column("channel", "string", True, "as reported: 电话, 微信, Constituent Call ..."),
        Column("request_type", "string", True, "咨询/求助/投诉/举报/建议/表扬 where the source has it"),
        Column("category_l1", "string", True),
        Column("category_l2", "string", True),
        Column("content", "string", True, "request text, personal data scrubbed"),
        Column("caller_token", "string", True, "keyed token of the caller's phone number", pii="phone"),
        Column("caller_phone_masked", "string", True, "138****1234", pii="phone"),
        Column("caller_id_token", "string", True, "keyed token of the caller's ID number", pii="id_number"),
        Column("caller_name_masked", "string", True, "张**", pii="name"),
        Column("address", "string", True, pii="address"),
        Column("district_name", "string", True, "as reported"),
        Column("street_name", "string", True, "as reported"),
        Column("community_name", "string", True, "as reported"),
        Column("lon", "double", True, "as reported"),
        Column("lat", "double", True, "as reported"),
        Column("is_direct_answer", "boolean", True, "answered by the call centre without dispatch (直接答复)"),
        Column("handling_unit", "string", True),
        Column("dispatched_at", "timestamp", True),
        Column("accepted_at", "timestamp", True),
        Column("due_at", "timestamp", True),
        Column("resolved_at", "timestamp", True),
        Column("visited_at", "timestamp", True),
        Column("satisfaction", "string", True, "satisfied | basically_satisfied | dissatisfied | not_visited"),
        Column("resolution_note", "string", True, "how it was resolved, personal data scrubbed"),
        Column("status", "string", True, "as reported"),
        Column("status_code", "string", True, "received | dispatched | accepted | resolved | visited | answered | open | closed"),
        *LOCATION_COLUMNS,
        *LINEAGE_COLUMNS,
        Column("dt", "date", False, "local date the ticket was received"),
    ),
    grain="one row per ticket (its latest version)",
    description="Citizen requests from every hotline, typed, deduplicated, located, personal data tokenised.",
    owner="data-engineering",
    keys=("complaint_id",),
    partition_by=BY_DAY,  # 11 MiB, updated by each day's versions at the default city (see BY_DAY)
    deletion_vectors=True,  # merged with each day's versions (see the note on deletion vectors)
)

SILVER_COMPLAINT_STATUS = Contract(
    name="silver.complaint_status",
    columns=(
        Column("complaint_id", "string", False),
        Column("status", "string", True),
        Column("status_code", "string", True),
        Column("updated_at", "timestamp", False),
        Column("_batch_id", "string", False),
        Column("_source_file", "string", False),
        Column("_source_row", "bigint", False),
    ),
    grain="one row per ticket per status version",
    description="Every status a ticket went through, in order: the history behind silver.complaint.",
    owner="data-engineering",
    keys=("complaint_id", "updated_at", "status"),
)
