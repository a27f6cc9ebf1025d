"""Contracts of the silver tables: one module per entity."""

#: Silver entities; each has a quarantine.<entity> table for the records it refused.
ENTITIES = ("complaint", "urban_case_event", "ride_trip", "police_incident", "petition", "grid", "calendar_day")
