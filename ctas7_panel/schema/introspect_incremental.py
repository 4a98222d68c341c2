"""Incremental introspection: after a DDL, read again only the relations whose catalog rows
changed, and keep the snapshot's bytes of the others.

``IncrementalReader.read(conn)`` returns the catalog, the snapshot and its canonical bytes,
equal to ``to_snapshot(introspect(conn, options))`` and ``canonical_json`` of it (the
relationships of the catalog may come in another order; the snapshot sorts them). Each call:

1. ``queries/relation_versions.sql`` (one statement): per *owner* (the pg_class oid a catalog
   row describes; 0 for schemas, types, functions, ...) a count and a sum of row-version
   hashes. The same text as last time: nothing changed, the cached result is returned.
2. The owners whose item moved are the changed relations. A move of owner 0 (a type, function,
   schema, enum, collation, domain constraint, the search_path), a renamed relation, a composite
   type, or a relation created or dropped under a name that another relation has (name
   visibility changes how the server prints references) means a full read.
3. Otherwise one round trip reads, in one snapshot, the changed relations and their
   dependents (``queries/relation_dependents.sql``: views reading them, through views of
   views; tables whose foreign keys reference them; the table of a changed index), with the
   very queries of a full read limited to those oids, and the names of the changed oids. Then
   it rebuilds only their ``Relation`` values and snapshot entries, and recomputes the
   relationships through views (pure, from cached rule rows).

Both reads run in one read-only repeatable-read transaction, the version query first, so a
DDL racing with a read is seen next time. Works over psycopg and over ``pqlite``.
Known limit (shared with the catalog probe, ``schema/decision.py``): what only a role
membership change alters (which relations the role may see) is not a catalog row of any
owner, so it is not seen.
"""

from __future__ import annotations

import hashlib
import sys
from collections import ChainMap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ctas7_panel.errors import SchemaError
from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.introspect import (
    Reader,
    Row,
    composite_from,
    constraint_from,
    domain_from,
    enum_from,
    function_from,
    included_schemas,
    index_from,
    name_key_columns,
    oids_sql,
    query_text,
    relation_from,
    relationship_from,
    render,
    schemas_sql,
    view_relationships,
)
from ctas7_panel.schema.model import (
    Catalog,
    Column,
    Constraint,
    Index,
    PgType,
    Relation,
    Relationship,
    Schema,
)
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.pqlite import Connection as LibpqConnection
from ctas7_panel.schema.snapshot import (
    Snapshot,
    canonical_json,
    canonical_json_spliced,
    relation_entry,
    to_snapshot,
)

_PER_RELATION = ("columns", "relations", "constraints", "indexes", "foreign_keys", "view_rules")
_GLOBAL = ("functions", "enums", "composites", "domains")
_TYPE_LIST = ("type_list", "view_order")  # read again on every read that is not cached
_RELATION_KINDS = frozenset("rpfvm")
_BEGIN = "begin isolation level repeatable read read only"
_NAMES = (
    "select coalesce(json_agg(json_build_array(c.oid::int8, c.relnamespace::int8, c.relname,"
    " c.relkind::text)), '[]')::text from pg_catalog.pg_class c where {where}"
)


@dataclass(frozen=True, slots=True)
class Read:
    """One result: the catalog, its snapshot and ``canonical_json(snapshot)``."""

    catalog: Catalog
    snapshot: Snapshot
    canonical: bytes
    kind: str  # "cached" | "partial" | "full"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.canonical).hexdigest()


def _run(conn: Reader, statements: Sequence[str]) -> list[Any]:
    """The first value of each statement's first row (over libpq, of the statements that
    return rows: ``begin`` may come first)."""
    if isinstance(conn, LibpqConnection):
        return [rows[0] if rows else None for rows in conn.batch(list(statements))]
    with conn.pipeline():  # every statement here returns one row
        cursors = [conn.execute(sql.encode()) for sql in statements]
        rows = [cur.fetchone() for cur in cursors]
    return [None if row is None else row[0] for row in rows]


def _end(conn: Reader) -> None:
    if isinstance(conn, LibpqConnection):
        conn.batch(["rollback"])
    elif conn.autocommit:
        conn.execute(b"rollback")
    else:
        conn.rollback()


