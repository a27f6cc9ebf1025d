"""Statistics behind gold.complaint_hotspots, on the small weekly cube Spark aggregates.

The cube is counts[cell, category, week] for one hotline (a few hundred cells x a few
dozen categories x the weeks of the run): it does not grow with the number of tickets,
so it is computed here with numpy, scipy and scikit-learn after Spark has aggregated it.

Two statistics, for two purposes:

* **Alerts** (is something unusual happening in this cell and category?): a per-cell,
  per-category excess test. The expected count comes from a baseline of the weeks before
  the tested window: a rank-``r`` Poisson matrix factorisation (scikit-learn NMF with the
  Kullback-Leibler loss) of the baseline cell x category counts says what a cell of that
  size and mix (residential, commercial, ...) should see in each category; the cell's own
  history in the category is added to it as a Gamma-Poisson posterior, so the predictive
  distribution of the window's count is negative binomial and its uncertainty is honest.
  Windows of 1 and 3 weeks catch sharp and slow rises (Bonferroni over the windows), and
  Benjamini-Hochberg controls the false discovery rate across all cells and categories of
  the week. While a cell-category stays alerted, the weeks of its episode are kept out of
  its own baseline, so a persistent hotspot stays flagged instead of becoming the norm.
* **The map** (where do unusual complaints cluster?): Getis-Ord Gi* over each cell's
  k-ring on the expected-adjusted excess (count - expected) / sqrt(expected), not on raw
  counts (raw counts mostly show where people live), with BH-FDR per week and category and
  hot/cold classes at 90/95/99 % confidence, and a Mann-Kendall trend of each cell's Gi*
  series for the emerging-hotspot categories.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

CONFIDENCE_LEVELS = (0.90, 0.95, 0.99)
TRENDS = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")


@dataclass(frozen=True)
class AlertResult:
    expected: np.ndarray  # [cell, cat, week] expected count of the week itself (1-week window), nan before burn-in
    p_value: np.ndarray  # [cell, cat, week] excess p-value, Bonferroni-adjusted over the windows tried (1 = not tested)
    window: np.ndarray  # [cell, cat, week] length in weeks of the window with the smallest p (0 = not tested)
    confidence: np.ndarray  # [cell, cat, week] highest of 90/95/99 at which BH rejects (0 = none)


@dataclass(frozen=True)
class EarlierAlerts:
    """What ``excess_alerts`` found in weeks already built: [cell, cat, week] up to the first week to test."""

    alerted: np.ndarray  # bool: confidence at or above the alert level
    window: np.ndarray  # int: the alert's window in weeks (any value where not alerted)


def baseline_rates(counts: np.ndarray, exposure: float, rank: int) -> np.ndarray:
    """Expected count per unit of exposure for every (cell, category) from a low-rank Poisson fit.

    ``counts`` is the baseline cell x category matrix. The fit is scikit-learn's NMF with
    the Kullback-Leibler loss, which is the Poisson maximum-likelihood factorisation: each
    cell is a mix of ``rank`` city-wide category profiles.
    """
    from sklearn.decomposition import NMF

    total = counts.sum()
    if total <= 0:
        return np.zeros_like(counts, dtype=float)
    rank = max(1, min(rank, *counts.shape))
    model = NMF(n_components=rank, beta_loss="kullback-leibler", solver="mu", init="nndsvda", max_iter=400, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny baselines
        loadings = model.fit_transform(counts + 1e-9)
    fitted = loadings @ model.components_
    # a category never seen in a cell keeps a small rate: 1 % of what the cell's size (one
    # complaint at least) and the city's mix imply
    floor = 0.01 * np.outer(counts.sum(1) + 1.0, counts.sum(0)) / total
    return np.maximum(fitted, floor) / exposure


def _nb_mid_p(observed: np.ndarray, shape: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Upper-tail mid-p value of a negative binomial: P(Y > y) + P(Y = y) / 2."""
    return stats.nbinom.sf(observed, shape, prob) + 0.5 * stats.nbinom.pmf(observed, shape, prob)


