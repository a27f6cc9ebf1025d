"""Vectorised point-to-cell gives h3-py's cells, and null exactly where a point has none."""

import h3
import numpy as np
import pyarrow as pa
import pytest

from citybrain import h3cells


@pytest.mark.parametrize("resolution", [7, 8, 9, 15])
def test_cells_are_h3_pys_cells(resolution):
    rng = np.random.default_rng(resolution)
    lat = np.concatenate([rng.uniform(-89.9, 89.9, 5_000), rng.uniform(31.9, 32.2, 5_000)])
    lon = np.concatenate([rng.uniform(-179.9, 179.9, 5_000), rng.uniform(118.6, 119.0, 5_000)])
    expected = [h3.latlng_to_cell(a, b, resolution) for a, b in zip(lat.tolist(), lon.tolist(), strict=True)]
    out = h3cells.cells(lat, lon, resolution)
    assert out.type == pa.string()
    assert out.to_pylist() == expected


def test_a_point_without_a_cell_is_null_and_the_others_keep_their_rows():
    lat = [32.05, np.nan, 32.06, 91.0, 32.07, -32.0, np.inf]
    lon = [118.78, 118.78, np.nan, 118.78, 181.0, -180.0, 118.78]
    out = h3cells.cells(lat, lon, 8).to_pylist()
    assert out == [h3.latlng_to_cell(32.05, 118.78, 8), None, None, None, None, h3.latlng_to_cell(-32.0, -180.0, 8), None]


def test_no_point_at_all():
    assert h3cells.cells([], [], 8).to_pylist() == []
    assert h3cells.cells([np.nan], [1.0], 8).to_pylist() == [None]


def test_the_silver_reference_gets_every_resolution_per_point_and_null_for_a_missing_one():
    from citybrain.bench.duck import _h3_cells

    lon = pa.array([118.78, None, 118.70])
    lat = pa.array([32.05, 32.0, 32.01])
    out = _h3_cells(lon, lat).to_pylist()
    assert out == [
        [h3.latlng_to_cell(32.05, 118.78, r) for r in (7, 8, 9)],
        None,
        [h3.latlng_to_cell(32.01, 118.70, r) for r in (7, 8, 9)],
    ]
