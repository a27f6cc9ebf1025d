"""Gold jobs: the insights, each rebuilt from silver by ``run(spark, settings)``.

GOLD_TABLES is the one list the DAG factory (dags/build_gold.py), the demo and the docs
read: which tables each gold table is built from (a table built from silver runs weekly; one
built from another gold table runs when its first input is announced).
"""

GOLD_TABLES: dict[str, tuple[str, ...]] = {
    "complaint_hotspots": (
        "silver.complaint",
        "silver.grid",
        "silver.police_incident",
        "silver.petition",
        "silver.urban_case",
        "silver.ride_trip",
    ),
    "hotline_performance": ("silver.complaint", "silver.grid"),
    "governance_scorecard": ("silver.urban_case", "silver.complaint", "silver.grid"),
    "stability_risk": ("silver.petition", "silver.police_incident", "silver.complaint", "silver.grid"),
    "ride_hailing_demand": ("silver.ride_trip",),
    "demand_forecast": ("gold.ride_hailing_demand", "silver.calendar_day", "silver.grid"),
}

#: gold tables made by a trained model: their DAG trains a new model version before building
TRAINED_TABLES: tuple[str, ...] = ("demand_forecast",)