def bh_reject(p_values: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg: which of ``p_values`` (1-d) are discoveries at false discovery rate ``q``."""
    p = np.asarray(p_values, dtype=float)
    n = p.size
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, n + 1) / n
    if passed.any():
        out[order[: np.flatnonzero(passed).max() + 1]] = True
    return out


def confidence_classes(p_values: np.ndarray, tested: np.ndarray) -> np.ndarray:
    """Highest confidence (90/95/99) at which BH-FDR keeps each tested p-value; 0 otherwise."""
    out = np.zeros(p_values.shape, dtype=int)
    flat_p, flat_t = p_values.ravel(), tested.ravel()
    result = out.ravel()
    for level in CONFIDENCE_LEVELS:
        keep = np.zeros(flat_p.size, dtype=bool)
        keep[flat_t] = bh_reject(flat_p[flat_t], 1.0 - level)
        result[keep] = round(level * 100)
    return result.reshape(p_values.shape)


def excess_alerts(
    counts: np.ndarray,
    exposure: np.ndarray,
    *,
    windows: tuple[int, ...] = (1, 3),
    baseline_weeks: int = 8,
    min_baseline_weeks: int = 3,
    rank: int = 2,
    prior_weeks: float = 16.0,
    continue_alpha: float = 0.05,
    min_count: int = 5,
    q: float = 0.05,
    first_week: int = 0,
    earlier: EarlierAlerts | None = None,
) -> AlertResult:
    """Excess alerts for counts[cell, category, week], given each week's exposure.

    ``exposure`` is the hotline's city-wide total per week (it carries holidays, partial
    weeks and growth). A window of ``L`` weeks ending at week ``w`` is compared with the
    ``baseline_weeks`` before it (at least ``min_baseline_weeks``); the low-rank fit counts
    as ``prior_weeks`` weeks of evidence beside the cell-category's own baseline counts.

    A new alert must pass Benjamini-Hochberg over every cell and category of the week (a
    discovery among thousands of tests). An alert that is already open is one question,
    not thousands: it stays open while the week's count is still above the cell-category's
    pre-episode baseline at ``continue_alpha`` (its confidence then comes from that p-value).
    A window with fewer than ``min_count`` complaints is not a cluster worth a visit and is
    not tested: a rare category going from 0 to 2 is too often chance among thousands of tests.
    ``q`` is the false discovery rate of an alert (0.10, 0.05 or 0.01: 90, 95 or 99 %).

    ``first_week`` > 0 tests only the weeks from it on (an incremental build: the weeks before
    are kept). ``earlier`` then gives what those weeks were found, which is all a week carries
    to the next: which cell-categories were alerted and the window of their alert, from which
    the open episodes are followed up to ``first_week``. The result holds the defaults (nan,
    1, 0, 0) before ``first_week``; from it on it equals a run over every week.
    """
    alert_level = round((1 - q) * 100)
    if alert_level not in {round(c * 100) for c in CONFIDENCE_LEVELS}:
        raise ValueError(f"alert false discovery rate {q} must be one of 0.10, 0.05, 0.01")
    n_cells, n_cats, n_weeks = counts.shape
    expected = np.full(counts.shape, np.nan)
    p_out = np.ones(counts.shape)
    window_out = np.zeros(counts.shape, dtype=int)
    episode_start = np.full((n_cells, n_cats), -1)  # first week of the current alert episode's window, -1 = none
    fits: dict[tuple[int, int], np.ndarray] = {}
    confidence = np.zeros(counts.shape, dtype=int)
    seen = np.cumsum(counts, axis=2) > 0
    if first_week and earlier is None:
        raise ValueError("excess_alerts from a later week needs the earlier weeks' alerts")
    for week in range(first_week):  # the kept weeks: only the episodes they leave open
        episode_start = _episode_after(episode_start, earlier.alerted[:, :, week], week - earlier.window[:, :, week] + 1)
    for week in range(first_week, n_weeks):
        best = np.ones((n_cells, n_cats))
        best_window = np.zeros((n_cells, n_cats), dtype=int)
        tried = 0
        for length in windows:
            start = week - length + 1
            if start < min_baseline_weeks:
                continue
            tried += 1
            b0 = max(0, start - baseline_weeks)
            key = (b0, start)
            if key not in fits:
                fits[key] = baseline_rates(counts[:, :, b0:start].sum(2), exposure[b0:start].sum(), rank)
            rate = fits[key]
            # the cell-category's own baseline, without the weeks of an ongoing episode
            own_weeks = np.arange(b0, start)
            clean = (episode_start[:, :, None] < 0) | (own_weeks[None, None, :] < episode_start[:, :, None])
            own_counts = (counts[:, :, b0:start] * clean).sum(2)
            own_exposure = (exposure[b0:start][None, None, :] * clean).sum(2)
            week_exposure = exposure[b0:start].mean()
            shape = prior_weeks * week_exposure * rate + own_counts
            scale = prior_weeks * week_exposure + own_exposure
            window_exposure = exposure[start : week + 1].sum()
            observed = counts[:, :, start : week + 1].sum(2)
            p = np.where(observed >= min_count, _nb_mid_p(observed, shape, scale / (scale + window_exposure)), 1.0)
            better = p < best
            best = np.where(better, p, best)
            best_window = np.where(better, length, best_window)
            if length == 1:
                expected[:, :, week] = shape / scale * exposure[week]
        if tried:
            p_week = np.minimum(1.0, best * tried)
            tested = seen[:, :, week]
            p_out[:, :, week] = np.where(tested, p_week, 1.0)
            window_out[:, :, week] = np.where(tested, best_window, 0)
            confidence[:, :, week] = confidence_classes(p_out[:, :, week], tested)
        open_episode = episode_start >= 0
        if open_episode.any():
            b0 = np.maximum(0, episode_start - baseline_weeks)
            p_go_on = _episode_p(counts, exposure, episode_start, b0, week, prior_weeks, fits, rank, open_episode)
            go_on = open_episode & (p_go_on < continue_alpha)
            level = np.select([p_go_on < 0.01, p_go_on < 0.05, p_go_on < 0.10], [99, 95, 90], 0)
            confidence[:, :, week] = np.where(go_on, np.maximum(confidence[:, :, week], level), confidence[:, :, week])
            p_out[:, :, week] = np.where(go_on, np.minimum(p_out[:, :, week], p_go_on), p_out[:, :, week])
            window_out[:, :, week] = np.where(go_on & (window_out[:, :, week] == 0), 1, window_out[:, :, week])
        episode_start = _episode_after(episode_start, confidence[:, :, week] >= alert_level, week - window_out[:, :, week] + 1)
    return AlertResult(expected=expected, p_value=p_out, window=window_out, confidence=confidence)


def _episode_after(episode_start: np.ndarray, alerted: np.ndarray, window_start: np.ndarray) -> np.ndarray:
    """The first week of each open episode once a week is judged: an alert opens one at its window's
    start or extends the one open (to the earlier start), a week without alert closes it (-1)."""
    return np.where(alerted, np.where(episode_start >= 0, np.minimum(episode_start, window_start), window_start), -1)


def _episode_p(counts, exposure, episode_start, b0, week, prior_weeks, fits, rank, which) -> np.ndarray:
    """P-value of each open episode's count this week against its own pre-episode baseline."""
    p = np.ones(which.shape)
    for start, first in {(int(s), int(b)) for s, b in zip(episode_start[which], b0[which], strict=True)}:
        if start <= first:
            continue
        cells = which & (episode_start == start) & (b0 == first)
        key = (first, start)
        if key not in fits:
            fits[key] = baseline_rates(counts[:, :, first:start].sum(2), exposure[first:start].sum(), rank)
        week_exposure = exposure[first:start].mean()
        shape = prior_weeks * week_exposure * fits[key] + counts[:, :, first:start].sum(2)
        scale = prior_weeks * week_exposure + exposure[first:start].sum()
        p = np.where(cells, _nb_mid_p(counts[:, :, week], shape, scale / (scale + exposure[week])), p)
    return p


