"""gold.stability_risk: the social-stability risk index, its explanation and the early warning.

Spark counts the evidence of every indicator per community and ISO week (``weekly_counts``,
from the silver tables the config names); the index (citybrain.models.stability_index) and
the early warning (citybrain.models.stability_warning) run in pandas on that small table
(communities x weeks). ``stability_risk`` is the pure part: counts and places in, rows out.
"""

from __future__ import annotations

import datetime as dt
import functools
import json

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold.common import GoldReport, iso_week_label, week_start
from citybrain.models import stability_index as index
from citybrain.models import stability_warning as warning
from citybrain.models.stability_index import IndexConfig
from citybrain.schemas.gold.stability_risk import GOLD_STABILITY_RISK
from citybrain.settings import Settings

TABLE = GOLD_STABILITY_RISK.name
EVIDENCE = ("silver.petition", "silver.police_incident", "silver.complaint")
LABEL = "outcome"
#: scan partitions of an evidence table: Sail reads each day directory of a Delta table as a
#: partition of its own (84 for the default city), and the per-partition cost is most of the
#: count's time; coalescing lets it group the files (0.39 s -> 0.25 s for the three tables at S).
SCAN_PARTITIONS = 4


def weekly_counts(tables: dict[str, DataFrame], cfg: IndexConfig) -> pd.DataFrame:
    """Long counts: community_code, iso_week, week_start, column (n_<ind>, d_<ind>, events, outcome), value.

    One query for all the tables: each table's counts per community and day (a column another
    table counts is 0 there), their union summed per community and ISO week. Each scan of a
    Delta table costs the engine a fixed time; one round trip lets it run them together, and
    the week is labelled per community and day instead of per record.
    """
    keys = ["community_code", "iso_week", "week_start"]
    measures = {name: _measures(name, cfg) for name in tables}
    counted = list(dict.fromkeys(column for table in measures.values() for column in table))
    daily = functools.reduce(
        DataFrame.unionByName,
        [
            df.coalesce(SCAN_PARTITIONS)
            .where(F.col("community_code").isNotNull())
            .groupBy("community_code", "dt")
            .agg(*(F.sum(F.when(condition, 1).otherwise(0)).alias(column) for column, condition in measures[name].items()))
            .select("community_code", "dt", *(c if c in measures[name] else F.lit(0).cast("bigint").alias(c) for c in counted))
            for name, df in tables.items()
        ],
    )
    wide = (
        daily.withColumn("iso_week", iso_week_label(F.col("dt")))
        .withColumn("week_start", week_start(F.col("dt")))
        .groupBy(*keys)
        .agg(*(F.sum(c).alias(c) for c in counted))
        .toPandas()
    )
    return wide.melt(id_vars=keys, var_name="column", value_name="value")


def _measures(name: str, cfg: IndexConfig) -> dict[str, Column]:
    """What table ``name`` counts, by column: its events, each indicator's filter (and denominator) on it, the label."""
    measures = {"events": F.lit(True)}
    for ind in cfg.counted:
        if ind.source == name:
            measures[f"n_{ind.name}"] = F.expr(ind.where)
            if ind.denominator:
                measures[f"d_{ind.name}"] = F.expr(ind.denominator)
    if cfg.warning.get("label_source") == name:
        measures[LABEL] = F.expr(cfg.warning["label_where"])
    return measures