def _begin(conn: Reader) -> None:
    """A read-only repeatable-read transaction (psycopg outside autocommit: its own)."""
    if isinstance(conn, LibpqConnection):
        conn.batch([_BEGIN])
    elif conn.autocommit:
        conn.execute(_BEGIN.encode())


def _loads(value: bytes | str | None) -> Any:
    return orjson.loads(value) if value else []


def parse_versions(text: str) -> tuple[str, frozenset[str] | None]:
    """``relation_versions.sql``'s text -> ("total|settings", its "owner:count:sum" items, or
    ``None`` when the query found the key unchanged and left them out) (pure)."""
    items, _, key = text.partition("|")
    return key, None if items == "=" else frozenset(items.split(",")) - {""}


def changed_owners(old: frozenset[str], new: frozenset[str]) -> set[int]:
    """Owners whose item differs, appeared or disappeared (pure)."""
    return {int(item.partition(":")[0]) for item in old ^ new}


def needs_full_read(
    changed: set[int],
    old_names: dict[int, tuple[int, str, str]],
    rows: Sequence[Sequence[Any]],
) -> str | None:
    """Why the changed owners need a full read, or ``None`` (pure). ``rows``: current
    (oid, namespace oid, name, relkind) of the changed oids and of every relation sharing a
    name with one of them, before or after."""
    if 0 in changed:
        return "a catalog row of no relation changed (type, function, schema, ...)"
    current = {int(r[0]): (int(r[1]), str(r[2]), str(r[3])) for r in rows}
    by_name: dict[str, set[int]] = {}
    for oid, (_, name, _) in current.items():
        by_name.setdefault(name, set()).add(oid)
    for oid in changed:
        old, new = old_names.get(oid), current.get(oid)
        if (old and old[2] == "c") or (new and new[2] == "c"):
            return "a composite type changed"
        if old and new and old[:2] != new[:2]:
            return "a relation was renamed or moved"
        if (old is None) != (new is None):
            name = (new or old)[1]  # type: ignore[index]
            if by_name.get(name, set()) - {oid}:
                return f"a relation named {name!r} was created or dropped beside another"
    return None


@dataclass
class _State:
    settings: str = ""  # "total|server version|search_path": the version query's key
    versions: frozenset[str] = frozenset()
    names: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    schema_rows: list[Row] = field(default_factory=list)
    server_version: int = 0
    rel_rows: dict[int, Row] = field(default_factory=dict)
    columns: dict[int, list[Column]] = field(default_factory=dict)
    constraints: dict[int, list[Constraint]] = field(default_factory=dict)
    indexes: dict[int, list[Index]] = field(default_factory=dict)
    fks: dict[int, list[tuple[int, Relationship]]] = field(default_factory=dict)
    rules: dict[int, Row] = field(default_factory=dict)
    relations: dict[int, Relation] = field(default_factory=dict)
    entries: dict[int, tuple[dict[str, Any], bytes]] = field(default_factory=dict)
    names_by_oid: dict[int, tuple[str, str]] = field(default_factory=dict)
    column_names: dict[tuple[int, int], str] = field(default_factory=dict)
    origins: dict[int, tuple[str, list[tuple[int, int, int]]]] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    through_views: list[Relationship] | None = None  # None: to compute
    relationships: list[Any] | None = None  # the snapshot's, while nothing above changed
    types: tuple[PgType, ...] = ()  # with ``type_list`` only
    view_order: tuple[tuple[str, str], ...] = ()  # idem
    last: Read | None = None