def forecast_next_week(
    counts: np.ndarray, exposure: np.ndarray, baseline_weeks: int, rank: int, prior_weeks: float, first_week: int = 0
) -> np.ndarray:
    """Expected count of the week after each week, per [cell, category, week].

    The same Gamma-Poisson blend as the alerts (low-rank city-wide fit plus the cell's own
    counts) over the last ``baseline_weeks`` weeks up to and including the week, scaled to
    that week's exposure (next week's city total is not known yet; it scales every cell
    alike, so it does not change a ranking). Each week stands alone: ``first_week`` leaves the
    earlier weeks at 0 (an incremental build keeps them).
    """
    out = np.zeros(counts.shape)
    for week in range(first_week, counts.shape[2]):
        b0 = max(0, week + 1 - baseline_weeks)
        own = counts[:, :, b0 : week + 1].sum(2)
        exp_b = exposure[b0 : week + 1].sum()
        if exp_b <= 0:
            continue
        week_exposure = exp_b / (week + 1 - b0)
        rate = baseline_rates(own, exp_b, rank)
        posterior = (prior_weeks * week_exposure * rate + own) / (prior_weeks * week_exposure + exp_b)
        out[:, :, week] = posterior * exposure[week]
    return out


def ring_weights(cells: list[str], k: int) -> sparse.csr_matrix:
    """Binary Gi* weights: w_ij = 1 when cell j is within ``k`` rings of cell i (itself included)."""
    import h3

    index = {c: i for i, c in enumerate(cells)}
    rows, cols = [], []
    for i, cell in enumerate(cells):
        for other in h3.grid_disk(cell, k):
            j = index.get(other)
            if j is not None:
                rows.append(i)
                cols.append(j)
    data = np.ones(len(rows))
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(cells), len(cells)))


