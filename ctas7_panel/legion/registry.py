"""The typed table registry: which tables and columns exist, and their types, under one hash.

Built from the canonical schema snapshot (``ctas7_panel.schema.snapshot``; the file is read by
``schema.snapshot_file``, the one loader): tables and views, each with its columns (name, type,
nullability, default, identity, generated). Anything that is not that layout is a
``SchemaError`` saying how to regenerate it.

Everything here is pure: no I/O. ``check`` raises ``SchemaError`` naming the missing table or
column and the schema hash it was checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.errors import SchemaError
from ctas7_panel.schema.snapshot import Snapshot

DEFAULT_SCHEMA = "public"

# type name -> family, used to check parameter values before a query runs
_FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        ("int2", "int4", "int8", "smallint", "integer", "bigint", "serial", "bigserial"), "int"
    ),
    **dict.fromkeys(
        ("float4", "float8", "real", "double precision", "numeric", "decimal"), "number"
    ),
    **dict.fromkeys(("bool", "boolean"), "bool"),
    **dict.fromkeys(
        ("text", "varchar", "character varying", "bpchar", "character", "citext", "name"), "text"
    ),
    **dict.fromkeys(("json", "jsonb"), "json"),
}


def type_family(type_name: str) -> str:
    """``int``, ``number``, ``bool``, ``text``, ``json``, ``array`` or ``other``."""
    t = type_name.strip().lower()
    if t.endswith("[]") or t.startswith("_"):
        return "array"
    base = t.split("(", 1)[0].strip()
    if "." in base and base not in _FAMILIES:
        base = base.rsplit(".", 1)[1]
    return _FAMILIES.get(base, "other")


def qualify(table: str) -> str:
    """``tasks`` -> ``public.tasks``; ``ops.jobs`` stays as is."""
    return table if "." in table else f"{DEFAULT_SCHEMA}.{table}"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool = True
    has_default: bool = False
    identity: str | None = None  # "ALWAYS" | "BY DEFAULT" | None
    generated: bool = False

    @property
    def family(self) -> str:
        return type_family(self.type)

    @property
    def writable(self) -> bool:
        return not self.generated and (self.identity or "").upper() != "ALWAYS"


@dataclass(frozen=True, slots=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    kind: str = "table"  # "table" | "view" | ...
    _by_name: Mapping[str, ColumnInfo] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        return self._by_name.get(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Dependency:
    """A table and the columns of it something relies on (empty = the table only)."""

    table: str
    columns: frozenset[str] = frozenset()

    @classmethod
    def of(cls, table: str, columns: Iterable[str] = ()) -> Dependency:
        return cls(qualify(table), frozenset(columns))


@dataclass(frozen=True, slots=True)
class RawRelation:
    """One relation as found in the snapshot, its columns not parsed yet."""

    schema: str
    name: str
    kind: str
    columns: list[Any]  # the snapshot's column objects

    @property
    def column_count(self) -> int:
        return len(self.columns)


class TableRegistry:
    """Tables and views of one schema state, looked up by ``schema.name`` (or bare name).

    Building it only indexes the snapshot's relations; a relation's columns become a
    ``TableInfo`` the first time it is looked up (a reload of 1000 tables must not pay for
    parsing 12,000 columns nobody asks about). Lookups happen on the event loop thread.
    """

    __slots__ = ("_built", "_raw", "schema_hash")

    def __init__(self, schema_hash: str | None, raw: Mapping[str, RawRelation] | None = None):
        self.schema_hash = schema_hash
        self._raw: Mapping[str, RawRelation] = raw or {}
        self._built: dict[str, TableInfo] = {}

    @classmethod
    def empty(cls) -> TableRegistry:
        return cls(None, {})

    def with_hash(self, schema_hash: str | None) -> TableRegistry:
        """The same relations under another hash (shares the parsed snapshot)."""
        return TableRegistry(schema_hash, self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[TableInfo]:
        for name in self._raw:
            info = self.get(name)
            assert info is not None
            yield info

    def names(self) -> list[str]:
        return list(self._raw)

    def kinds(self) -> dict[str, int]:
        """How many relations of each kind (``table``, ``view``, ...)."""
        out: dict[str, int] = {}
        for r in self._raw.values():
            out[r.kind] = out.get(r.kind, 0) + 1
        return out

    @property
    def column_count(self) -> int:
        return sum(r.column_count for r in self._raw.values())

    def get(self, table: str) -> TableInfo | None:
        q = qualify(table)
        info = self._built.get(q)
        if info is None:
            raw = self._raw.get(q)
            if raw is None:
                return None
            info = self._built[q] = TableInfo(
                raw.schema, raw.name, tuple(_parse_columns(raw)), raw.kind
            )
        return info

    def table(self, table: str) -> TableInfo:
        """The table, or ``SchemaError`` naming it and the hash checked against."""
        info = self.get(table)
        if info is None:
            raise SchemaError(
                f"table {qualify(table)!r} is not in the schema (hash {_short(self.schema_hash)}): "
                "it was dropped or renamed; update the task or restore the table"
            )
        return info

    def check(self, table: str, columns: Iterable[str] = ()) -> TableInfo:
        """Check a table and columns exist; ``SchemaError`` names the first missing one."""
        info = self.table(table)
        for name in columns:
            if info.column(name) is None:
                raise SchemaError(
                    f"column {name!r} of table {info.qualified!r} is not in the schema "
                    f"(hash {_short(self.schema_hash)}): it was dropped or renamed; "
                    "update the task or restore the column"
                )
        return info

    def broken(self, deps: Iterable[Dependency]) -> SchemaError | None:
        """The error the first unsatisfied dependency would raise, or None if all hold."""
        for dep in deps:
            try:
                self.check(dep.table, sorted(dep.columns))
            except SchemaError as exc:
                return exc
        return None

    def changed_tables(self, other: TableRegistry) -> set[str]:
        """Relations added, removed or whose snapshot entry differs between the two."""
        names = set(self._raw) | set(other._raw)
        return {n for n in names if self._raw.get(n) != other._raw.get(n)}


def _short(schema_hash: str | None) -> str:
    return schema_hash[:12] if schema_hash else "unknown"


# --- reading a snapshot ------------------------------------------------------------------------

_REGENERATE = "regenerate it with `ctas7 schema sync`"


def registry_from_snapshot(snapshot: Snapshot, schema_hash: str | None) -> TableRegistry:
    """The registry of every table and view in a canonical snapshot; ``SchemaError`` if it is
    not one.

    ``snapshot`` is what ``schema.snapshot_file.read_snapshot_file`` returns (the one loader of
    snapshot files, which unwraps the sync node's record and checks the format) or
    ``schema.snapshot.to_snapshot``'s result: ``{"format": 1, "relations": [{"schema", "name",
    "kind", "columns": [...]}, ...]}``. Columns are read when a relation is first looked up.
    """
    relations = snapshot.get("relations") if isinstance(snapshot, Mapping) else None
    if not isinstance(relations, list):
        raise SchemaError(f"schema snapshot has no 'relations' list: {_REGENERATE}")
    raw: dict[str, RawRelation] = {}
    for i, rel in enumerate(relations):
        if not (
            isinstance(rel, Mapping)
            and isinstance(rel.get("schema"), str)
            and isinstance(rel.get("name"), str)
            and isinstance(rel.get("columns"), list)
        ):
            raise SchemaError(
                f"schema snapshot relation #{i} is not an object with 'schema', 'name' and a "
                f"'columns' list: {_REGENERATE}"
            )
        kind = rel.get("kind")
        kind = kind if isinstance(kind, str) else "table"
        r = RawRelation(rel["schema"], rel["name"], kind, rel["columns"])
        raw[f"{r.schema}.{r.name}"] = r
    return TableRegistry(schema_hash, raw)


def _parse_columns(rel: RawRelation) -> Iterator[ColumnInfo]:
    for i, body in enumerate(rel.columns):
        if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
            raise SchemaError(
                f"schema snapshot column #{i} of {rel.schema}.{rel.name} is not an object with "
                f"a 'name': {_REGENERATE}"
            )
        identity = body.get("identity")
        yield ColumnInfo(
            name=body["name"],
            type=str(body.get("type") or "unknown"),
            nullable=bool(body.get("nullable", True)),
            has_default=body.get("default") is not None,
            identity=str(identity).upper() if identity else None,
            generated=bool(body.get("generated")),
        )
