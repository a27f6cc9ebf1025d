"""silver.police_incident: 110 calls for police, located on the grid."""

from citybrain.schemas.contract import BY_DAY, Column, Contract
from citybrain.schemas.silver.common import LINEAGE_COLUMNS, LOCATION_COLUMNS

SILVER_POLICE_INCIDENT = Contract(
    name="silver.police_incident",
    columns=(
        Column("incident_no", "string", False),
        Column("called_at", "timestamp", False),
        Column("caller_token", "string", True, "keyed token of the calling number", pii="phone"),
        Column("caller_phone_masked", "string", True, pii="phone"),
        Column("caller_name_masked", "string", True, pii="name"),
        Column("type_code", "string", True),
        Column("type_name", "string", True, "治安纠纷, 家庭纠纷, 盗窃 ..."),
        Column("severity", "int", True, "1 (minor) to 4 (most severe)"),
        Column("lon", "double", True, "as reported"),
        Column("lat", "double", True, "as reported"),
        Column("address", "string", True, pii="address"),
        Column("district_name", "string", True),
        Column("street_name", "string", True),
        Column("dispatch_unit", "string", True),
        Column("arrived_at", "timestamp", True),
        Column("closed_at", "timestamp", True),
        Column("disposal_result", "string", True),
        Column("is_dispute", "boolean", True, "a dispute (纠纷) call: an input of the stability risk index"),
        *LOCATION_COLUMNS,
        *LINEAGE_COLUMNS,
        Column("dt", "date", False, "local date of the call"),
    ),
    grain="one row per 110 incident",
    description="Police 110 incidents, typed, deduplicated, located, caller data tokenised.",
    owner="data-engineering",
    keys=("incident_no",),
    partition_by=BY_DAY,  # 3.3 MiB, updated by each day's versions at the default city (see BY_DAY)
    deletion_vectors=True,  # merged with each day's versions (see the note on deletion vectors)
)
