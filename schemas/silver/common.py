"""Column groups shared by silver contracts."""

from citybrain.schemas.contract import Column

LOCATION_COLUMNS = (
    Column("grid_code", "string", True, "unit grid (CJ/T 213) the record falls in; null outside any registry"),
    Column("community_code", "string", True),
    Column("street_code", "string", True),
    Column("district_code", "string", True),
    Column("h3_r7", "string", True, "H3 cell, resolution 7 (~5 km2)"),
    Column("h3_r8", "string", True, "H3 cell, resolution 8 (~0.7 km2)"),
    Column("h3_r9", "string", True, "H3 cell, resolution 9 (~0.1 km2)"),
    Column("located_lon", "double", True, "WGS84 point used to locate the record"),
    Column("located_lat", "double", True),
    Column("location_method", "string", True, "point | point_swapped | community | h3_only"),
    Column("location_issue", "string", True, "why the record's own point was not used; null when it was"),
)

LINEAGE_COLUMNS = (
    Column("_batch_id", "string", False, "bronze batch of the row's latest version"),
    Column("_source_file", "string", False, "drop file of the row's latest version"),
    Column("_source_row", "bigint", False, "record number within that file"),
    Column("_refined_at", "timestamp", False, "when the silver job wrote this version"),
)