class IncrementalReader:
    """The catalog, snapshot and fingerprint of one database, read incrementally.

    ``full_reads`` and ``partial_reads`` count the reads done; ``last_reason`` says why the
    last full read was needed. ``type_list=True`` also gives ``Catalog.types`` and
    ``Catalog.view_order`` (as ``introspect(..., type_list=True)``: the Python, Go and Swift
    generators need them), read again in the same round trip on every read that is not cached
    (both follow only catalog rows the version query counts: pg_type and pg_class row versions
    of user objects, schemas).
    """

    def __init__(self, options: TypegenOptions | None = None, *, type_list: bool = False) -> None:
        self.options = options or TypegenOptions()
        self.type_list = type_list
        self.full_reads = 0
        self.partial_reads = 0
        self.last_reason = ""
        self._state: _State | None = None

    def forget(self) -> None:
        self._state = None

    def read(self, conn: Reader) -> Read:
        """The catalog, snapshot and canonical bytes as a full read would give them now.

        Over psycopg, an autocommit connection reads in its own repeatable-read snapshot; a
        connection outside autocommit reads in the caller's transaction. A failed read
        forgets everything (the next one is full); psycopg errors become ``SchemaError``.
        """
        try:
            with gc_paused():
                return self._read(conn)
        except Exception as exc:
            self._state = None
            psycopg_module = sys.modules.get("psycopg")
            if psycopg_module is None or not isinstance(exc, psycopg_module.Error):
                raise
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SchemaError(f"cannot read the database catalog: {reason}") from exc

    def _read(self, conn: Reader) -> Read:
        state = self._state
        previous = _text(state.settings) if state is not None else "null"
        versions_sql = query_text("relation_versions").replace("%(previous)s", previous)
        if isinstance(conn, LibpqConnection):  # begin and ask in one round trip
            text = _run(conn, [_BEGIN, versions_sql])[0]
        else:
            _begin(conn)
        try:
            if not isinstance(conn, LibpqConnection):
                text = _run(conn, [versions_sql])[0]
            key, versions = parse_versions(text.decode() if isinstance(text, bytes) else str(text))
            if state is not None and state.last is not None:
                if versions is None or key == state.settings:
                    last = state.last
                    return Read(last.catalog, last.snapshot, last.canonical, "cached")
                changed = changed_owners(state.versions, versions)
                if key.partition("|")[2] != state.settings.partition("|")[2]:
                    changed.add(0)  # another server version or search_path
                result = self._partial(conn, state, changed, key, versions)
                if result is not None:
                    return result
            else:
                self.last_reason = "first read"
            if versions is None:  # only with a previous key, and then not here
                raise SchemaError("the catalog version query left out its items")
            return self._full(conn, key, versions)
        finally:
            _end(conn)

    # --- full read ------------------------------------------------------------------------

    def _full(self, conn: Reader, key: str, versions: frozenset[str]) -> Read:
        options = self.options
        state = _State()
        state.settings, state.versions = key, versions
        schemas_stmt = render("schemas", "", details=True)
        names_stmt = _NAMES.format(where="c.oid >= 16384")
        schema_text, names_text = _run(conn, [schemas_stmt, names_stmt])
        state.schema_rows = included_schemas(_loads(schema_text), options)
        state.names = {int(r[0]): (int(r[1]), r[2], r[3]) for r in _loads(names_text)}
        included = schemas_sql([row["name"] for row in state.schema_rows])
        names = (*_PER_RELATION, *_GLOBAL, *self._type_list_names())
        statements = [render(name, included, details=True) for name in names]
        texts = dict(zip(names, _run(conn, statements), strict=True))
        state.server_version = int(
            conn.server_version if isinstance(conn, LibpqConnection) else conn.info.server_version
        )
        _apply(conn, state, set(), _Rows.parse(texts))
        state.globals = _globals(texts, state.schema_rows)
        _type_list(state, texts)
        self._state = state
        self.full_reads += 1
        return self._finish(conn, state, "full")

    # --- partial read ---------------------------------------------------------------------

    def _partial(
        self,
        conn: Reader,
        state: _State,
        changed: set[int],
        key: str,
        versions: frozenset[str],
    ) -> Read | None:
        if 0 in changed:
            self.last_reason = "a catalog row of no relation changed (type, function, schema, ...)"
            return None
        changed_sql = oids_sql(sorted(changed))
        old_names = sorted({state.names[o][1] for o in changed if o in state.names})
        name_list = "array[" + ",".join(_text(n) for n in old_names) + "]::name[]"
        where = (
            f"c.oid = any({changed_sql}) or c.relname = any({name_list}) or c.relname in "
            f"(select x.relname from pg_catalog.pg_class x where x.oid = any({changed_sql}))"
        )
        dependents = query_text("relation_dependents").replace("%(oids)s", changed_sql)
        name_text, dependents_text = _run(
            conn,
            [
                _NAMES.format(where=where),
                f"select coalesce(json_agg(d.oid::int8), '[]')::text from (\n{dependents}\n) d",
            ],
        )
        name_rows = _loads(name_text)
        reason = needs_full_read(changed, state.names, name_rows)
        if reason is not None:
            self.last_reason = reason
            return None
        again = {int(o) for o in _loads(dependents_text)} | changed
        only = oids_sql(sorted(again))
        included = schemas_sql([row["name"] for row in state.schema_rows])
        statements = [render(name, included, details=True, only=only) for name in _PER_RELATION]
        statements += [render(name, included, details=True) for name in self._type_list_names()]
        results = _run(conn, statements)
        texts = dict(zip((*_PER_RELATION, *self._type_list_names()), results, strict=True))
        _type_list(state, texts)
        for oid in changed:
            state.names.pop(oid, None)
        for r in name_rows:
            if int(r[0]) in changed:
                state.names[int(r[0])] = (int(r[1]), r[2], r[3])
        moved = _apply(conn, state, again, _Rows.parse(texts))
        if moved or any(
            state.names.get(oid, (0, "", ""))[2] in _RELATION_KINDS and oid not in state.rel_rows
            for oid in changed
        ):
            # relationships through views follow the views' rules, the keys, and the names of
            # the relations and columns they pass through (renames mean a full read); a
            # relation outside the included schemas has its names read with them
            state.through_views = None
            state.relationships = None
        state.settings, state.versions = key, versions
        self.partial_reads += 1
        return self._finish(conn, state, "partial")

    def _type_list_names(self) -> tuple[str, ...]:
        return _TYPE_LIST if self.type_list else ()

    # --- assembling -----------------------------------------------------------------------

    def _finish(self, conn: Reader, state: _State, kind: str) -> Read:
        relations = [state.relations[oid] for oid in sorted(state.rel_rows)]
        fk_items = sorted(item for items in state.fks.values() for item in items)
        foreign_keys = [rel for _, rel in fk_items]
        rules = [state.rules[oid] for oid in sorted(state.rules)]

        if state.through_views is not None:
            through_views = state.through_views
        else:
            through_views = self._through_views(conn, state, foreign_keys, rules)
            state.through_views = through_views
            state.relationships = None
        g = state.globals
        catalog = Catalog(
            options=self.options,
            schemas=g["schemas"],
            relations=tuple(relations),
            enums=g["enums"],
            composites=g["composites"],
            domains=g["domains"],
            functions=g["functions"],
            relationships=tuple(foreign_keys + through_views),
            server_version=state.server_version,
            types=state.types,
            view_order=state.view_order,
        )
        by_id = {id(state.relations[oid]): state.entries[oid] for oid in state.rel_rows}
        snapshot = to_snapshot(
            catalog, entry=lambda rel: by_id[id(rel)][0], relationships=state.relationships
        )
        state.relationships = snapshot["relationships"]
        ordered = sorted(relations, key=lambda r: (r.schema, r.name))
        canonical = canonical_json_spliced(snapshot, [by_id[id(r)][1] for r in ordered])
        state.last = Read(catalog, snapshot, canonical, kind)
        return state.last

    @staticmethod
    def _through_views(
        conn: Reader, state: _State, foreign_keys: list[Relationship], rules: list[Row]
    ) -> list[Relationship]:
        def origins_of(row: Row) -> list[tuple[int, int, int]]:
            cached = state.origins.get(row["oid"])
            if cached is not None and cached[0] == row["action"]:
                return cached[1]
            from ctas7_panel.schema.relationships import target_list_origins

            found = target_list_origins(row["action"])
            state.origins[row["oid"]] = (row["action"], found)
            return found

        return view_relationships(
            conn,
            rules,
            foreign_keys,
            dict(state.names_by_oid),
            dict(state.column_names),
            origins_of,
        )


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class _Rows:
    """Rows of the per-relation queries, grouped by relation oid."""

    relations: dict[int, Row]
    columns: dict[int, list[Column]]
    constraints: dict[int, list[Constraint]]
    indexes: dict[int, list[Index]]
    fks: dict[int, list[Row]]  # not yet named: ``name_key_columns``
    rules: dict[int, Row]

    @classmethod
    def parse(cls, texts: dict[str, Any]) -> _Rows:
        columns: dict[int, list[Column]] = {}
        for values in _loads(texts["columns"]):
            columns.setdefault(values[0], []).append(Column(*values[1:]))
        constraints: dict[int, list[Constraint]] = {}
        for row in _loads(texts["constraints"]):
            constraints.setdefault(row["rel_oid"], []).append(constraint_from(row))
        indexes: dict[int, list[Index]] = {}
        for row in _loads(texts["indexes"]):
            indexes.setdefault(row["rel_oid"], []).append(index_from(row))
        fks: dict[int, list[Row]] = {}
        for row in _loads(texts["foreign_keys"]):
            fks.setdefault(row["rel_oid"], []).append(row)
        return cls(
            relations={row["oid"]: row for row in _loads(texts["relations"])},
            columns=columns,
            constraints=constraints,
            indexes=indexes,
            fks=fks,
            rules={row["oid"]: row for row in _loads(texts["view_rules"])},
        )


