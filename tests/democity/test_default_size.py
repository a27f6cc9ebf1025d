"""The default demo city (84 days, scale 1) has the volumes the README states.

Its generation time is measured by `make bench` (infra/bench.py), not asserted here.
"""

from __future__ import annotations

import pytest

from citybrain.democity import generate


@pytest.mark.slow
def test_default_size_has_the_stated_volumes(tmp_path):
    m = generate(tmp_path)
    rows = {s: v["rows"] / m["days"] for s, v in m["sources"].items()}
    assert 7_000 <= rows["ridehailing"] <= 9_500
    assert 200 <= rows["police"] <= 300
    assert 15 <= rows["petitions"] <= 25
    assert 900 <= rows["hotline"] <= 1_300  # ~560 tickets/day plus their status-change rows
