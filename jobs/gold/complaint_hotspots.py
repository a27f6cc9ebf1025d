"""gold.complaint_hotspots: where complaints concentrate or grow, and what is around them.

extract    Spark aggregates silver.complaint into the weekly cube: tickets per hotline,
           H3 cell, ISO week and sub-category (with one example text each), plus the
           cells' population (silver.grid) and the cross-domain context per cell-week
           (police incidents, petitions, urban cases, ride-hailing pickups).
transform  models.hotspot_stats on the cube (small: cells x categories x weeks, whatever
           the number of tickets): expected counts, excess alerts, Gi*, trends, forecasts.
load       through its contract: per hotline, the weeks from the first one whose tickets or
           context changed (hotspot_weeks.py), or the whole table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from citybrain import lake
from citybrain.jobs.gold import hotspot_context, hotspot_weeks, incremental
from citybrain.jobs.gold.common import GoldReport, iso_week_of, week_start
from citybrain.jobs.gold.hotspot_context import CONTEXT
from citybrain.models import hotspot_stats as stats
from citybrain.schemas.gold.complaint_hotspots import ALL_CATEGORIES, GOLD_COMPLAINT_HOTSPOTS, HotspotParams
from citybrain.settings import Settings

log = logging.getLogger(__name__)
TABLE = GOLD_COMPLAINT_HOTSPOTS.name
NO_CATEGORY = "(未分类)"


def weekly_cube(complaints: DataFrame, resolution: int) -> DataFrame:
    """Tickets per hotline, cell, ISO week and sub-category, with one example text (the earliest)."""
    cell = f"h3_r{resolution}"
    return (
        complaints.where(F.col(cell).isNotNull())
        .select(
            "source_system",
            F.col(cell).alias("h3_cell"),
            week_start(F.col("dt")).alias("week_start"),
            F.coalesce(F.col("category_l1"), F.lit(NO_CATEGORY)).alias("category_l1"),
            F.coalesce(F.col("category_l2"), F.col("category_l1"), F.lit(NO_CATEGORY)).alias("category_l2"),
            "content",
            "received_at",
        )
        .groupBy("source_system", "h3_cell", "week_start", "category_l1", "category_l2")
        .agg(F.count(F.lit(1)).alias("complaints"), F.min_by("content", "received_at").alias("example_text"))
    )


def cell_population(grid: DataFrame, resolution: int) -> DataFrame:
    """Registered residents per H3 cell (a unit grid counts in the cell of its centroid)."""
    return grid.groupBy(F.col(f"h3_r{resolution}").alias("h3_cell")).agg(F.sum("population").cast("bigint").alias("population"))


@dataclass
class Cube:
    """One hotline's weekly cube as arrays: counts[cell, l2, week]."""

    cells: list[str]
    weeks: list[pd.Timestamp]
    l2: list[tuple[str, str]]  # (category_l1, category_l2)
    counts: np.ndarray
    examples: dict[tuple[int, int, int], str]
    population: np.ndarray | None  # per cell, None when the hotline has no registry


def build_cube(rows: pd.DataFrame, population: pd.Series, k_ring: int) -> Cube:
    """Arrays of one hotline's cube; cells are its complaint cells plus registry cells near them."""
    import h3

    complaint_cells = set(rows["h3_cell"])
    near = {n for c in complaint_cells for n in h3.grid_disk(c, k_ring)}
    cells = sorted(complaint_cells | (set(population.index) & near))
    first, last = rows["week_start"].min(), rows["week_start"].max()
    weeks = list(pd.date_range(first, last, freq="7D"))
    l2 = sorted(set(zip(rows["category_l1"], rows["category_l2"], strict=True)))
    ci = {c: i for i, c in enumerate(cells)}
    ki = {c: i for i, c in enumerate(l2)}
    wi = {w: i for i, w in enumerate(weeks)}
    idx = (
        rows["h3_cell"].map(ci).to_numpy(),
        pd.Series(list(zip(rows["category_l1"], rows["category_l2"], strict=True))).map(ki).to_numpy(),
        rows["week_start"].map(wi).to_numpy(),
    )
    counts = np.zeros((len(cells), len(l2), len(weeks)))
    np.add.at(counts, idx, rows["complaints"].to_numpy())
    examples = dict(zip(zip(*idx, strict=True), rows["example_text"], strict=True))
    pop = population.reindex(cells).to_numpy(dtype=float)
    has_population = np.nansum(pop) > 0
    return Cube(cells, weeks, l2, counts, examples, np.nan_to_num(pop) if has_population else None)


