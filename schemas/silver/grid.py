"""Contract of ``silver.grid``: the city's unit grids (万米单元网格), typed and located.

Every silver table joins on this one: a record is placed on a unit grid (and so on its
community, street and district) and on H3 cells by ``citybrain.jobs.silver.geo.locate``,
which reads its polygons from here.
"""

from __future__ import annotations

from citybrain.schemas.contract import Column, Contract

SILVER_GRID = Contract(
    name="silver.grid",
    columns=(
        Column("grid_code", "string", False, "unit grid code: community code + 3 digits"),
        Column("grid_name", "string", True, "unit grid name"),
        Column("community_code", "string", True, "community (社区) code: street code + 3 digits"),
        Column("community_name", "string", True, "community (社区) name"),
        Column("street_code", "string", True, "street (街道) code: district code + 3 digits"),
        Column("street_name", "string", True, "street (街道) name"),
        Column("district_code", "string", True, "district (区县) code, 6 digits"),
        Column("district_name", "string", True, "district (区县) name"),
        Column("population", "int", True, "registered residents; null when the registry value is not a whole number"),
        Column("households", "int", True, "registered households; null when the registry value is not a whole number"),
        Column("area_m2", "double", True, "area in square metres as the registry states it"),
        Column("geometry_wkt", "string", False, "grid polygon as WKT, WGS84 lon/lat"),
        Column("centroid_lon", "double", False, "longitude of the polygon's centroid, WGS84"),
        Column("centroid_lat", "double", False, "latitude of the polygon's centroid, WGS84"),
        Column("h3_r7", "string", False, "H3 cell (resolution 7) of the centroid"),
        Column("h3_r8", "string", False, "H3 cell (resolution 8) of the centroid"),
        Column("h3_r9", "string", False, "H3 cell (resolution 9) of the centroid"),
        Column("_batch_id", "string", False, "refine batch that wrote the row"),
        Column("_source_file", "string", False, "registry drop file the row came from"),
        Column("updated_at", "timestamp", False, "when the row was written"),
    ),
    grain="one row per unit grid (grid_code), as of the latest registry drop",
    description=(
        "The grid and population registry: each unit grid's polygon, centroid and H3 cells with its"
        " community, street and district. A full snapshot rebuilt from the latest registry drop."
    ),
    owner="data-engineering",
    keys=("grid_code",),
)
