"""The typed table registry: which tables and columns exist, and their types, under one hash.

Built from the schema snapshot the Schema Sync Node writes (``to_snapshot()`` of
``ctas7_panel.schema``): tables and views, each with its columns (name, type, nullability,
default, identity, generated). ``registry_from_snapshot`` reads the snapshot forgivingly, so a
small change in its layout does not break Legion: tables may be a list of objects or a mapping
keyed by ``schema.name``, or nested under ``schemas`` -> ``<schema>`` -> ``tables``/``views``;
columns a list of objects or a mapping keyed by name.

Everything here is pure: no I/O. ``check`` raises ``SchemaError`` naming the missing table or
column and the schema hash it was checked against.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.errors import SchemaError

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
    columns: Any  # the snapshot's column list or mapping

    @property
    def column_count(self) -> int:
        return len(self.columns) if isinstance(self.columns, list | Mapping) else 0


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
                raw.schema, raw.name, tuple(_parse_columns(raw.columns)), raw.kind
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


def unwrap_snapshot(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The schema snapshot and its fingerprint from the sync node's snapshot file.

    The file is a record ``{"format": "ctas7-sync-snapshot/1", "fingerprint": ..., "snapshot":
    {...}}``; a bare ``to_snapshot()`` dict is accepted too (fingerprint None).
    """
    inner = obj.get("snapshot")
    if isinstance(inner, Mapping):
        fp = obj.get("fingerprint")
        return inner, fp if isinstance(fp, str) and fp else None
    return obj, None


def registry_from_snapshot(snapshot: Mapping[str, Any], schema_hash: str | None) -> TableRegistry:
    """The registry of every table and view in ``snapshot``; ``SchemaError`` if it has none.

    ``snapshot`` may be the sync node's record (unwrapped with ``unwrap_snapshot``); its
    fingerprint is used when ``schema_hash`` is None.
    """
    if not isinstance(snapshot, Mapping):
        raise SchemaError(f"schema snapshot must be a JSON object, got {type(snapshot).__name__}")
    snapshot, fingerprint = unwrap_snapshot(snapshot)
    schema_hash = schema_hash or fingerprint
    raw: dict[str, RawRelation] = {}
    for rel in _relations(snapshot):
        raw[f"{rel.schema}.{rel.name}"] = rel
    if not raw and not _declares_empty(snapshot):
        raise SchemaError(
            "schema snapshot has no 'tables' (or 'schemas' -> tables): regenerate it with "
            "`ctas7 schema sync`"
        )
    return TableRegistry(schema_hash, raw)


def _declares_empty(snapshot: Mapping[str, Any]) -> bool:
    return any(key in snapshot for key in ("tables", "views", "relations", "schemas"))


def _relations(snapshot: Mapping[str, Any]) -> Iterator[RawRelation]:
    for key, kind in (("tables", "table"), ("views", "view"), ("relations", "table")):
        yield from _parse_group(snapshot.get(key), None, kind)
    schemas = snapshot.get("schemas")
    if isinstance(schemas, Mapping):
        for schema_name, body in schemas.items():
            if isinstance(body, Mapping):
                for key, kind in (("tables", "table"), ("views", "view")):
                    yield from _parse_group(body.get(key), str(schema_name), kind)


def _parse_group(group: Any, schema: str | None, kind: str) -> Iterator[RawRelation]:
    if isinstance(group, Mapping):
        items: Iterable[tuple[str | None, Any]] = group.items()
    elif isinstance(group, list):
        items = ((None, item) for item in group)
    else:
        return
    for key, body in items:
        if not isinstance(body, Mapping):
            continue
        name = body.get("name") or key
        if not isinstance(name, str):
            continue
        table_schema = body.get("schema") or schema
        if table_schema is None and "." in name:
            table_schema, name = name.split(".", 1)
        raw_kind = body.get("kind") or body.get("type") or kind
        yield RawRelation(
            str(table_schema or DEFAULT_SCHEMA),
            name,
            raw_kind if isinstance(raw_kind, str) else kind,
            body.get("columns"),
        )


def _parse_columns(columns: Any) -> Iterator[ColumnInfo]:
    if isinstance(columns, Mapping):
        items: Iterable[tuple[str | None, Any]] = columns.items()
    elif isinstance(columns, list):
        items = ((None, c) for c in columns)
    else:
        return
    for key, body in items:
        if isinstance(body, str):  # {"name": "type"}
            if key is not None:
                yield ColumnInfo(key, body)
            continue
        if not isinstance(body, Mapping):
            continue
        name = body.get("name") or key
        if not isinstance(name, str):
            continue
        yield ColumnInfo(
            name=name,
            type=str(_first(body, ("type", "data_type", "format", "type_name"), "unknown")),
            nullable=_nullable(body),
            has_default=_first(body, ("default", "default_value"), None) is not None
            or bool(body.get("has_default")),
            identity=_identity(body),
            generated=bool(_first(body, ("generated", "is_generated"), False)),
        )


def _first(body: Mapping[str, Any], keys: tuple[str, ...], default: Any) -> Any:
    for k in keys:
        if k in body and body[k] is not None:
            return body[k]
    return default


def _nullable(body: Mapping[str, Any]) -> bool:
    if "nullable" in body:
        return bool(body["nullable"])
    if "is_nullable" in body:
        v = body["is_nullable"]
        return v.upper() == "YES" if isinstance(v, str) else bool(v)
    if "not_null" in body:
        return not body["not_null"]
    return True


def _identity(body: Mapping[str, Any]) -> str | None:
    v = _first(body, ("identity", "identity_generation"), None)
    if v is None or v is False or v == "":
        return None
    if v is True:
        return "BY DEFAULT"
    return str(v).upper()
