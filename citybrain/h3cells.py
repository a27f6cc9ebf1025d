"""Points to H3 cells over whole arrays: the one place records get their cells.

h3-py places one point per call. h3ronpy (H3 through the h3o library) places a whole array
in one call: on 544,176 drop-offs it took 0.27 s against h3-py's 0.63 s, strings included,
with the same cells (``tests/core/test_h3cells.py`` compares the two). Everything done per cell
rather than per record (boundaries, disks, grid centroids) stays with h3-py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def cells(lat, lon, resolution: int) -> pa.Array:
    """The H3 cell (``string``) of each point at ``resolution``; null where a coordinate is
    missing, not finite, or off the globe (|lat| > 90 or |lon| > 180)."""
    from h3ronpy import cells_to_string
    from h3ronpy.vector import coordinates_to_cells

    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    placed = pa.array(cells_to_string(coordinates_to_cells(lat[ok], lon[ok], resolution))).cast(pa.string())
    if ok.all():
        return placed
    position = np.cumsum(ok) - 1  # each placed point's row in ``placed``
    return placed.take(pa.array(position, mask=~ok))
