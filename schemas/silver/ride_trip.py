"""silver.ride_trip: ride-hailing orders from the regulator's exchange platform."""

from citybrain.schemas.contract import BY_DAY, Column, Contract
from citybrain.schemas.silver.common import LINEAGE_COLUMNS, LOCATION_COLUMNS

SILVER_RIDE_TRIP = Contract(
    name="silver.ride_trip",
    columns=(
        Column("order_id", "string", False),
        Column("platform_code", "string", True),
        Column("platform_name", "string", True),
        Column("driver_token", "string", True, "keyed token of the driver's licence number", pii="licence"),
        Column("driver_phone_token", "string", True, pii="phone"),
        Column("vehicle_token", "string", True, "keyed token of the plate", pii="plate"),
        Column("driver_cert_valid", "boolean", True, "driver holds a ride-hailing driver licence (驾驶员证)"),
        Column("vehicle_cert_valid", "boolean", True, "vehicle holds a transport certificate (车辆运输证)"),
        Column("is_compliant", "boolean", True, "both valid: the regulator's order compliance (订单合规)"),
        Column("ordered_at", "timestamp", False),
        Column("picked_up_at", "timestamp", True),
        Column("dropped_off_at", "timestamp", True),
        Column("pickup_lon", "double", True, "as reported"),
        Column("pickup_lat", "double", True, "as reported"),
        Column("dropoff_lon", "double", True),
        Column("dropoff_lat", "double", True),
        Column("distance_km", "double", True),
        Column("duration_min", "double", True),
        Column("fare_yuan", "double", True, "fare_yuan, or fare_amount in export version 2"),
        Column("passenger_token", "string", True, pii="phone"),
        Column("order_status", "string", True, "completed | cancelled_by_passenger | cancelled_by_driver"),
        Column("uploaded_at", "timestamp", False, "when the platform reported the order: the version"),
        *LOCATION_COLUMNS,
        *LINEAGE_COLUMNS,
        Column("dt", "date", False, "local date the order was placed"),
    ),
    grain="one row per ride-hailing order; location = pickup point",
    description="Ride-hailing orders, typed, deduplicated, located at pickup, driver, vehicle and passenger tokenised.",
    owner="data-engineering",
    keys=("order_id",),
    partition_by=BY_DAY,  # 2.5 MiB a day at the default city (see BY_DAY)
    deletion_vectors=True,  # merged with each day's versions (see the note on deletion vectors)
)
