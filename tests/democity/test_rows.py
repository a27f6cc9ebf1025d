"""Rows: the columns a source formats per drop file, with the dirt's overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd

from citybrain.democity import rows as rows_mod
from citybrain.democity.rows import Rows, concat


def _rows(values: list[str], drop: list[int], ord_from: int = 0) -> Rows:
    n = len(values)
    df = pd.DataFrame({"a": values, "_drop": drop, "_event_day": drop, "_ord": np.arange(ord_from, ord_from + n, dtype=float)})
    return Rows.from_frame(df.assign(_key=[f"k{v}" for v in values]))


def test_nonempty_scans_every_chunk(monkeypatch):
    monkeypatch.setattr(rows_mod, "CHUNK", 3)  # 7 rows: chunks of 3, 3 and 1
    r = _rows(["x", "", "y", "z", "", "w", "v"], [0] * 7)
    assert r.nonempty("a").tolist() == [True, False, True, True, False, True, True]


def test_overrides_follow_the_source_row_wherever_it_is_shown():
    r = _rows(["x", "y", "z"], [0, 0, 1])
    r.overrides["a"] = {1: "changed"}
    assert r.column("a", np.array([1, 0, 1, 2])).tolist() == ["changed", "x", "changed", "z"]
    assert r.render(np.array([2, 1]), ["a"])["a"].tolist() == ["z", "changed"]


def test_concat_sorts_by_file_then_order_and_keeps_each_part_s_values():
    daily = _rows(["d0", "d1", "d2"], [0, 1, 1])
    extra = _rows(["m0", "m1"], [0, 1], ord_from=3)  # appended after each day's own rows
    both = concat([daily, extra])
    assert both.frame["_drop"].tolist() == [0, 0, 1, 1, 1]
    assert both.column("a", np.arange(5)).tolist() == ["d0", "m0", "d1", "d2", "m1"]
    assert both.key(np.array([4, 1])).tolist() == ["km1", "km0"]