def _apply(conn: Reader, state: _State, again: set[int], rows: _Rows) -> bool:
    """Replace what ``state`` holds of the relations ``again`` (all, on a full read, where
    ``again`` is empty and the state is new) with ``rows``. Whether any of their foreign keys,
    view rules or existing columns' names moved (always on a full read)."""
    old_fks = {oid: state.fks.get(oid, []) for oid in again}
    old_rules = {oid: state.rules.get(oid) for oid in again}
    old_columns = {oid: {c.position: c.name for c in state.columns.get(oid, ())} for oid in again}
    for oid in again:
        old = state.columns.pop(oid, None)
        for col in old or ():
            state.column_names.pop((oid, col.position), None)
        for store in (state.constraints, state.indexes, state.fks, state.rules, state.entries):
            store.pop(oid, None)
        state.rel_rows.pop(oid, None)
        state.relations.pop(oid, None)
        state.names_by_oid.pop(oid, None)
    state.rules.update(rows.rules)
    for oid, row in rows.relations.items():
        cols = sorted(rows.columns.get(oid, []), key=lambda c: c.position)
        rel = relation_from(row, cols, rows.constraints.get(oid, []), rows.indexes.get(oid, []))
        state.rel_rows[oid] = row
        state.columns[oid] = cols
        state.relations[oid] = rel
        entry = relation_entry(rel)
        state.entries[oid] = (entry, canonical_json(entry))
        state.names_by_oid[oid] = (row["schema"], row["name"])
        for col in cols:
            state.column_names[(oid, col.position)] = col.name
    # name the keys' columns now that the columns are in; what is read for relations outside
    # the included schemas goes into an overlay, read again each time it is needed
    fk_rows = [row for rows_of in rows.fks.values() for row in rows_of]
    name_key_columns(
        conn, fk_rows, ChainMap({}, state.column_names), ChainMap({}, state.names_by_oid)
    )
    for oid, rows_of in rows.fks.items():
        state.fks[oid] = [(row["oid"], relationship_from(row)) for row in rows_of]
    moved = not again or any(
        [rel for _, rel in old_fks[oid]] != [rel for _, rel in state.fks.get(oid, [])]
        or old_rules[oid] != rows.rules.get(oid)
        or _renamed(old_columns[oid], state.columns.get(oid, []))
        for oid in again
    )
    return moved


