"""The ``[silver]`` section of a source mapping: how bronze text becomes a silver entity.

Each silver field is written ``kind:argument``:

    id:<bronze column>          an identifier, trimmed; a record whose identifier holds anything but
                                letters, digits and _.:/- or is longer than 64 is quarantined
    text:<bronze column>        a short label (category, unit, status, place name): trimmed, empty ->
                                null, and scrubbed like free text, so that a phone cannot hide in it
    timestamp:<bronze column>   local time in the mapping's timezone, any of its formats -> UTC instant
                                (a|b: the first of the columns that holds one)
    double:<bronze column>      number, unparsable -> null
    int:<bronze column>
    bool:<bronze column>        true/1/yes/是/y -> true, false/0/no/否/n -> false
    code:<bronze column>        looked up in [silver.codes.<silver field>]; unknown -> null
    const:<value>               the same text on every row
    sql:<expression>            any Spark SQL expression over bronze columns
    token:<bronze column>       keyed HMAC token (citybrain.privacy)
    mask_phone:<bronze column>  138****1234
    mask_name:<bronze column>   张**
    scrub:<bronze column>       free text with personal data replaced by placeholders

so a new department or city needs a mapping, not code. ``jobs/silver/mapping.py``
compiles it to Spark columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("id", "text", "timestamp", "double", "int", "bool", "code", "const", "sql", "token", "mask_phone", "mask_name", "scrub")
TRUE_WORDS = ("true", "1", "yes", "y", "是", "t")
FALSE_WORDS = ("false", "0", "no", "n", "否", "f")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    argument: str

    @property
    def bronze_column(self) -> str | None:
        """The bronze column the field reads, when it reads exactly one."""
        return None if self.kind in ("const", "sql") else self.argument.split("|")[0]


@dataclass(frozen=True)
class SilverMapping:
    entity: str
    fields: tuple[FieldSpec, ...]
    key: tuple[str, ...]
    version: str
    timezone: str = "UTC"
    crs: str = "wgs84"
    timestamp_formats: tuple[str, ...] = ("yyyy-MM-dd HH:mm:ss",)
    required: tuple[str, ...] = ()
    locate: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)
    history: str | None = None
    partition_time: str | None = None  # silver field whose local date is the dt partition
    rules: tuple[dict, ...] = ()  # hand-written row rules: name, valid_when, reason, measured
    registry: bool = True  # False: the city has no grid registry here; locate on H3 and the bbox only
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat (with registry=False)
    derived: tuple[str, ...] = ()  # silver tables rebuilt from the refined rows (citybrain.jobs.silver.refine.DERIVED)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Every silver table a refine of this mapping writes (its DAG's Asset outlets)."""
        history = (f"silver.{self.history}",) if self.history else ()
        return (f"silver.{self.entity}", *history, *(f"silver.{d}" for d in self.derived))

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"mapping for {self.entity} has no field {name!r}")


def parse_mapping(raw: dict, source: str) -> SilverMapping:
    fields = []
    for name, text in raw.get("fields", {}).items():
        kind, sep, argument = str(text).partition(":")
        if not sep or kind not in KINDS:
            raise ValueError(f"mapping {source}: field {name} = {text!r} must be kind:argument with kind one of {', '.join(KINDS)}")
        if kind == "code" and name not in raw.get("codes", {}):
            raise ValueError(f"mapping {source}: field {name} is a code but [silver.codes.{name}] is missing")
        fields.append(FieldSpec(name, kind, argument))
    names = {f.name for f in fields}
    mapping = SilverMapping(
        entity=raw["entity"],
        fields=tuple(fields),
        key=tuple(raw["key"]),
        version=raw["version"],
        timezone=raw.get("timezone", "UTC"),
        crs=raw.get("crs", "wgs84"),
        timestamp_formats=tuple(raw.get("timestamp_formats", ["yyyy-MM-dd HH:mm:ss"])),
        required=tuple(raw.get("required", [])),
        locate=dict(raw.get("locate", {})),
        codes={k: dict(v) for k, v in raw.get("codes", {}).items()},
        history=raw.get("history"),
        partition_time=raw.get("partition_time"),
        rules=tuple(dict(r) for r in raw.get("rules", [])),
        registry=bool(raw.get("registry", True)),
        bbox=tuple(raw["bbox"]) if "bbox" in raw else None,
        derived=tuple(raw.get("derived", [])),
    )
    for rule in mapping.rules:
        missing = {"name", "valid_when", "reason", "measured"} - set(rule)
        if missing:
            raise ValueError(f"mapping {source}: rule {rule.get('name', '?')} lacks {sorted(missing)}")
    if not mapping.registry and mapping.locate and mapping.bbox is None:
        raise ValueError(f"mapping {source}: registry = false needs a bbox to tell impossible coordinates")
    unknown = [n for n in (*mapping.key, mapping.version, *mapping.required, *mapping.locate.values()) if n not in names]
    if mapping.partition_time and mapping.partition_time not in names:
        unknown.append(mapping.partition_time)
    if unknown:
        raise ValueError(f"mapping {source}: key/version/required/locate/partition_time name fields it does not define: {unknown}")
    return mapping