def community_table(long_counts: pd.DataFrame, places: pd.DataFrame, cfg: IndexConfig) -> pd.DataFrame:
    """Every community x every week of the data, zero-filled, with population and place names."""
    wide = long_counts.pivot_table(index=["community_code", "iso_week"], columns="column", values="value", aggfunc="sum").reset_index()
    first = pd.Timestamp(long_counts["week_start"].min())
    last = pd.Timestamp(long_counts["week_start"].max())
    mondays = pd.date_range(first, last, freq="7D")
    weeks = pd.DataFrame(
        {"week_start": [d.date() for d in mondays], "iso_week": [f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}" for d in mondays]}
    )
    grid = places.merge(weeks, how="cross")
    out = grid.merge(wide, on=["community_code", "iso_week"], how="left")
    needed = ["events", LABEL] + [f"n_{i.name}" for i in cfg.counted] + [f"d_{i.name}" for i in cfg.counted if i.denominator]
    for col in needed:
        out[col] = out[col].fillna(0).astype(float) if col in out else 0.0
    return out


def stability_risk(long_counts: pd.DataFrame, places: pd.DataFrame, cfg: IndexConfig) -> tuple[pd.DataFrame, dict]:
    """The table's rows (communities, streets, districts) and a summary (weights, model, counts)."""
    counts = community_table(long_counts, places, cfg)
    scored, weights = index.score_communities(counts, cfg)
    weeks = sorted(counts["iso_week"].unique())
    outcomes = counts.loc[counts[LABEL] > 0, ["community_code", "iso_week"]]
    rows = warning.with_labels(warning.features(scored, cfg), outcomes, weeks, int(cfg.warning.get("horizon_weeks", 1)))
    pred, importance = warning.rolling_origin(rows, cfg)
    scored = scored.merge(
        pred[["community_code", "iso_week", "probability", "reason1", "reason2", "reason3"]].rename(
            columns={
                "probability": "warning_probability",
                "reason1": "warning_reason1",
                "reason2": "warning_reason2",
                "reason3": "warning_reason3",
            }
        ),
        on=["community_code", "iso_week"],
        how="left",
    )
    week_starts = dict(zip(counts["iso_week"], counts["week_start"], strict=False))
    units = [_as_units(scored, "community", places)]
    for level in ("street", "district"):
        units.append(_as_units(index.roll_up(scored, cfg, level), level, places))
    out = pd.concat(units, ignore_index=True)
    out["week_start"] = out["iso_week"].map(week_starts)
    out["rank_in_week"] = out.groupby(["unit_type", "iso_week"])["score"].rank(ascending=False, method="min")
    out["index_version"] = cfg.version
    out["weights_json"] = json.dumps({n: {k: round(float(v), 6) for k, v in weights.loc[n].items()} for n in weights.index})
    summary = {"weights": weights, "importance": importance, "predictions": pred, "rows": rows}
    return out, summary


def _as_units(frame: pd.DataFrame, unit_type: str, places: pd.DataFrame) -> pd.DataFrame:
    """Name the unit of community, street or district rows and the places above it."""
    code = f"{unit_type}_code"
    above = {"community": [], "street": ["district_code"], "district": []}[unit_type]
    named = places.drop_duplicates(code)[[code, f"{unit_type}_name", *above]]
    out = frame.drop(columns=[c for c in places.columns if c != code and c in frame and c != "population"])
    out = out.merge(named, on=code, how="left") if unit_type != "community" else frame.copy()
    if unit_type == "district":
        out["street_code"] = None
    streets = places.drop_duplicates("street_code").set_index("street_code")["street_name"]
    districts = places.drop_duplicates("district_code").set_index("district_code")["district_name"]
    out["street_name"] = out["street_code"].map(streets)
    out["district_name"] = out["district_code"].map(districts)
    out["unit_type"] = unit_type
    out["unit_code"] = out[code]
    out["unit_name"] = out[f"{unit_type}_name"]
    return out


def places_of(grid: DataFrame) -> pd.DataFrame:
    """One row per community: population and the names of it, its street and district."""
    return (
        grid.where(F.col("community_code").isNotNull())
        .groupBy("community_code")
        .agg(
            F.first("community_name", ignorenulls=True).alias("community_name"),
            F.first("street_code", ignorenulls=True).alias("street_code"),
            F.first("street_name", ignorenulls=True).alias("street_name"),
            F.first("district_code", ignorenulls=True).alias("district_code"),
            F.first("district_name", ignorenulls=True).alias("district_name"),
            F.sum(F.coalesce(F.col("population"), F.lit(0))).alias("population"),
        )
        .toPandas()
    )


def to_spark(spark, rows: pd.DataFrame) -> DataFrame:
    """The rows as a Spark frame in the contract's columns and types."""
    cols = [c.name for c in GOLD_STABILITY_RISK.columns]
    frame = rows.reindex(columns=cols).replace({np.nan: None})
    frame["week_start"] = frame["week_start"].map(lambda d: d if isinstance(d, dt.date) else pd.Timestamp(d).date())
    for c in GOLD_STABILITY_RISK.columns:
        if c.type in ("bigint", "int"):
            frame[c.name] = frame[c.name].map(lambda v: None if v is None else int(v)).astype(object)
    return spark.createDataFrame(frame.astype(object).where(frame.notna(), None), schema=GOLD_STABILITY_RISK.ddl())


def run(spark, settings: Settings, cfg: IndexConfig | None = None) -> GoldReport:
    """Rebuild gold.stability_risk from silver.petition, police_incident, complaint and grid."""
    cfg = cfg or index.load_config()
    report = GoldReport(TABLE)
    tables = {name: lake.read(spark, settings, name) for name in EVIDENCE if lake.exists(settings, name)}
    missing = [name for name in EVIDENCE if name not in tables]
    if missing:
        report.not_computed.append(f"indicators from {', '.join(missing)}: the table does not exist")
        cfg = _without_sources(cfg, set(missing))
    if not lake.exists(settings, "silver.grid") or not tables:
        report.not_computed.append("every indicator: no silver.grid (population) or no evidence table")
        return report.finish(0)
    places = places_of(lake.read(spark, settings, "silver.grid"))
    rows, summary = stability_risk(weekly_counts(tables, cfg), places, cfg)
    insufficient = rows[(rows["unit_type"] == "community") & (rows["status"] == index.INSUFFICIENT)]["unit_code"].nunique()
    if insufficient:
        report.not_computed.append(f"scores of {insufficient} communities: insufficient data (population or events below the minimum)")
    if summary["predictions"].empty:
        report.not_computed.append("warning_probability: too few outcomes in the data to train the early warning")
    report.details = {"weights": summary["weights"].round(4).to_dict("index"), "importance": summary["importance"].round(4).to_dict()}
    lake.write(spark, settings, TABLE, to_spark(spark, rows), mode="overwrite")
    return report.finish(len(rows))


def _without_sources(cfg: IndexConfig, missing: set[str]) -> IndexConfig:
    """The config without the indicators whose silver table is missing (and their surges)."""
    keep = [i for i in cfg.indicators if i.source not in missing]
    names = {i.name for i in keep}
    keep = tuple(i for i in keep if i.surge_of is None or i.surge_of in names)
    return IndexConfig(**{**cfg.__dict__, "indicators": keep})
