"""The hotspot statistics on hand-made numbers: BH, Gi* against esda, Mann-Kendall against scipy, alerts on planted cubes."""

import h3
import numpy as np
import pytest
from scipy import stats as scipy_stats

from citybrain.models import hotspot_stats as hs

CENTRE = h3.latlng_to_cell(32.05, 118.78, 8)
CELLS = sorted(h3.grid_disk(CENTRE, 3))  # 37 cells


def test_bh_rejects_by_hand():
    # sorted p: 0.001 0.008 0.039 0.041 0.042 0.06 ... thresholds q*i/n with n=10, q=0.05: 0.005 0.01 0.015 0.02 0.025
    p = np.array([0.041, 0.001, 0.5, 0.008, 0.039, 0.042, 0.06, 0.9, 0.7, 0.3])
    assert hs.bh_reject(p, 0.05).tolist() == [False, True, False, True, False, False, False, False, False, False]
    # at q=0.5 the largest i with p_(i) <= 0.05 i is i=7 (0.3 <= 0.35; 0.5 > 0.40) -> seven discoveries
    assert hs.bh_reject(p, 0.5).sum() == 7
    assert not hs.bh_reject(np.array([0.2, 0.3]), 0.05).any()


def test_gi_star_equals_esda():
    from esda import G_Local
    from libpysal.weights import W

    rng = np.random.default_rng(1)
    x = rng.normal(size=len(CELLS))
    x[CELLS.index(CENTRE)] += 4
    weights = hs.ring_weights(CELLS, 1)
    ours = hs.gi_star(x[:, None], weights)[:, 0]
    neighbours = {i: [j for j in weights[i].indices if j != i] for i in range(len(CELLS))}
    esda_z = G_Local(x, W(neighbours, silence_warnings=True), transform="B", star=True, permutations=0).Zs
    np.testing.assert_allclose(ours, esda_z, rtol=1e-9, atol=1e-9)
    assert ours[CELLS.index(CENTRE)] > 1.0


def test_gi_classes_hot_and_cold():
    z = np.array([[4.0], [-3.5], [0.5], [1.0]] + [[0.0]] * 30)
    p, classes = hs.gi_classes(z)
    assert classes[:4, 0].tolist() == [3, -3, 0, 0]
    assert p[0, 0] == pytest.approx(2 * scipy_stats.norm.sf(4.0))


def test_mann_kendall_matches_scipy_kendall_tau():
    rng = np.random.default_rng(3)
    series = rng.normal(size=(50, 8)) + np.linspace(0, 2, 8)
    s, z, p = hs.mann_kendall(series)
    n = 8
    for row, s_row in zip(series, s, strict=True):
        tau = scipy_stats.kendalltau(np.arange(n), row).statistic
        assert s_row == pytest.approx(tau * n * (n - 1) / 2)
    # hand example: strictly rising 5 points -> S = 10, var = 5*4*15/18, z = (10-1)/sqrt(var)
    s, z, p = hs.mann_kendall(np.array([[1.0, 2, 3, 4, 5]]))
    assert s[0] == 10 and z[0] == pytest.approx(9 / np.sqrt(5 * 4 * 15 / 18))


def test_emerging_trend_categories():
    hot = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0, 1],  # new
            [0, 0, 0, 0, 1, 1, 1, 1],  # intensifying (rising z below)
            [1, 1, 1, 1, 1, 1, 1, 1],  # persistent (flat z)
            [1, 1, 1, 1, 1, 0, 0, 0],  # diminishing (falling z)
            [1, 0, 0, 1, 0, 0, 0, 1],  # sporadic
            [0, 0, 0, 0, 0, 0, 0, 0],  # none
        ],
        dtype=bool,
    )
    flat = np.array([3.0, 3.2, 2.9, 3.1, 3.0, 2.8, 3.1, 3.0])
    z = np.vstack([np.r_[np.zeros(7), 3.0], np.linspace(0, 6, 8), flat, np.linspace(6, 0, 8), flat, np.zeros(8)])
    category, _, _ = hs.emerging_trend(hot, z)
    assert category.tolist() == ["new", "intensifying", "persistent", "diminishing", "sporadic", "none"]


