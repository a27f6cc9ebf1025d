"""CityBrain benchmark: ``citybrain bench`` (see ``citybrain bench --help``), kept here for ``make bench``.

    .venv/bin/python infra/bench.py [--size S|M|L] [--stages bronze silver gold] [--keep DIR] [--markdown FILE]

Every stage (bronze per source, silver per entity, each gold table) timed beside its
hand-written DuckDB reference; figures are printed, not asserted (see BENCHMARKS.md).
"""

from __future__ import annotations

import sys

from citybrain.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
