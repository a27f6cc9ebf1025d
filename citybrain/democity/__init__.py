"""Deterministic demo city: the local stand-in for a city's department systems.

    from citybrain.democity import generate, CITY_BBOX
    manifest = generate(Path("demo_city"), seed=20260831, days=84, scale=1.0)
    generate(out, hotspots=HotspotScenario(count=0), sources=("hotline",))  # scenario knobs

See README.md in this folder for every drop, the planted truth and the planted dirt.
"""

from .city import CITY_BBOX
from .generate import DEMO_SOURCES, generate
from .plan import ESCALATION_STRENGTHS, HotspotScenario, StabilityScenario

__all__ = ["CITY_BBOX", "DEMO_SOURCES", "ESCALATION_STRENGTHS", "HotspotScenario", "StabilityScenario", "generate"]