def _city(rng, n_cells=60, n_cats=20, n_weeks=12, scale=1.0):
    """A rank-2 city like the demo's: residential and commercial category profiles, cells mixing them."""
    size = rng.lognormal(2.5, 0.6, n_cells) * scale
    mix = rng.uniform(0, 1, n_cells)
    profiles = rng.dirichlet(np.ones(n_cats), size=2)
    rate = size[:, None] * (mix[:, None] * profiles[0] + (1 - mix[:, None]) * profiles[1])
    return np.repeat(rate[:, :, None], n_weeks, axis=2)


def test_planted_excess_is_alerted_within_a_week_and_the_null_is_quiet():
    rng = np.random.default_rng(7)
    rate = _city(rng)
    cell, cat = np.unravel_index(np.abs(rate[:, :, 0] - 3.0).argmin(), rate.shape[:2])  # a base of about 3 a week
    rate[cell, cat, 6:] *= 5  # a 5x hotspot from week 6 on
    counts = rng.poisson(rate).astype(float)
    res = hs.excess_alerts(counts, counts.sum(axis=(0, 1)))
    flagged_weeks = np.flatnonzero(res.confidence[cell, cat] >= 95)
    assert flagged_weeks.tolist() == [6, 7, 8, 9, 10, 11]  # found in its first week and kept while it lasts
    others = res.confidence >= 95
    others[cell, cat] = False
    assert others.sum() <= 1
    assert np.isnan(res.expected[:, :, :3]).all() and not np.isnan(res.expected[:, :, 3:]).any()  # burn-in


def test_null_city_has_almost_no_alert():
    rng = np.random.default_rng(11)
    false = 0
    for _ in range(3):
        counts = rng.poisson(_city(rng, n_cells=80, n_cats=25)).astype(float)
        false += (hs.excess_alerts(counts, counts.sum(axis=(0, 1))).confidence >= 95).sum()
    assert false <= 7  # of 3 x 80 x 25 x 12 = 72,000 cell-category-weeks: 0.1 per 1,000 (the bar is 1 per 1,000)


def test_a_short_rare_spike_is_not_an_alert():
    rng = np.random.default_rng(5)
    counts = rng.poisson(_city(rng)).astype(float)
    counts[9, 4, :] = 0
    counts[9, 4, 8] = 4  # 0 -> 4: below min_count, however improbable
    assert (hs.excess_alerts(counts, counts.sum(axis=(0, 1))).confidence[9, 4] == 0).all()


def test_baseline_rates_recover_a_rank_two_city():
    rng = np.random.default_rng(2)
    rate = _city(rng, scale=5.0)[:, :, 0]
    counts = rng.poisson(rate * 8).astype(float)  # eight weeks
    fitted = hs.baseline_rates(counts, exposure=8.0, rank=2)
    big = rate > 2
    assert np.median(np.abs(fitted[big] / rate[big] - 1)) < 0.1


def test_windows_are_bonferroni_corrected():
    rng = np.random.default_rng(13)
    counts = rng.poisson(_city(rng)).astype(float)
    exposure = counts.sum(axis=(0, 1))
    # no episodes (continue_alpha=0), so each week's p-value is the windows' minimum times their number
    p1, p3, both = (hs.excess_alerts(counts, exposure, windows=w, continue_alpha=0.0).p_value for w in ((1,), (3,), (1, 3)))
    weeks = slice(5, None)  # both windows are tried from week 5 on (3 baseline weeks before a 3-week window)
    expected = np.minimum(1.0, 2 * np.minimum(p1[:, :, weeks], p3[:, :, weeks]))
    np.testing.assert_allclose(both[:, :, weeks], expected)


def test_an_open_alert_stays_open_while_the_week_is_still_above_its_old_baseline():
    rng = np.random.default_rng(17)
    counts = rng.poisson(_city(rng)).astype(float)
    # a cell-category at 2 a week jumps to 12 for two weeks (a discovery), then stays at 4:
    # 4 against 2 is a one-question test (p < 0.05) but no longer a discovery among 1,200 tests
    counts[3, 2, :] = [2, 2, 2, 2, 2, 2, 12, 12, 4, 4, 4, 4]
    res = hs.excess_alerts(counts, counts.sum(axis=(0, 1)))
    assert np.flatnonzero(res.confidence[3, 2] >= 95).tolist() == [6, 7, 8, 9, 10, 11]
    without = hs.excess_alerts(counts, counts.sum(axis=(0, 1)), continue_alpha=0.0)
    assert (without.confidence[3, 2, 10:] == 0).all()  # the week-by-week follow-up is what keeps it open
