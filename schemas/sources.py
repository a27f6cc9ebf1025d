"""Source mappings: how one department's drop files are read into its bronze table.

Each ``sources/<name>.toml`` says where the files are (glob), how to read them (format,
encodings in the order to try, where the drop date sits in the file name) and which
bronze column each field of the export lands in. Adding a department means adding a
mapping file, not job code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from citybrain.schemas.mapping import SilverMapping, parse_mapping

FORMATS = ("csv", "jsonl", "json_records", "geojson", "auto")  # auto: by file extension
_DIR = Path(__file__).parent / "sources"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    department: str
    description: str
    glob: str
    format: str
    encodings: tuple[str, ...]
    drop_date: re.Pattern | None  # where the drop date is in the file name; None = the ingest date
    columns: dict[str, tuple[str, ...]]  # bronze column -> accepted field names in the drop
    pii: dict[str, str]
    records_path: str = ""
    silver: SilverMapping | None = None
    delimiter: str = ","
    partition_by_day: bool = False  # bronze partitioned by drop date: only a source of ride-hailing volume (see BY_DAY)

    def field_lookup(self) -> dict[str, str]:
        """Drop field name -> bronze column."""
        return {alias: column for column, aliases in self.columns.items() for alias in aliases}


def _load(path: Path) -> SourceSpec:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    src = raw["source"]
    if src["format"] not in FORMATS:
        raise ValueError(f"{path.name}: format {src['format']!r} is not one of {FORMATS}")
    columns = {col: (names,) if isinstance(names, str) else tuple(names) for col, names in raw["columns"].items()}
    return SourceSpec(
        name=src["name"],
        department=src["department"],
        description=src["description"],
        glob=src["glob"],
        format=src["format"],
        encodings=tuple(src.get("encodings", ["utf-8"])),
        drop_date=re.compile(src["drop_date"]) if src.get("drop_date") else None,
        columns=columns,
        pii=dict(raw.get("pii", {})),
        records_path=src.get("records_path", ""),
        silver=parse_mapping(raw["silver"], src["name"]) if "silver" in raw else None,
        delimiter=src.get("delimiter", ","),
        partition_by_day=bool(src.get("partition_by_day", False)),
    )


@cache
def all_sources() -> dict[str, SourceSpec]:
    specs = [_load(p) for p in sorted(_DIR.glob("*.toml"))]
    return {s.name: s for s in specs}


def get_source(name: str) -> SourceSpec:
    sources = all_sources()
    if name not in sources:
        raise KeyError(f"unknown source {name!r}; known sources: {', '.join(sorted(sources))}")
    return sources[name]
