"""Planted dirt: defects real department exports have, each recorded for truth/dirt.json.

A source's ``Rows`` carry the internal columns ``_drop`` (drop-day index of the file the
row goes to), ``_event_day`` (day the record happened) and ``_ord`` (order inside the
file). Defects move and copy rows of that frame, which gains ``_row`` (the source row a
row shows), and change values as overrides of the ``Rows``; the entries keep the row
label so that the file name is resolved after all rows have moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .rows import Rows


@dataclass(frozen=True)
class Spec:
    source: str
    time_col: str
    date_only: bool = False
    coords: tuple[str, str] | None = None
    numeric_coords: bool = False
    late: bool = False
    pii: tuple[str, ...] = ()


RATES = {
    "duplicate_in_file": 0.005,
    "duplicate_across_files": 0.003,
    "late_arriving": 0.01,
    "malformed_timestamp": 0.002,
    "coordinates_outside_city": 0.003,
}


def _count(n_eligible: int, rate: float) -> int:
    return min(n_eligible, max(1, int(round(rate * n_eligible)))) if n_eligible else 0


def _malformed(value: str, k: int, date_only: bool) -> str:
    """One of four malformed renderings of a 'YYYY-MM-DD[ HH:MM:SS]' value."""
    y, mo, d = int(value[0:4]), int(value[5:7]), int(value[8:10])
    if date_only:
        return [f"{y}/{mo}/{d}", f"{y}{mo:02d}{d:02d}", "9999-99-99", "N/A"][k]
    hh, mm = int(value[11:13]), int(value[14:16])
    return [f"{y}/{mo}/{d} {hh}:{mm:02d}", value.replace("-", "").replace(" ", "").replace(":", ""), "9999-99-99 25:61:00", "N/A"][k]


class Dirt:
    def __init__(self, rng: np.random.Generator, spec: Spec, days: int):
        self.rng, self.spec, self.days = rng, spec, days
        self.entries: list[tuple[str, int, object]] = []  # (kind, row label, detail)

    def apply(self, rows: Rows) -> pd.DataFrame:
        """The internal frame of the rows to write, sorted by file and order; ``_row`` names
        the source row each shows. Takes ``rows.frame`` over; value changes go to
        ``rows.overrides``."""
        df, rows.frame = rows.frame, None
        df["_row"] = np.arange(len(df), dtype=np.int64)
        dirty = np.zeros(len(df), bool)
        if self.spec.late:
            dirty |= self._late(df)
        self._malformed(rows, dirty)
        if self.spec.coords:
            self._outside(rows, dirty)
        df = self._dup_across(df)
        df = self._dup_in_file(df)
        order = np.lexsort((df["_ord"].to_numpy(), df["_drop"].to_numpy()))  # a stable sort by (_drop, _ord)
        self._position = np.empty(len(df), dtype=np.int64)  # of each label in the sorted frame
        self._position[order] = np.arange(len(df))
        return df.take(order)

    def at(self, df: pd.DataFrame, column: str, labels) -> np.ndarray:
        """``df[column]`` at row labels of the frame ``apply`` returned (no label index is built)."""
        return df[column].to_numpy()[self._position[np.asarray(labels, dtype=np.int64)]]

    def _choose(self, eligible: np.ndarray, kind: str) -> np.ndarray:
        idx = np.flatnonzero(eligible)
        k = _count(idx.size, RATES[kind])
        return np.sort(self.rng.choice(idx, size=k, replace=False)) if k else idx[:0]

    def _late(self, df: pd.DataFrame) -> np.ndarray:
        lag = self.rng.integers(2, 6, len(df))
        ok = (df["_event_day"].to_numpy() + lag) < self.days
        pick = self._choose(ok, "late_arriving")
        df.loc[pick, "_drop"] = (df["_event_day"].to_numpy()[pick] + lag[pick]).astype(df["_drop"].dtype)
        df.loc[pick, "_ord"] = 1e9 + df["_ord"].to_numpy()[pick]
        for i in pick:
            self.entries.append(("late_arriving", int(i), {"event_day_offset": -int(lag[i]), "column": self.spec.time_col}))
        out = np.zeros(len(df), bool)
        out[pick] = True
        return out

    def _malformed(self, rows: Rows, dirty: np.ndarray) -> None:
        col = self.spec.time_col
        pick = self._choose(~dirty & rows.nonempty(col), "malformed_timestamp")
        forms = self.rng.integers(0, 4, pick.size)
        changed = rows.overrides.setdefault(col, {})
        for i, k, value in zip(pick.tolist(), forms.tolist(), rows.column(col, pick).tolist(), strict=False):
            bad = _malformed(value, k, self.spec.date_only)
            changed[i] = bad
            self.entries.append(("malformed_timestamp", i, {"column": col, "value": bad}))
        dirty[pick] = True

    def _outside(self, rows: Rows, dirty: np.ndarray) -> None:
        cx, cy = self.spec.coords
        has = rows.nonempty(cx) if not self.spec.numeric_coords else np.ones(len(rows), bool)
        pick = self._choose(~dirty & has, "coordinates_outside_city")
        modes = self.rng.integers(0, 3, pick.size)
        xs, ys = rows.column(cx, pick).tolist(), rows.column(cy, pick).tolist()
        new_x, new_y = rows.overrides.setdefault(cx, {}), rows.overrides.setdefault(cy, {})
        for i, m, x, y in zip(pick.tolist(), modes.tolist(), xs, ys, strict=False):
            lon, lat = float(x), float(y)
            new, how = {0: ((0.0, 0.0), "zero"), 1: ((lat, lon), "swapped"), 2: ((lon + 3.2, lat + 0.1), "300km_away")}[m]
            if self.spec.numeric_coords:
                new_x[i], new_y[i] = round(new[0], 6), round(new[1], 6)
            else:
                new_x[i], new_y[i] = f"{new[0]:.6f}", f"{new[1]:.6f}"
            self.entries.append(("coordinates_outside_city", i, {"how": how, "lon": round(new[0], 6), "lat": round(new[1], 6)}))
        dirty[pick] = True

    def _dup_across(self, df: pd.DataFrame) -> pd.DataFrame:
        pick = self._choose(df["_drop"].to_numpy() < self.days - 1, "duplicate_across_files")
        cp = df.loc[pick].copy()
        cp["_drop"] += 1
        cp["_ord"] = -1e9 + cp["_ord"]
        start = len(df)
        df = pd.concat([df, cp], ignore_index=True)
        for j, i in enumerate(pick.tolist()):
            self.entries.append(("duplicate_across_files", start + j, {"first_sent_in_row_of": int(i)}))
        return df

    def _dup_in_file(self, df: pd.DataFrame) -> pd.DataFrame:
        pick = self._choose(np.ones(len(df), bool), "duplicate_in_file")
        cp = df.loc[pick].copy()
        cp["_ord"] = cp["_ord"] + 0.5
        start = len(df)
        df = pd.concat([df, cp], ignore_index=True)
        for j in range(pick.size):
            self.entries.append(("duplicate_in_file", start + j, {"copies": 2}))
        return df

    def resolve(self, df: pd.DataFrame, rows: Rows, file_of_day) -> list[dict]:
        """Entries with file and key, given the final frame (labels unchanged since apply)."""
        labels = np.array([i for _, i, _ in self.entries], dtype=np.int64)
        first = [d["first_sent_in_row_of"] for kind, _, d in self.entries if kind == "duplicate_across_files"]
        drop = self.at(df, "_drop", labels).tolist()
        key = rows.key(self.at(df, "_row", labels)).tolist()
        previous = iter(self.at(df, "_drop", first).tolist())
        out = []
        for (kind, _i, detail), d, k in zip(self.entries, drop, key, strict=True):
            if kind == "duplicate_across_files":
                detail = {"previous_file": file_of_day(int(next(previous)))}
            out.append({"kind": kind, "source": self.spec.source, "file": file_of_day(int(d)), "key": str(k), "detail": detail})
        return out
