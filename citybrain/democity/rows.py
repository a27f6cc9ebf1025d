"""A source's rows kept as numbers until their drop file is written.

Formatting every row of a run as Python strings up front costs about 1 KB a row, and the
L benchmark (scale 30) draws ~20M ride orders: that does not fit in 24 GB. So a source
returns ``Rows``: the internal columns the dirt moves rows with (``_drop``, ``_event_day``,
``_ord``) and, per output column, a function that formats the values of any set of rows
from the compact arrays the source drew. The writer formats one drop file at a time.

The dirt changes a few values (a malformed time, coordinates far away); those are kept as
overrides keyed by source row, so a row's duplicates carry them as copies would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: source-row positions -> that column's values for those rows (a new array)
Column = Callable[[np.ndarray], np.ndarray]
CHUNK = 1 << 20  # rows formatted at once when a whole column is scanned


@dataclass
class Rows:
    """``frame``: ``_drop``, ``_event_day``, ``_ord`` of source row i at position i (a
    RangeIndex; the dirt takes it over); ``columns``: every output column's formatter;
    ``key``: the record key's formatter."""

    frame: pd.DataFrame | None
    columns: dict[str, Column]
    key: Column
    overrides: dict[str, dict[int, object]] = field(default_factory=dict)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = len(self.frame)

    def __len__(self) -> int:
        return self.size

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Values of column ``name`` at source rows ``rows``, with the dirt's changes."""
        rows = np.asarray(rows, dtype=np.int64)
        values = self.columns[name](rows)
        changed = self.overrides.get(name)
        if changed:
            at = np.flatnonzero(np.isin(rows, np.fromiter(changed, np.int64, len(changed))))
            for j in at.tolist():
                values[j] = changed[int(rows[j])]
        return values

    def nonempty(self, name: str) -> np.ndarray:
        """Which source rows have a non-empty value in ``name`` (scanned in chunks)."""
        n = len(self)
        return np.concatenate([self.column(name, np.arange(a, min(a + CHUNK, n))) != "" for a in range(0, n, CHUNK)] or [np.zeros(0, bool)])

    def render(self, rows: np.ndarray, names: list[str]) -> pd.DataFrame:
        """The string frame of the output columns ``names`` at source rows ``rows``."""
        return pd.DataFrame({c: self.column(c, rows) for c in names})

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Rows:
        """Rows over an already formatted frame with a ``_key`` column (small sources)."""
        cols = {c: _take(df[c].to_numpy()) for c in df.columns if not c.startswith("_")}
        return cls(df[["_drop", "_event_day", "_ord"]], cols, _take(df["_key"].to_numpy()))


def concat(parts: list[Rows]) -> Rows:
    """The rows of ``parts`` together, sorted by (_drop, _ord) as a stable sort would."""
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    order = np.lexsort((frame["_ord"].to_numpy(), frame["_drop"].to_numpy()))
    sizes = [len(p) for p in parts]
    which = np.repeat(np.arange(len(parts)), sizes)[order]
    local = (np.arange(len(frame)) - np.repeat(np.cumsum([0] + sizes[:-1]), sizes))[order]

    def gather(column_of: Callable[[Rows], Column]) -> Column:
        def column(rows: np.ndarray) -> np.ndarray:
            w, i = which[rows], local[rows]
            values = [column_of(p)(i[w == k]) for k, p in enumerate(parts)]
            out = np.empty(rows.size, dtype=np.result_type(*[v for v in values if v.size] or [object]))
            for k, v in enumerate(values):
                out[w == k] = v
            return out

        return column

    columns = {c: gather(lambda p, c=c: p.columns[c]) for c in parts[0].columns}
    return Rows(frame.iloc[order].reset_index(drop=True), columns, gather(lambda p: p.key))


def _take(values: np.ndarray) -> Column:
    return lambda rows: values[rows]


def internal_frame(drop: np.ndarray) -> pd.DataFrame:
    """The internal columns of rows in file order, each in the file of the day it happened;
    ``_ord`` numbers them from 0. Day indices are int32: 4 bytes a row where 8 add nothing."""
    drop = np.asarray(drop, dtype=np.int32)
    return pd.DataFrame({"_drop": drop, "_event_day": drop, "_ord": np.arange(drop.size, dtype=float)})
