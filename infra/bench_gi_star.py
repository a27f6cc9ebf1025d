"""Gi* two ways on the same series: the job's sparse-matrix form and esda.G_Local.

    .venv/bin/python infra/bench_gi_star.py

Times 600 series (50 categories x 12 weeks) at H3 resolution 8 (271 cells) and 9
(1,657 cells). esda with 999 permutations is timed on 20 series and scaled up. The
figures are printed, not asserted; tests/models/test_hotspot_stats.py checks both agree.
"""

from __future__ import annotations

import time
import warnings

import h3
import numpy as np
from esda import G_Local
from libpysal.weights import W

from citybrain.models import hotspot_stats as hs


def main() -> None:
    warnings.filterwarnings("ignore")
    for res, k in ((8, 9), (9, 23)):
        cells = sorted(h3.grid_disk(h3.latlng_to_cell(32.05, 118.78, res), k))
        x = np.random.default_rng(0).normal(size=(len(cells), 50 * 12))
        weights = hs.ring_weights(cells, 1)
        t = time.perf_counter()
        hs.gi_star(x, weights)
        ours = time.perf_counter() - t
        w = W({i: [j for j in weights[i].indices if j != i] for i in range(len(cells))}, silence_warnings=True)
        t = time.perf_counter()
        for s in range(20):
            G_Local(x[:, s], w, transform="B", star=True, permutations=999, n_jobs=1)
        permuted = (time.perf_counter() - t) / 20 * x.shape[1]
        t = time.perf_counter()
        for s in range(50):
            G_Local(x[:, s], w, transform="B", star=True, permutations=0)
        analytic = (time.perf_counter() - t) / 50 * x.shape[1]
        print(
            f"res {res}: {len(cells)} cells x {x.shape[1]} series: numpy sparse {ours:.3f} s; "
            f"esda analytic {analytic:.1f} s; esda 999 permutations {permuted:.0f} s (scaled from 20 series)"
        )


if __name__ == "__main__":
    main()