def _levels(cube: Cube) -> tuple[list[tuple[str, str, str | None]], list[np.ndarray]]:
    """The categories of every level and, per category, which l2 columns it sums."""
    categories: list[tuple[str, str, str | None]] = [("all", ALL_CATEGORIES, None)]
    members = [np.arange(len(cube.l2))]
    for group in sorted({g for g, _ in cube.l2}):
        categories.append(("l1", group, group))
        members.append(np.array([i for i, (g, _) in enumerate(cube.l2) if g == group]))
    for i, (group, sub) in enumerate(cube.l2):
        categories.append(("l2", sub, group))
        members.append(np.array([i]))
    return categories, members


def _by_level(values: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """Sum l2 columns [cell, l2, week] into every level's categories [cell, category, week]."""
    return np.stack([values[:, m, :].sum(axis=1) for m in members], axis=1)


@dataclass(frozen=True)
class KeptWeeks:
    """What the table says of the weeks an incremental build keeps (before week ``start`` of the cube),
    as [cell, category, week] arrays over the cube's cells and categories (``_levels``' order).

    alerted, window   every kept week: the alerts, the only thing a week carries to the next
                      (stats.EarlierAlerts)
    gi_z, gi_class    the last ``trend_weeks - 1`` kept weeks: the Gi* history behind the trends
    """

    start: int
    alerted: np.ndarray
    window: np.ndarray
    gi_z: np.ndarray
    gi_class: np.ndarray


def kept_weeks(cube: Cube, rows: pd.DataFrame, start: int, trend_weeks: int) -> KeptWeeks:
    """``KeptWeeks`` from the table's rows of one hotline before week ``start`` (columns h3_cell,
    week_start, category_level, category, category_l1, is_alert, alert_window_weeks, gi_star_z,
    gi_class): its alerts, and every row of the last ``trend_weeks - 1`` weeks."""
    categories, _ = _levels(cube)
    history = min(start, trend_weeks - 1)
    shape = (len(cube.cells), len(categories))
    out = KeptWeeks(
        start,
        np.zeros((*shape, start), dtype=bool),
        np.zeros((*shape, start), dtype=int),
        np.full((*shape, history), np.nan),
        np.zeros((*shape, history), dtype=int),
    )
    ci = {c: i for i, c in enumerate(cube.cells)}
    ki = {c: i for i, c in enumerate(categories)}
    wi = {pd.Timestamp(w): i for i, w in enumerate(cube.weeks[:start])}
    c = rows["h3_cell"].map(ci).to_numpy()
    k = pd.Series(list(zip(rows["category_level"], rows["category"], rows["category_l1"], strict=True)), dtype=object).map(ki).to_numpy()
    w = pd.to_datetime(rows["week_start"]).map(wi).to_numpy()
    alert = rows["is_alert"].to_numpy(dtype=bool)
    out.alerted[c[alert], k[alert], w[alert]] = True
    out.window[c[alert], k[alert], w[alert]] = rows["alert_window_weeks"].to_numpy()[alert]
    recent = w >= start - history
    h = w[recent] - (start - history)
    out.gi_z[c[recent], k[recent], h] = rows["gi_star_z"].to_numpy(dtype=float, na_value=np.nan)[recent]
    out.gi_class[c[recent], k[recent], h] = rows["gi_class"].to_numpy()[recent]
    return out


def analyse(cube: Cube, params: HotspotParams, kept: KeptWeeks | None = None) -> pd.DataFrame:
    """Every statistic of the table for one hotline's cube; one row per cell, week and category.

    With ``kept``, only the weeks from ``kept.start`` on, equal to those of a run over every week:
    a week's statistics depend on that week and the weeks before it only (the alerts through the
    episodes the earlier weeks left open, the trends through their Gi*).
    """
    categories, members = _levels(cube)
    counts = _by_level(cube.counts, members)
    exposure = cube.counts.sum(axis=(0, 1))
    n_cells, n_cats, _ = counts.shape
    levels = np.array([c[0] for c in categories])
    start = kept.start if kept else 0

    expected_history = np.full(counts.shape, np.nan)
    alert_p, alert_window, alert_conf = np.ones(counts.shape), np.zeros(counts.shape, int), np.zeros(counts.shape, int)
    for level in ("all", "l1", "l2"):
        # alerts are tested level by level: BH across the cells and categories of one level and week
        cols = np.flatnonzero(levels == level)
        res = stats.excess_alerts(
            counts[:, cols, :],
            exposure,
            windows=params.alert_windows,
            baseline_weeks=params.baseline_weeks,
            min_baseline_weeks=params.min_baseline_weeks,
            rank=params.rank,
            prior_weeks=params.prior_weeks,
            continue_alpha=params.continue_alpha,
            min_count=params.min_count,
            q=params.alert_q,
            first_week=start,
            earlier=stats.EarlierAlerts(kept.alerted[:, cols, :], kept.window[:, cols, :]) if kept else None,
        )
        expected_history[:, cols, :] = res.expected
        alert_p[:, cols, :], alert_window[:, cols, :], alert_conf[:, cols, :] = res.p_value, res.window, res.confidence
    forecast = _by_level(
        stats.forecast_next_week(cube.counts, exposure, params.baseline_weeks, params.rank, params.prior_weeks, first_week=start), members
    )
    # from here on, every statistic is of one week (and the Gi* history before it): the weeks built
    counts, expected_history, alert_p, alert_window, alert_conf, forecast = (
        a[:, :, start:] for a in (counts, expected_history, alert_p, alert_window, alert_conf, forecast)
    )
    n_weeks = counts.shape[2]

    expected_population = np.full(counts.shape, np.nan)
    if cube.population is not None and cube.population.sum() > 0:
        per_resident = counts.sum(axis=0) / cube.population.sum()  # [category, week]
        expected_population = cube.population[:, None, None] * per_resident[None, :, :]
    expected = np.where(np.isnan(expected_history), expected_population, expected_history)
    with np.errstate(divide="ignore", invalid="ignore"):
        excess_z = np.where(expected > 0, (counts - expected) / np.sqrt(expected), np.nan)

    weights = stats.ring_weights(cube.cells, params.k_ring)
    flat_z = np.nan_to_num(excess_z).reshape(n_cells, -1)
    gi_z = stats.gi_star(flat_z, weights)
    gi_p, gi_class = stats.gi_classes(gi_z)
    has_expected = ~np.isnan(excess_z).all(axis=0).reshape(-1)  # a series with no expected has no map
    gi_z[:, ~has_expected], gi_p[:, ~has_expected], gi_class[:, ~has_expected] = np.nan, np.nan, 0
    gi_z, gi_p, gi_class = (a.reshape(counts.shape) for a in (gi_z, gi_p, gi_class))

    if kept:  # the trends look back over the kept weeks' Gi*
        trend, mk_z, mk_p = _trends(
            np.concatenate([kept.gi_z, gi_z], axis=2),
            np.concatenate([kept.gi_class, gi_class], axis=2),
            params.trend_weeks,
            first=kept.gi_z.shape[2],
        )
    else:
        trend, mk_z, mk_p = _trends(gi_z, gi_class, params.trend_weeks)
    built = Cube(
        cube.cells,
        cube.weeks[start:],
        cube.l2,
        cube.counts[:, :, start:],
        {(c, j, w - start): text for (c, j, w), text in cube.examples.items() if w >= start},
        cube.population,
    )
    top = _top_subcategories(built, members, levels, expected, params.top_subcategories)

    cell_i, cat_i, week_i = (a.ravel() for a in np.meshgrid(np.arange(n_cells), np.arange(n_cats), np.arange(n_weeks), indexing="ij"))
    pop = cube.population[cell_i] if cube.population is not None else np.full(cell_i.size, np.nan)
    out = pd.DataFrame(
        {
            "h3_cell": np.array(cube.cells, dtype=object)[cell_i],
            "week_start": np.array(built.weeks, dtype="datetime64[ns]")[week_i],
            "category_level": levels[cat_i],
            "category": np.array([c[1] for c in categories], dtype=object)[cat_i],
            "category_l1": np.array([c[2] for c in categories], dtype=object)[cat_i],
            "complaints": counts.ravel().astype(np.int64),
            "population": pop,
            "expected_from_population": expected_population.ravel(),
            "expected_from_history": expected_history.ravel(),
            "excess_z": excess_z.ravel(),
            "gi_star_z": gi_z.ravel(),
            "gi_star_p": gi_p.ravel(),
            "gi_class": gi_class.ravel(),
            "alert_p": alert_p.ravel(),
            "alert_window_weeks": alert_window.ravel(),
            "alert_confidence": alert_conf.ravel(),
            "trend": trend.ravel(),
            "trend_mk_z": mk_z.ravel(),
            "trend_mk_p": mk_p.ravel(),
            "forecast_next_week": forecast.ravel(),
            "top_subcategories": top[0].ravel(),
            "example_text": top[1].ravel(),
        }
    )
    out["is_alert"] = out["alert_confidence"] >= round((1 - params.alert_q) * 100)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate_per_1000"] = np.where(out["population"] > 0, out["complaints"] / out["population"] * 1000, np.nan)
    return out


def _trends(gi_z: np.ndarray, gi_class: np.ndarray, n: int, first: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Emerging-hotspot trend of every cell and category as of every week from ``first`` on, over its
    last ``n`` weeks (the weeks before ``first`` are only history)."""
    n_cells, n_cats, n_weeks = gi_z.shape
    z = gi_z.reshape(-1, n_weeks)
    hot = (gi_class >= 2).reshape(-1, n_weeks)
    padded_z = np.concatenate([np.full((z.shape[0], n - 1), np.nan), z], axis=1)
    padded_hot = np.concatenate([np.zeros((z.shape[0], n - 1), dtype=bool), hot], axis=1)
    trend = np.empty(z.shape, dtype=object)
    mk_z, mk_p = np.full(z.shape, np.nan), np.full(z.shape, np.nan)
    for w in range(first, n_weeks):
        window_z = padded_z[:, w : w + n]
        window_hot = padded_hot[:, w : w + n]
        seen = ~np.isnan(window_z)
        category, zz, pp = stats.emerging_trend(window_hot, window_z)
        enough = seen.sum(axis=1) >= 3
        trend[:, w] = np.where(enough | (category == "new"), category, "none")
        mk_z[:, w] = np.where(enough, zz, np.nan)
        mk_p[:, w] = np.where(enough, pp, np.nan)
    shape = (n_cells, n_cats, n_weeks)
    return tuple(a.reshape(shape)[:, :, first:] for a in (trend, mk_z, mk_p))


def _top_subcategories(cube: Cube, members, levels, expected, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """'噪声扰民 21 (4.1); ...' and one example text of the first, for every cell, category and week with tickets.

    One frame of every (cell, week, sub-category) with tickets, joined to the categories it is a
    member of, sorted once: a loop per cell and week cost more than all the statistics together."""
    n_cells, n_weeks = len(cube.cells), len(cube.weeks)
    text = np.full((n_cells, len(members), n_weeks), None, dtype=object)
    example = np.full((n_cells, len(members), n_weeks), None, dtype=object)
    cell_i, l2_i, week_i = np.nonzero(cube.counts > 0)
    if cell_i.size == 0:
        return text, example
    l2_expected = expected[:, np.flatnonzero(levels == "l2"), :][cell_i, l2_i, week_i]
    counts = cube.counts[cell_i, l2_i, week_i]
    tickets = pd.DataFrame({"c": cell_i, "w": week_i, "j": l2_i, "n": counts, "e": l2_expected})
    membership = pd.DataFrame([(k, j) for k, member in enumerate(members) for j in member.tolist()], columns=["k", "j"])
    rows = tickets.merge(membership, on="j")
    # order by excess over expected, then by count, then sub-category: what is unusual first
    rows["by_excess"] = -(rows["n"].to_numpy() - np.nan_to_num(rows["e"].to_numpy()))
    rows["by_count"] = -rows["n"]
    rows = rows.sort_values(["c", "w", "k", "by_excess", "by_count", "j"], kind="stable")
    top = rows[rows.groupby(["c", "w", "k"], sort=False).cumcount().to_numpy() < top_n]
    names = np.array([sub for _, sub in cube.l2], dtype=object)[top["j"].to_numpy()]
    e = top["e"].to_numpy()
    shown = names + " " + top["n"].astype(np.int64).astype(str).to_numpy(dtype=object)
    shown[~np.isnan(e)] += np.char.mod(" (%.1f)", e[~np.isnan(e)]).astype(object)
    # the lists: each (cell, week, category)'s first row, then its second, ... joined in order
    key = top[["c", "w", "k"]].to_numpy()
    starts = np.flatnonzero(np.r_[True, (key[1:] != key[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], len(top)]
    lists = shown[starts].copy()
    for rank in range(1, top_n):
        more = starts + rank < ends
        lists[more] = lists[more] + "; " + shown[starts[more] + rank]
    c, w, k = key[starts].T
    text[c, k, w] = lists
    first = top["j"].to_numpy()[starts]
    example[c, k, w] = [cube.examples.get(i) for i in zip(c.tolist(), first.tolist(), w.tolist(), strict=True)]
    return text, example


def run(spark, settings: Settings, params: HotspotParams | None = None, *, full: bool = False) -> GoldReport:
    """Build gold.complaint_hotspots from silver: per hotline, only the weeks from the first one whose
    tickets or context changed (hotspot_weeks.py), or the whole table (first build, ``full``, any
    doubt); the context counts only where silver changed (hotspot_context.py)."""
    params = params or HotspotParams()
    report = GoldReport(TABLE)
    fingerprint = incremental.fingerprint(TABLE, params, hotspot_weeks.RULES)
    plan = incremental.plan(settings, TABLE, hotspot_weeks.INPUTS, fingerprint, full=full)
    kept = None if plan.full else hotspot_weeks.read_kept(spark, settings)
    counted = None if plan.full else hotspot_context.weeks_of(spark, plan.changed_days)  # None: every week
    cube_rows = current_cube(lake.read(spark, settings, "silver.complaint"), params.resolution, counted, kept)
    if lake.exists(settings, "silver.grid"):
        population = cell_population(lake.read(spark, settings, "silver.grid"), params.resolution).toPandas()
        population = population.dropna().set_index("h3_cell")["population"]
    else:
        population = pd.Series(dtype=float)
        report.not_computed.append("population, rate_per_1000 and expected_from_population: silver.grid does not exist")
    missing = [f"{col} ({table} does not exist)" for col, (table, _) in CONTEXT.items() if not lake.exists(settings, table)]
    if missing:
        report.not_computed.append("context " + ", ".join(missing) + ": counted as 0")
    context_build, context = hotspot_context.build(spark, settings, params, full=full)
    if context is None:  # built in part: the table holds the weeks kept and those recounted
        context = lake.read(spark, settings, hotspot_context.TABLE).toArrow()
    context = cell_week_context(context.select(["context", "h3_cell", "week_start", "records"]).to_pandas())

    parts, replaced, hotlines = [], [], {}
    for system, rows in cube_rows.groupby("source_system", sort=True):
        rows = rows.assign(week_start=pd.to_datetime(rows["week_start"]))
        cube = build_cube(rows, population, params.k_ring)
        if cube.population is None:
            report.not_computed.append(
                f"{system}: population, rate_per_1000 and expected_from_population (no registry population in its cells)"
            )
        if len(cube.weeks) <= params.min_baseline_weeks:
            report.not_computed.append(f"{system}: alerts and expected_from_history need more than {params.min_baseline_weeks} weeks")
        cube_context = _of_cube(context, cube)
        first, why = (0, plan.reason) if kept is None else hotspot_weeks.first_week_to_build(cube, rows, cube_context, kept, system)
        hotlines[system] = {"cells": len(cube.cells), "weeks": len(cube.weeks), "built_from": None, "why": why}
        if first is None:
            continue
        if first == len(cube.weeks):  # only kept weeks past the new last one: they go
            replaced.append(hotspot_weeks.replaced(system, cube.weeks[-1] + pd.Timedelta(days=7)))
            continue
        hotlines[system]["built_from"] = str(cube.weeks[first].date())
        replaced.append(hotspot_weeks.replaced(system, cube.weeks[first] if first else None))
        earlier = None
        if first > 0:
            rows_before = hotspot_weeks.earlier_rows(spark, settings, system, cube.weeks, first, params.trend_weeks)
            earlier = kept_weeks(cube, rows_before, first, params.trend_weeks)
        log.info("%s: %d cells x %d sub-categories x %d weeks, from week %d", system, len(cube.cells), len(cube.l2), len(cube.weeks), first)
        parts.append(_with_context(analyse(cube, params, earlier), cube_context).assign(source_system=system))
    if kept is not None:  # a hotline gone from silver loses its rows
        replaced += [hotspot_weeks.replaced(system, None) for system in sorted(kept.systems - set(hotlines))]
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if plan.full or replaced:
        where = None if plan.full else " OR ".join(replaced)
        lake.write_client_table(settings, TABLE, _to_arrow(table, params), mode="overwrite", replace_where=where)
    incremental.record_build(settings, TABLE, plan, fingerprint, rows=len(table), state={})
    alerts = lake.read(spark, settings, TABLE).groupBy("source_system").agg(F.sum(F.col("is_alert").cast("int"))).collect()
    for system, n in alerts:
        if system in hotlines:
            hotlines[system]["alerts"] = int(n or 0)
    report.details = {
        "build": "full" if plan.full else "incremental",
        "why_full": plan.reason,
        "cube_weeks_counted": None if counted is None else [str(w) for w in counted],
        "hotlines": hotlines,
        "context": context_build,
    }
    return report.finish(len(table))


def current_cube(complaints: DataFrame, resolution: int, weeks: list | None, kept: hotspot_weeks.Kept | None) -> pd.DataFrame:
    """The rows of ``weekly_cube`` over silver.complaint as it is now. An incremental build counts only
    ``weeks``, the ISO weeks that hold a day silver changed since the last build, and takes the other
    weeks' rows from the table, whose sub-category rows with tickets are the cube it was built from
    (``kept``). ``weeks`` None: every week is counted."""
    if weeks is None:
        return weekly_cube(complaints, resolution).toPandas()
    unchanged = kept.cube[~kept.cube["week_start"].isin(pd.to_datetime(weeks))]
    if not weeks:
        return unchanged
    days = F.col("dt").between(F.lit(weeks[0]), F.lit(weeks[-1] + timedelta(days=6)))  # prunes the day partitions
    counted = weekly_cube(complaints.where(days & week_start(F.col("dt")).isin(*weeks)), resolution).toPandas()
    return pd.concat([unchanged, counted.assign(week_start=pd.to_datetime(counted["week_start"]))], ignore_index=True)


def cell_week_context(counts: pd.DataFrame) -> pd.DataFrame:
    """gold.hotspot_context's rows (context, h3_cell, week_start, records) as one column per kind of record."""
    wide = counts.assign(week_start=pd.to_datetime(counts["week_start"])).pivot_table(
        index=["h3_cell", "week_start"], columns="context", values="records", aggfunc="sum", fill_value=0
    )
    return wide.reindex(columns=list(CONTEXT), fill_value=0)


def _of_cube(context: pd.DataFrame, cube: Cube) -> pd.DataFrame:
    """The context of every cell and week of ``cube`` (0 where none), indexed by h3_cell and week_start."""
    index = pd.MultiIndex.from_product([cube.cells, pd.DatetimeIndex(cube.weeks)], names=["h3_cell", "week_start"])
    return context.reindex(index, fill_value=0).astype(np.int64)


def _with_context(table: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the context counts of its cell and week (``_of_cube``)."""
    if table.empty:
        return table
    return table.merge(context.reset_index(), on=["h3_cell", "week_start"], how="left")


def _to_arrow(table: pd.DataFrame, params: HotspotParams) -> pa.Table:
    """The table in the contract's Arrow types, ready for ``lake.write_client_table``."""
    contract = GOLD_COMPLAINT_HOTSPOTS
    if table.empty:
        return contract.arrow_schema().empty_table()
    weeks = table["week_start"].dt.date
    table = table.assign(
        h3_resolution=params.resolution,
        iso_week=weeks.map({day: iso_week_of(day) for day in weeks.unique()}),
        week_start=weeks,
        population=table["population"].astype("Int64"),
        built_at=datetime.now(UTC),
    )
    table = table.astype({c: "object" for c in ("category_l1", "top_subcategories", "example_text")})
    return pa.Table.from_pandas(table[contract.column_names], schema=contract.arrow_schema(), preserve_index=False)
