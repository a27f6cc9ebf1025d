"""CityBrain: department silos into one Delta Lake, checked, joined, turned into insight."""
