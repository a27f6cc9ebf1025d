"""Table contracts: the one description of a table that jobs, checks, docs and dashboards read.

A contract names the table (``layer.table``), its columns with types, nullability and
PII tags, its keys, partitioning and grain. Every write goes through ``Contract.check``,
which rejects a DataFrame with a missing, extra or wrongly typed column before anything
is written (Sail silently drops unknown columns on a schema-merging save, so the
contract is what stops that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

# Spark SQL type names a contract may use, with their Arrow equivalents (for staging files).
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

#: Partitioning by day, the one rule every contract follows: a table is partitioned by day (its
#: ``dt`` column) where a day's work would otherwise read or rewrite its whole history.
#: - By size: one day of it holds about a MiB or more at the default demo city, so ten times
#:   or more at ten times that city: the ride-hailing tables (bronze.ridehailing 0.9 MiB a
#:   day, silver.ride_trip 2.5 MiB a day; the next largest, bronze.hotline, is 0.15).
#: - By updates: a refine MERGEs each day's new versions into it, updating rows of earlier
#:   days, and the table holds a MiB or more at the default demo city: silver.complaint
#:   (11 MiB), silver.urban_case_event (4.4), silver.police_incident (3.3) and
#:   silver.urban_case (1.4, rebuilt per touched case). A MERGE rewrites every file that
#:   holds a matched key, and a day's versions update rows of the past days and weeks,
#:   which in an unpartitioned table sit in every file: each new day rewrote the whole
#:   table (measured at three times the city: 1.6k updated tickets copied 138k of 140k rows
#:   of silver.complaint; 4 re-sent case events copied all 222k events). By day, the MERGE
#:   rewrites only the days that hold the batch's keys (``lake.touched_days``), and with
#:   deletion vectors (below) it reads those days and writes only the new versions. A smaller
#:   merged table (silver.petition 0.3 MiB, silver.calendar_day) is rewritten whole in less
#:   than a refine's fixed cost.
#: Every other table is one unpartitioned set of files, which OPTIMIZE compacts into a few:
#: day partitions of a small table stay one tiny file a day however often they are
#: compacted. That includes the tables a MERGE only appends to (silver.complaint_status,
#: quarantine.*): a new key matches nothing there, so no file is rewritten.
#: A ``replaceWhere`` on ``dt`` works on any column. ``citybrain contracts`` prints each
#: table's choice; schemas/README.md has the figures.
BY_DAY = ("dt",)

#: Deletion vectors, for the tables a refine MERGEs each day's versions into (``deletion_vectors``
#: in their contract): a MERGE then marks a replaced row deleted in its old file and writes only
#: the new versions, instead of copying every other row of the files it touches. Measured on
#: silver.ride_trip at ten times the demo city (6.7M rows), one new day of 82k rows with 418
#: versions of the six days before: 3.0 s and 463k rows copied without, 1.22 s and none with.
#: Readers apply them: Sail, Spark with delta-spark and DuckDB's delta extension do;
#: ``deltalake`` only through ``lake.arrow`` (its DataFusion reader), not ``to_pyarrow_*``.
#: A table gets them when it is created; one created before keeps copying (both are correct).

# "record": a whole record that held several kinds, kept masked, tokenised and scrubbed
PII_KINDS = ("name", "phone", "id_number", "plate", "licence", "address", "record")


class ContractViolation(ValueError):
    """A DataFrame does not match the contract of the table it is written to."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    nullable: bool = True
    description: str = ""
    pii: str | None = None  # one of PII_KINDS when the column holds personal data

    def __post_init__(self) -> None:
        if self.type not in _ARROW_TYPES:
            raise ValueError(f"column {self.name}: unsupported type {self.type!r} (use one of {', '.join(_ARROW_TYPES)})")
        if self.pii is not None and self.pii not in PII_KINDS:
            raise ValueError(f"column {self.name}: unknown PII kind {self.pii!r}")


@dataclass(frozen=True)
class Contract:
    name: str  # layer.table, e.g. bronze.hotline
    columns: tuple[Column, ...]
    grain: str
    description: str
    owner: str
    keys: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    deletion_vectors: bool = False  # see the note above ``Contract``
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        layer, _, table = self.name.partition(".")
        if not layer or not table:
            raise ValueError(f"contract name {self.name!r} must look like layer.table")
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"{self.name}: duplicated columns {duplicated}")
        unknown = [k for k in (*self.keys, *self.partition_by) if k not in names]
        if unknown:
            raise ValueError(f"{self.name}: keys/partitions name unknown columns {unknown}")

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii]

    def ddl(self) -> str:
        """Spark DDL of the columns, usable as a reader schema: ``a string, b bigint``."""
        return ", ".join(f"`{c.name}` {c.type}{'' if c.nullable else ' NOT NULL'}" for c in self.columns)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _ARROW_TYPES[c.type], nullable=c.nullable) for c in self.columns])

    def check_columns(self, actual: dict[str, str]) -> None:
        """Compare {column: spark simple type} with the contract; raise one clear message."""
        problems = []
        missing = [c.name for c in self.columns if c.name not in actual]
        extra = [n for n in actual if n not in self.column_names]
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            problems.append(f"column(s) not in the contract {', '.join(extra)}")
        for c in self.columns:
            got = actual.get(c.name)
            if got is not None and _normalise_type(got) != c.type:
                problems.append(f"column {c.name} is {got}, the contract says {c.type}")
        if problems:
            raise ContractViolation(f"write to {self.name} refused: " + "; ".join(problems))

    def check(self, df) -> None:
        """Check a (Spark) DataFrame's schema against the contract."""
        self.check_columns({f.name: f.dataType.simpleString() for f in df.schema.fields})

    def conform(self, df):
        """Check, then return the DataFrame with its columns in contract order."""
        self.check(df)
        return df.select(*self.column_names)

    def conform_arrow(self, table: pa.Table) -> pa.Table:
        """Check a pyarrow Table as ``check`` checks a DataFrame (the contract's Arrow types exactly),
        and that no NOT NULL column holds a null; return it in contract order with the contract's schema."""
        contract_types = {arrow: name for name, arrow in _ARROW_TYPES.items()}
        self.check_columns({f.name: contract_types.get(f.type, str(f.type)) for f in table.schema})
        nulls = [c.name for c in self.columns if not c.nullable and table[c.name].null_count]
        if nulls:
            raise ContractViolation(f"write to {self.name} refused: null in NOT NULL column(s) {', '.join(nulls)}")
        return table.select(list(self.column_names)).cast(self.arrow_schema())


def _normalise_type(spark_type: str) -> str:
    # Spark reports timestamp_ntz for zone-less timestamps; the lake stores instants.
    return {"integer": "int", "long": "bigint"}.get(spark_type, spark_type)
