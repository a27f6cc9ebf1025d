"""gold.stability_risk: the social-stability risk index per community, street and district and ISO week.

The indicators, weights, level cut-offs and guards are declared in
models/stability_indicators.yaml (citybrain.models.stability_index reads it); this contract
takes one raw, normalised and contribution column per indicator from there, so a new
indicator needs no code. Names are of places (communities, streets, districts), never of
people: the table holds no personal data and no score of any individual.
"""

from __future__ import annotations

from citybrain.models.stability_index import TOP_N, load_config
from citybrain.schemas.contract import Column, Contract

_CONFIG = load_config()


def _indicator_columns() -> tuple[Column, ...]:
    cols = []
    for ind in _CONFIG.indicators:
        cols += [
            Column(ind.name, "double", True, f"{ind.name_en} ({ind.name_zh}): raw value; dimension {ind.dimension}"),
            Column(f"{ind.name}_norm", "double", True, f"{ind.name_en}, normalised to [0, 1] (1 = riskiest)"),
            Column(f"{ind.name}_contribution", "double", True, f"{ind.name_en}: points of the score (100 x final weight x normalised)"),
        ]
    return tuple(cols)


def _top_columns() -> tuple[Column, ...]:
    cols = []
    for k in range(1, TOP_N + 1):
        cols += [
            Column(f"top{k}_indicator", "string", True, f"indicator with the {k}. largest contribution (null when it contributes 0)"),
            Column(f"top{k}_contribution", "double", True, "its points of the score"),
        ]
    return tuple(cols)


GOLD_STABILITY_RISK = Contract(
    name="gold.stability_risk",
    columns=(
        Column("iso_week", "string", False, "ISO week 'YYYY-Www' of the local event dates"),
        Column("week_start", "date", False, "Monday of the week"),
        Column("unit_type", "string", False, "community | street | district"),
        Column("unit_code", "string", False, "community, street or district code"),
        Column("unit_name", "string", True, "its name (a place, never a person)"),
        Column("street_code", "string", True, "the unit's street (null for a district)"),
        Column("street_name", "string", True),
        Column("district_code", "string", False, "the unit's district: the row-level security key"),
        Column("district_name", "string", True),
        Column("population", "bigint", True, "registered residents (silver.grid)"),
        Column("events", "bigint", True, "evidence events of the week: petitions, police incidents and tickets"),
        Column("status", "string", False, "scored | insufficient_data (below min_population or min_events over the run)"),
        Column("score", "double", True, "0-100; the sum of the indicator contributions; null when insufficient_data"),
        Column("level", "string", True, "低 / 中 / 高 / 极高 by the cut-offs of the config"),
        Column("level_color", "string", True, "blue / yellow / orange / red"),
        Column("score_change", "double", True, "score minus the unit's score the week before"),
        Column("rank_in_week", "int", True, "1 = highest score among the units of this type in the week"),
        *_top_columns(),
        Column("other_contribution", "double", True, "points of the indicators outside the top three (score = top three + this)"),
        *_indicator_columns(),
        Column(
            "warning_probability",
            "double",
            True,
            "calibrated probability of the warning outcome next week (communities; null before a model could be trained)",
        ),
        Column("warning_reason1", "string", True, "feature pushing the probability up most"),
        Column("warning_reason2", "string", True),
        Column("warning_reason3", "string", True),
        Column("index_version", "string", False, "version of models/stability_indicators.yaml that scored the row"),
        Column("weights_json", "string", False, "final, entropy and expert weight of every indicator (JSON)"),
    ),
    grain="one row per unit (community, street, district) per ISO week",
    description="Social-stability risk index with its explanation (contributions, top three) and the early warning.",
    owner="analytics",
    keys=("unit_type", "unit_code", "iso_week"),
)
