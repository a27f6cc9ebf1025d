"""gold.complaint_hotspots from a later week: the statistics equal those of a build over every week,
and the rule that picks the first week to build finds it (hotspot_weeks.py), on a cube in memory.

The cube: the 37 cells within three rings of a Shanghai cell, five sub-categories in three groups,
16 weeks of Poisson counts, with a sharp hotspot (weeks 8-11) and a lasting one (weeks 6-15), so
that alert episodes are open across the weeks a build starts from and the trends have a history.
"""

import h3
import numpy as np
import pandas as pd
import pytest

from citybrain import lake
from citybrain.jobs.gold import complaint_hotspots as job
from citybrain.jobs.gold import hotspot_weeks
from citybrain.jobs.gold.hotspot_context import CONTEXT
from citybrain.schemas.gold.complaint_hotspots import HotspotParams

PARAMS = HotspotParams()
SYSTEM = "demo_12345"
CELLS = sorted(h3.grid_disk(h3.latlng_to_cell(31.23, 121.47, 8), 3))
L2 = [("交通", "停车"), ("城市管理", "占道经营"), ("城市管理", "噪声扰民"), ("环境", "垃圾"), ("环境", "污水")]
WEEKS = list(pd.date_range("2026-06-01", periods=16, freq="7D"))


def counts() -> np.ndarray:
    rng = np.random.default_rng(7)
    rate = rng.gamma(2.0, 1.5, size=(len(CELLS), len(L2)))
    out = rng.poisson(rate[:, :, None] * np.ones(len(WEEKS))).astype(float)
    out[5, 1, 8:12] += [12, 18, 20, 15]  # sharp
    out[20, 3, 6:16] += 14  # lasting
    out[21, 3, 6:16] += 10  # its neighbour
    return out


def make_cube(values: np.ndarray) -> job.Cube:
    examples = {(c, k, w): f"text {c}-{k}-{w}" for c, k, w in zip(*np.nonzero(values > 0), strict=True)}
    population = np.linspace(500, 4000, len(CELLS)).round()
    return job.Cube(CELLS, WEEKS, L2, values, examples, population)


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return job.analyse(make_cube(counts()), PARAMS)


def test_the_fixture_has_episodes_open_across_weeks_and_trends_with_a_history(full):
    alerts = full[full["is_alert"]]
    assert len(alerts) >= 30
    # an episode open over several weeks: the same cell and category alerted in consecutive weeks
    runs = alerts.groupby(["h3_cell", "category"])["week_start"].nunique()
    assert runs.max() >= 4
    assert {"intensifying", "persistent", "sporadic", "new"} & set(full["trend"]) - {"new"}


@pytest.mark.parametrize("start", range(1, len(WEEKS)))
def test_every_statistic_from_a_later_week_equals_the_build_over_every_week(full, start):
    cube = make_cube(counts())
    before = full[full["week_start"] < WEEKS[start]]
    part = job.analyse(cube, PARAMS, job.kept_weeks(cube, before, start, PARAMS.trend_weeks)).reset_index(drop=True)
    want = full[full["week_start"] >= WEEKS[start]].reset_index(drop=True)
    assert list(part.columns) == list(want.columns)
    differ = [c for c in want.columns if not want[c].equals(part[c])]
    assert differ == [], f"from week {start}: {differ} differ"


def test_without_the_earlier_alerts_a_later_build_would_differ(full):
    """The episodes carried across the start matter: the kept alerts are needed, not decoration."""
    cube = make_cube(counts())
    start = 10  # inside both hotspots' episodes
    kept = job.kept_weeks(cube, full[full["week_start"] < WEEKS[start]], start, PARAMS.trend_weeks)
    forgetful = job.KeptWeeks(start, np.zeros_like(kept.alerted), kept.window, kept.gi_z, kept.gi_class)
    part = job.analyse(cube, PARAMS, forgetful).reset_index(drop=True)
    want = full[full["week_start"] >= WEEKS[start]].reset_index(drop=True)
    assert not want["alert_confidence"].equals(part["alert_confidence"])


def kept_of(table: pd.DataFrame) -> hotspot_weeks.Kept:
    """What read_kept would read from a table holding ``table``'s rows."""
    table = table.assign(source_system=SYSTEM)
    cube = table[(table["category_level"] == "l2") & (table["complaints"] > 0)].rename(columns={"category": "category_l2"})
    cube = cube[["source_system", "h3_cell", "week_start", "category_l1", "category_l2", "complaints", "example_text"]]
    cells = table[table["category_level"] == "all"][["source_system", "h3_cell", "week_start", "population", *CONTEXT]]
    return hotspot_weeks.Kept(cube.reset_index(drop=True), cells.assign(population=cells["population"].astype("Int64")))


def cube_rows_of(cube: job.Cube) -> pd.DataFrame:
    """The cube as weekly_cube's rows (less source_system, which the rule does not read)."""
    c, k, w = np.nonzero(cube.counts > 0)
    return pd.DataFrame(
        {
            "h3_cell": np.array(cube.cells, dtype=object)[c],
            "week_start": np.array(cube.weeks)[w],
            "category_l1": [cube.l2[i][0] for i in k],
            "category_l2": [cube.l2[i][1] for i in k],
            "complaints": cube.counts[c, k, w].astype(np.int64),
            "example_text": [cube.examples[key] for key in zip(c, k, w, strict=True)],
        }
    )


def no_context(cube: job.Cube) -> pd.DataFrame:
    return job._of_cube(pd.DataFrame(columns=list(CONTEXT), index=pd.MultiIndex.from_tuples([], names=["h3_cell", "week_start"])), cube)


