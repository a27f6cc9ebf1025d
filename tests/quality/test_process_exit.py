"""A process that imported great-expectations leaves its objects to the OS at exit.

The interpreter's garbage collection at exit otherwise spends over a second on the objects
the import leaves behind, in every fresh process that runs a gate (each Airflow task).
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))  # registered first: runs last
from citybrain.quality.rules import _gx
_gx()
"""


def test_the_objects_great_expectations_leaves_are_frozen_at_exit():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300).stdout
    frozen = int(out.rsplit("frozen at exit:", 1)[1])
    assert frozen > 100_000, out
