"""silver.calendar_day: working days, holidays, weather and large events."""

from citybrain.schemas.contract import Column, Contract

SILVER_CALENDAR_DAY = Contract(
    name="silver.calendar_day",
    columns=(
        Column("date", "date", False),
        Column("weekday", "int", True, "ISO weekday, 1 = Monday"),
        Column("is_workday", "boolean", True, "includes make-up working days (调休)"),
        Column("holiday_name", "string", True),
        Column("weather", "string", True),
        Column("temp_max_c", "double", True),
        Column("temp_min_c", "double", True),
        Column("precipitation_mm", "double", True),
        Column("aqi", "int", True),
        Column("event_name", "string", True),
        Column("event_lon", "double", True),
        Column("event_lat", "double", True),
        Column("event_attendance", "int", True),
        Column("delivered_on", "timestamp", False, "drop date of the latest delivery: the version"),
        Column("_batch_id", "string", False),
        Column("_source_file", "string", False),
        Column("_source_row", "bigint", False),
        Column("_refined_at", "timestamp", False),
        Column("dt", "date", False),
    ),
    grain="one row per calendar day",
    description="Calendar, weather and events by day: the covariates of demand and complaint models.",
    owner="data-engineering",
    keys=("date",),
)
