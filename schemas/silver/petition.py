"""silver.petition: letters and visits (信访), placed at the petitioner's community."""

from citybrain.schemas.contract import Column, Contract
from citybrain.schemas.silver.common import LINEAGE_COLUMNS, LOCATION_COLUMNS

SILVER_PETITION = Contract(
    name="silver.petition",
    columns=(
        Column("petition_no", "string", False),
        Column("registered_on", "timestamp", False, "registration date (local midnight)"),
        Column("form", "string", True, "来信/来访/网上信访/电话"),
        Column("is_collective", "boolean", True, "集体访: five or more people"),
        Column("people_count", "int", True),
        Column("is_repeat", "boolean", True, "重复访"),
        Column("is_skip_level", "boolean", True, "越级访"),
        Column("petitioner_token", "string", True, "keyed token of the ID number", pii="id_number"),
        Column("petitioner_phone_token", "string", True, pii="phone"),
        Column("petitioner_name_masked", "string", True, pii="name"),
        Column("district_name", "string", True),
        Column("street_name", "string", True),
        Column("community_name", "string", True),
        Column("issue_category", "string", True, "征地拆迁, 劳动社保, 环境保护 ..."),
        Column("content", "string", True, "personal data scrubbed"),
        Column("visit_level", "string", True, "街道/区/市/省/国家"),
        Column("status", "string", True),
        Column("closed_on", "timestamp", True),
        Column("lon", "double", True, "petitions carry no coordinates: null"),
        Column("lat", "double", True),
        *LOCATION_COLUMNS,
        *LINEAGE_COLUMNS,
        Column("dt", "date", False, "registration date"),
    ),
    grain="one row per petition",
    description="Petitions (信访): collective, repeat and skip-level visits, placed at the community.",
    owner="data-engineering",
    keys=("petition_no",),
)