def gi_star(values: np.ndarray, weights: sparse.csr_matrix) -> np.ndarray:
    """Getis-Ord Gi* z-scores of ``values`` [cell, series] (Ord & Getis 1995, self included).

    Vectorised over many series at once (every category and week in one matrix product);
    it equals esda.G_Local(star=True, transform="B").Zs, which the tests check.
    """
    x = np.asarray(values, dtype=float)
    n = x.shape[0]
    mean = x.mean(axis=0)
    sd = np.sqrt((x**2).mean(axis=0) - mean**2)
    w_sum = np.asarray(weights.sum(axis=1)).ravel()
    w_sq = np.asarray(weights.multiply(weights).sum(axis=1)).ravel()
    lag = weights @ x
    denominator = sd[None, :] * np.sqrt((n * w_sq - w_sum**2) / (n - 1))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean[None, :] * w_sum[:, None]) / denominator
    return np.where(np.isfinite(z), z, 0.0)


def gi_classes(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values of Gi* z-scores [cell, series] and hot/cold classes per series.

    The class is +3/+2/+1 (hot at 99/95/90 %), -1/-2/-3 (cold) or 0, at the highest
    confidence where Benjamini-Hochberg over the series' cells keeps the cell.
    """
    p = 2 * stats.norm.sf(np.abs(z))
    classes = np.zeros(z.shape, dtype=int)
    for s in range(z.shape[1]):
        level = confidence_classes(p[:, s], np.ones(z.shape[0], dtype=bool))
        rank = np.select([level == 99, level == 95, level == 90], [3, 2, 1], 0)
        classes[:, s] = np.sign(z[:, s]).astype(int) * rank
    return p, classes


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall trend test of each row of ``series`` [n_series, n_time]; NaNs are left out.

    Returns (S, z, two-sided p). Written out because it runs on every cell, category and
    week at once (hundreds of thousands of short series); the tests compare it with scipy's
    Kendall tau against time.
    """
    x = np.asarray(series, dtype=float)
    valid = ~np.isnan(x)
    diff = x[:, None, :] - x[:, :, None]  # [s, i, j] = x_j - x_i
    both = valid[:, None, :] & valid[:, :, None]
    upper = np.triu(np.ones((x.shape[1], x.shape[1]), dtype=bool), 1)[None]
    s = np.where(both & upper, np.sign(np.nan_to_num(diff)), 0).sum(axis=(1, 2))
    n = valid.sum(axis=1)
    var = n * (n - 1) * (2 * n + 5) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    return s, z, 2 * stats.norm.sf(np.abs(z))


def emerging_trend(hot: np.ndarray, z: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Emerging-hotspot category of each series from its last weeks (ArcGIS-style, simplified).

    ``hot`` [series, weeks] says whether the cell was hot (Gi* class >= 2) each week, ``z``
    its Gi* z-scores; the last column is the current week. Categories:
    new (hot now, never before), intensifying (hot now, hot in at least half the weeks,
    Gi* rising significantly), persistent (hot in at least 90 % of the weeks, no
    significant trend), diminishing (hot in at least half the weeks, Gi* falling
    significantly), sporadic (hot now and in some earlier weeks, none of the above), none.
    Returns (category, Mann-Kendall z, p).
    """
    _, mk_z, mk_p = mann_kendall(z)
    now = hot[:, -1]
    earlier = hot[:, :-1].sum(axis=1)
    share = hot.mean(axis=1)
    rising = (mk_p < alpha) & (mk_z > 0)
    falling = (mk_p < alpha) & (mk_z < 0)
    category = np.select(
        [
            now & (earlier == 0),
            now & (share >= 0.5) & rising,
            (share >= 0.9) & ~rising & ~falling,
            (share >= 0.5) & falling,
            now & (earlier > 0),
        ],
        ["new", "intensifying", "persistent", "diminishing", "sporadic"],
        "none",
    )
    return category, mk_z, mk_p