def _renamed(old: dict[int, str], columns: list[Column]) -> bool:
    """Whether a column that was there (by attnum) is gone or has another name; an added
    column changes no relationship through a view (a view reading it is new itself)."""
    now = {c.position: c.name for c in columns}
    return any(now.get(position) != name for position, name in old.items())


def _type_list(state: _State, texts: dict[str, Any]) -> None:
    """Keep ``Catalog.types`` and ``Catalog.view_order`` from the texts, when read."""
    if "type_list" in texts:
        state.types = tuple(PgType(*row.values()) for row in _loads(texts["type_list"]))
        state.view_order = tuple(
            (row["schema"], row["name"]) for row in _loads(texts["view_order"])
        )


def _globals(texts: dict[str, Any], schema_rows: list[Row]) -> dict[str, Any]:
    return {
        "schemas": tuple(Schema(r["name"], r["owner"], r["comment"]) for r in schema_rows),
        "enums": tuple(enum_from(r) for r in _loads(texts["enums"])),
        "composites": tuple(composite_from(r) for r in _loads(texts["composites"])),
        "domains": tuple(domain_from(r) for r in _loads(texts["domains"])),
        "functions": tuple(function_from(r) for r in _loads(texts["functions"])),
    }


__all__ = ["IncrementalReader", "Read", "changed_owners", "needs_full_read", "parse_versions"]