@pytest.fixture(scope="module")
def kept(full) -> hotspot_weeks.Kept:
    return kept_of(job._with_context(full, no_context(make_cube(counts()))))


def first(values, kept, *, examples=None, context=None):
    cube = make_cube(values)
    cube = job.Cube(cube.cells, cube.weeks, cube.l2, cube.counts, {**cube.examples, **(examples or {})}, cube.population)
    return hotspot_weeks.first_week_to_build(cube, cube_rows_of(cube), no_context(cube) if context is None else context, kept, SYSTEM)


def test_nothing_changed_builds_nothing(kept):
    assert first(counts(), kept) == (None, "nothing changed")


def test_a_ticket_more_in_week_9_builds_from_week_9(kept):
    values = counts()
    values[3, 2, 9] += 1
    assert first(values, kept)[0] == 9


def test_two_changed_weeks_build_from_the_earlier(kept):
    values = counts()
    values[3, 2, 12] += 1
    values[30, 0, 4] = max(values[30, 0, 4] - 1, 0) if values[30, 0, 4] else 1
    assert first(values, kept)[0] == 4


def test_another_example_text_in_week_2_builds_from_week_2(kept):
    values = counts()
    c, k = next((c, k) for c in range(len(CELLS)) for k in range(len(L2)) if values[c, k, 2] > 0)
    assert first(values, kept, examples={(c, k, 2): "an earlier ticket's text"})[0] == 2


def test_a_context_count_in_week_7_builds_from_week_7(kept):
    cube = make_cube(counts())
    context = no_context(cube)
    context.loc[(CELLS[11], WEEKS[7]), "police_incidents"] = 2
    assert first(counts(), kept, context=context)[0] == 7


def test_a_new_last_week_builds_only_that_week(full):
    """The table as it was a week ago, and silver now holds the 16th week too."""
    older = full[full["week_start"] < WEEKS[-1]]
    assert first(counts(), kept_of(job._with_context(older, no_context(make_cube(counts())))))[0] == len(WEEKS) - 1


def test_a_last_week_emptied_deletes_it_and_builds_nothing(kept):
    """Silver's last week lost its every ticket: the cube ends a week earlier."""
    values = counts()[:, :, :-1]
    cube = job.Cube(CELLS, WEEKS[:-1], L2, values, make_cube(values).examples, make_cube(values).population)
    context = no_context(cube)
    assert hotspot_weeks.first_week_to_build(cube, cube_rows_of(cube), context, kept, SYSTEM)[0] == len(WEEKS) - 1


@pytest.mark.parametrize(
    "change, why",
    [
        ("cells", "its cells changed"),
        ("sub-categories", "its sub-categories changed"),
        ("first week", "its first week moved"),
        ("population", "the population of its cells changed"),
    ],
)
def test_what_every_week_shares_changed_builds_the_hotline_whole(kept, change, why):
    values = counts()
    cube = make_cube(values)
    if change == "cells":
        cube = job.Cube([*CELLS[:-1], "882a100d61fffff"], WEEKS, L2, values, cube.examples, cube.population)
    elif change == "sub-categories":
        cube = job.Cube(CELLS, WEEKS, [*L2[:-1], ("环境", "扬尘")], values, cube.examples, cube.population)
    elif change == "first week":
        cube = job.Cube(CELLS, [w - pd.Timedelta(days=7) for w in WEEKS], L2, values, cube.examples, cube.population)
    else:
        cube = job.Cube(CELLS, WEEKS, L2, values, cube.examples, cube.population * 1.1)
    assert hotspot_weeks.first_week_to_build(cube, cube_rows_of(cube), no_context(cube), kept, SYSTEM) == (0, why)


def test_a_hotline_not_in_the_table_is_built_whole(kept):
    cube = make_cube(counts())
    assert hotspot_weeks.first_week_to_build(cube, cube_rows_of(cube), no_context(cube), kept, "other_12345") == (
        0,
        "a hotline not in the table",
    )


def test_what_the_table_gives_back_is_what_was_written(spark, lake_settings, full):
    """Through the lake: read_kept and earlier_rows read what the rule and the statistics need
    (the alerts of every earlier week, the Gi* of the recent ones, nulls for nan)."""
    cube = make_cube(counts())
    table = job._with_context(full, no_context(cube)).assign(source_system=SYSTEM)
    lake.write_client_table(lake_settings, job.TABLE, job._to_arrow(table, PARAMS), mode="overwrite")

    kept = hotspot_weeks.read_kept(spark, lake_settings)
    assert first(counts(), kept) == (None, "nothing changed")
    values = counts()
    values[3, 2, 9] += 1
    assert first(values, kept)[0] == 9

    start = 12
    rows = hotspot_weeks.earlier_rows(spark, lake_settings, SYSTEM, cube.weeks, start, PARAMS.trend_weeks)
    from_lake = job.kept_weeks(cube, rows, start, PARAMS.trend_weeks)
    from_frame = job.kept_weeks(cube, full[full["week_start"] < WEEKS[start]], start, PARAMS.trend_weeks)
    assert from_lake.alerted.sum() > 0 and from_lake.alerted[:, :, : start - PARAMS.trend_weeks + 1].any()  # alerts before the Gi* weeks
    for field in ("alerted", "window", "gi_z", "gi_class"):
        assert np.array_equal(getattr(from_lake, field), getattr(from_frame, field), equal_nan=field == "gi_z"), field
