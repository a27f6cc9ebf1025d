"""Which weeks of gold.complaint_hotspots a build computes again: the rule, per hotline.

A row of the table depends on its hotline's week and the weeks before it only
(``complaint_hotspots.analyse``), and on what all of the hotline's weeks share: its cells,
sub-categories, first week and the cells' population. So at each build the new cube (tickets
per cell, sub-category and week, with the example text) and the context counts are compared
with what the table holds, hotline by hotline:

- a new hotline, or other cells, sub-categories, first week or population: the hotline's rows
  are computed again, all of them;
- otherwise its weeks from the first one whose cube or context differs (a new day: its own
  week, unless a ticket of an earlier week changed cell, category or example); none: nothing;
- a hotline gone from silver loses its rows.

The table is built whole when ``incremental.plan`` has any doubt (first build, ``full=True``,
other parameters or rules, the table written by something else).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold.hotspot_context import CONTEXT
from citybrain.quality.rules import sql_literal
from citybrain.schemas.gold.complaint_hotspots import GOLD_COMPLAINT_HOTSPOTS
from citybrain.settings import Settings

TABLE = GOLD_COMPLAINT_HOTSPOTS.name
#: read by the cube; the weeks of the days it changed since the last build are counted again
INPUTS = ("silver.complaint",)
#: the build rule, in the fingerprint: a change here rebuilds whole
RULES = (
    "the cube: the weeks of silver.complaint's changed days counted, the others from the table; a row depends on its week and the "
    "weeks before; a hotline whole when its cells, sub-categories, first week or population change; else from the first week whose "
    "cube (tickets, example text) or context differs; alerts and Gi* history from the table"
)
_CUBE_KEY = ["h3_cell", "week_start", "category_l1", "category_l2"]
_CELL_WEEK = ["h3_cell", "week_start"]


@dataclass(frozen=True)
class Kept:
    """What the table holds of each hotline, to compare with the new cube.

    cube   its sub-category rows with tickets: the cube it was built from (source_system,
           h3_cell, week_start, category_l1, category_l2, complaints, example_text)
    cells  its 'all' rows: every cell and week, with the population and the context counts
    """

    cube: pd.DataFrame
    cells: pd.DataFrame

    @property
    def systems(self) -> set[str]:
        return set(self.cells["source_system"])


def read_kept(spark, settings: Settings) -> Kept:
    """``Kept`` from gold.complaint_hotspots as it is (two reads: its sub-category rows with tickets, its 'all' rows)."""
    table = lake.read(spark, settings, TABLE)
    cube = (
        table.where("category_level = 'l2' AND complaints > 0")
        .select("source_system", *_CUBE_KEY[:3], F.col("category").alias("category_l2"), "complaints", "example_text")
        .toPandas()
    )
    cells = table.where("category_level = 'all'").select("source_system", *_CELL_WEEK, "population", *CONTEXT).toPandas()
    for frame in (cube, cells):
        frame["week_start"] = pd.to_datetime(frame["week_start"])
    return Kept(cube, cells)


def first_week_to_build(cube, rows: pd.DataFrame, context: pd.DataFrame, kept: Kept, system: str) -> tuple[int | None, str]:
    """The index in ``cube.weeks`` of the first week to compute again (0: all of them; ``len(weeks)``:
    none, only kept weeks past the last one to delete; None: nothing changed), and why.

    ``rows``: the hotline's new cube rows (as ``weekly_cube``); ``context``: the context counts of
    its cells and weeks, indexed by h3_cell and week_start (``complaint_hotspots._of_cube``).
    """
    cells = kept.cells[kept.cells["source_system"] == system]
    if cells.empty:
        return 0, "a hotline not in the table"
    if sorted(cells["h3_cell"].unique()) != list(cube.cells):
        return 0, "its cells changed"
    if cells["week_start"].min() != cube.weeks[0]:
        return 0, "its first week moved"
    old_cube = kept.cube[kept.cube["source_system"] == system].drop(columns="source_system")
    if sorted(set(zip(old_cube["category_l1"], old_cube["category_l2"], strict=True))) != list(cube.l2):
        return 0, "its sub-categories changed"
    old_population = cells.groupby("h3_cell")["population"].first().reindex(cube.cells).astype("Float64")
    new_population = pd.Series(np.nan if cube.population is None else cube.population, index=cube.cells).astype("Float64")
    if not old_population.reset_index(drop=True).equals(new_population.reset_index(drop=True)):
        return 0, "the population of its cells changed"
    new_cube = rows.assign(week_start=pd.to_datetime(rows["week_start"]))[[*_CUBE_KEY, "complaints", "example_text"]]
    changed = _weeks_that_differ(old_cube, new_cube, _CUBE_KEY, ["complaints", "example_text"])
    old_context = cells[[*_CELL_WEEK, *CONTEXT]]
    changed |= _weeks_that_differ(old_context, context.reset_index(), _CELL_WEEK, list(CONTEXT))
    if not changed:
        return None, "nothing changed"
    first = min(changed)
    weeks = list(cube.weeks)
    start = weeks.index(first) if first in weeks else len(weeks)  # a kept week past the new last one
    return start, f"from the week of {first.date()}: its tickets or context changed"


def _weeks_that_differ(old: pd.DataFrame, new: pd.DataFrame, key: list[str], values: list[str]) -> set[pd.Timestamp]:
    """The weeks of the rows that are in one frame only, or differ in a value."""
    both = old.merge(new, on=key, how="outer", suffixes=("_old", "_new"), indicator=True)
    differs = both["_merge"] != "both"
    for column in values:
        a, b = both[f"{column}_old"], both[f"{column}_new"]
        differs |= ~((a == b) | (a.isna() & b.isna()))
    return set(both.loc[differs, "week_start"])


def earlier_rows(spark, settings: Settings, system: str, weeks: list, start: int, trend_weeks: int) -> pd.DataFrame:
    """The table's rows that ``complaint_hotspots.kept_weeks`` reads for a build from week ``start``:
    the alerts of every earlier week, and every row of the ``trend_weeks - 1`` weeks before it."""
    first = _sql_date(weeks[start])
    recent = _sql_date(weeks[max(0, start - (trend_weeks - 1))])
    return (
        lake.read(spark, settings, TABLE)
        .where(f"source_system = {sql_literal(system)} AND week_start < {first} AND (is_alert OR week_start >= {recent})")
        .select(*_CELL_WEEK, "category_level", "category", "category_l1", "is_alert", "alert_window_weeks", "gi_star_z", "gi_class")
        .toPandas()
    )


def replaced(system: str, first_week) -> str:
    """The rows of ``system`` a build replaces: all of them, or those from ``first_week`` on."""
    rows = f"source_system = {sql_literal(system)}"
    return rows if first_week is None else f"({rows} AND week_start >= {_sql_date(first_week)})"


def _sql_date(day) -> str:
    return sql_literal(pd.Timestamp(day).date())
