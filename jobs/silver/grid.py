"""Build ``silver.grid`` from ``bronze.registry``: the city's unit grids, typed and located.

extract: every registry drop in bronze (GeoJSON features as text);
transform: ``build_grid`` types the fields, turns the GeoJSON geometry into WKT, computes
each polygon's centroid and the centroid's H3 cells (resolutions 7-9) and keeps, per
grid_code, the row of the latest drop; ``refused_registry_rows`` returns the rows that
cannot be a grid (record unparsable, grid_code missing, geometry not a valid polygon),
shaped for ``quarantine.grid``;
load: ``silver.grid`` is overwritten (the registry is a full snapshot), refused rows are
merged into ``quarantine.grid``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from citybrain import lake
from citybrain.settings import Settings

H3_RESOLUTIONS = (7, 8, 9)
_MEASURED_MAX_CHARS = 500

# (column, spark type) the geometry step adds to the bronze rows
_PARSED_COLUMNS = (
    ("geometry_wkt", "string"),
    ("centroid_lon", "double"),
    ("centroid_lat", "double"),
    ("h3_r7", "string"),
    ("h3_r8", "string"),
    ("h3_r9", "string"),
    ("_rule", "string"),
    ("_reason", "string"),
    ("_measured", "string"),
)


def _check_geometry(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import h3
    import shapely

    for batch in batches:
        n = batch.num_rows
        text = np.array(batch.column("geometry").to_pylist(), dtype=object)
        codes = batch.column("grid_code").to_pylist()
        errors = batch.column("_parse_error").to_pylist()
        geoms = shapely.from_geojson(text, on_invalid="ignore")
        out = {c: [None] * n for c, _ in _PARSED_COLUMNS}
        for i in range(n):
            problem = None
            g = geoms[i]
            if errors[i] is not None:
                problem = ("record_parsable", f"the registry record could not be read: {errors[i]}", None)
            elif codes[i] is None or not codes[i].strip():
                problem = ("grid_code_present", "grid_code is missing", codes[i])
            elif text[i] is None or not text[i].strip():
                problem = ("geometry_valid", "geometry is missing", None)
            elif g is None:
                problem = ("geometry_valid", "geometry is not GeoJSON", text[i])
            elif shapely.get_type_id(g) not in (3, 6):  # Polygon, MultiPolygon
                problem = ("geometry_valid", f"geometry is a {g.geom_type}, not a polygon", text[i])
            elif g.is_empty:
                problem = ("geometry_valid", "geometry is empty", text[i])
            elif not g.is_valid:
                problem = ("geometry_valid", f"polygon is not valid: {shapely.is_valid_reason(g)}", text[i])
            else:
                lon, lat = g.centroid.x, g.centroid.y
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    problem = ("geometry_valid", f"polygon is not in lon/lat degrees: centroid {lon!r}, {lat!r}", text[i])
                else:
                    out["geometry_wkt"][i] = shapely.to_wkt(g, rounding_precision=-1)
                    out["centroid_lon"][i], out["centroid_lat"][i] = lon, lat
                    for r in H3_RESOLUTIONS:
                        out[f"h3_r{r}"][i] = h3.latlng_to_cell(lat, lon, r)
            if problem:
                out["_rule"][i], out["_reason"][i] = problem[0], problem[1]
                out["_measured"][i] = None if problem[2] is None else problem[2][:_MEASURED_MAX_CHARS]
        types = {"string": pa.string(), "double": pa.float64()}
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, *(pa.array(out[c], type=types[t]) for c, t in _PARSED_COLUMNS)],
            names=[*batch.schema.names, *(c for c, _ in _PARSED_COLUMNS)],
        )


def _parsed(bronze_registry_df):
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    types = {"string": StringType(), "double": DoubleType()}
    schema = StructType([*bronze_registry_df.schema.fields, *(StructField(c, types[t], True) for c, t in _PARSED_COLUMNS)])
    return bronze_registry_df.mapInArrow(_check_geometry, schema)


def _whole_number(column: str):
    # try_cast: a registry value that is not a whole number becomes null instead of failing the job
    return F.expr(f"try_cast(try_cast(trim(`{column}`) AS double) AS int)")


def build_grid(bronze_registry_df, *, batch_id: str):
    """One typed, located row per grid_code (the latest drop wins), shaped like ``silver.grid``."""
    return _grid_rows(_parsed(bronze_registry_df), batch_id=batch_id)


def _grid_rows(parsed, *, batch_id: str):
    latest = Window.partitionBy(F.trim("grid_code")).orderBy(
        F.col("dt").desc(), F.col("_ingested_at").desc(), F.col("_source_file").desc(), F.col("_source_row").desc()
    )
    good = parsed.where(F.col("_rule").isNull())
    good = good.withColumn("_rank", F.row_number().over(latest)).where(F.col("_rank") == 1)
    trimmed = [
        "grid_name",
        "community_code",
        "community_name",
        "street_code",
        "street_name",
        "district_code",
        "district_name",
    ]
    return good.select(
        F.trim("grid_code").alias("grid_code"),
        *(F.trim(c).alias(c) for c in trimmed),
        _whole_number("population").alias("population"),
        _whole_number("households").alias("households"),
        F.expr("try_cast(trim(area_m2) AS double)").alias("area_m2"),
        "geometry_wkt",
        "centroid_lon",
        "centroid_lat",
        "h3_r7",
        "h3_r8",
        "h3_r9",
        F.lit(batch_id).alias("_batch_id"),
        "_source_file",
        F.current_timestamp().alias("updated_at"),
    )


def refused_registry_rows(bronze_registry_df, *, batch_id: str):
    """Registry rows that cannot be a grid, shaped like ``quarantine.grid`` (the first rule each broke)."""
    return _refused_rows(_parsed(bronze_registry_df), bronze_registry_df.columns, batch_id=batch_id)


def _refused_rows(parsed, bronze_columns: list[str], *, batch_id: str):
    record = F.to_json(F.struct(*(F.col(c) for c in bronze_columns)))
    return parsed.where(F.col("_rule").isNotNull()).select(
        record.alias("record"),
        F.col("_rule").alias("rule"),
        F.col("_reason").alias("reason"),
        F.col("_measured").alias("measured_value"),
        F.col("_source_file").alias("source_file"),
        F.col("_source_row").alias("source_row"),
        F.lit(batch_id).alias("batch_id"),
        F.current_timestamp().alias("quarantined_at"),
        "dt",
    )


def run(spark, settings: Settings, batch_id: str) -> dict:
    """Rebuild ``silver.grid`` from every registry drop in bronze; quarantine the rows that cannot be grids."""
    from citybrain.jobs.silver.refine import staged

    bronze = lake.read(spark, settings, "bronze.registry")
    records_in = bronze.count()
    # the geometry is parsed once (Python: GeoJSON, validity, centroid, H3), staged, and both
    # the refused rows and the grid read the staged rows
    with staged(spark, settings, batch_id, _parsed(bronze)) as parsed:
        refused = _refused_rows(parsed, bronze.columns, batch_id=batch_id)
        quarantined = refused.count()
        if quarantined:
            lake.merge(spark, settings, "quarantine.grid", refused)
        lake.write(spark, settings, "silver.grid", _grid_rows(parsed, batch_id=batch_id), mode="overwrite")
    accepted = lake.read(spark, settings, "silver.grid").where(F.col("_batch_id") == batch_id).count()
    return {
        "records_in": records_in,
        "accepted": accepted,
        "quarantined": quarantined,
        "duplicates_collapsed": records_in - quarantined - accepted,
    }
