"""What importing great-expectations leaves behind stays out of the garbage collector's way.

The import leaves some 300k objects. Every full collection walked them again (about 0.2 s,
one every second small refine), and the interpreter's collection at exit spent over a second
on them, in every fresh process that runs a gate (each Airflow task).
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, gc, weakref
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))  # registered first: runs last
from citybrain.quality.rules import _gx
before = gc.get_freeze_count()
_gx()
print("frozen by the import:", gc.get_freeze_count() - before)

class Node:
    pass

later = Node()
later.self = later  # a cycle made after the import: garbage only the collector frees
alive = weakref.ref(later)
del later
gc.collect()
print("later garbage collected:", alive() is None)
"""


def _run() -> str:
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=300).stdout


def _figure(out: str, label: str) -> str:
    return out.rsplit(label, 1)[1].split("\n", 1)[0].strip()


def test_the_objects_great_expectations_leaves_are_frozen_once_imported_and_at_exit():
    out = _run()
    assert int(_figure(out, "frozen by the import:")) > 100_000, out
    assert int(_figure(out, "frozen at exit:")) > 100_000, out
    assert _figure(out, "later garbage collected:") == "True", out
