"""Read a ``Catalog`` from PostgreSQL over one connection (psycopg 3, or plain libpq).

One catalog query per ``.sql`` file in ``ctas7_panel/schema/queries/``, read once (a plain
file read). Rows become the frozen values of ``model``; OIDs are used only to
join rows here and never leave this module. Runs in one read-only transaction, so every query
sees the same catalog state.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from functools import cache
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ctas7_panel.errors import SchemaError
from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.model import (
    RELATION_KINDS,
    Attribute,
    Catalog,
    Column,
    ColumnFields,
    CompositeType,
    Constraint,
    Domain,
    Enum,
    Function,
    FunctionArg,
    Index,
    PgType,
    Relation,
    Relationship,
    Schema,
    TypeRef,
)
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.pqlite import Connection as LibpqConnection

if TYPE_CHECKING:
    import psycopg

Row = dict[str, Any]
Reader = Any  # a psycopg connection or a ``pqlite.Connection``

_by_position = attrgetter("position")
_ARG_MODES = {"i": "in", "o": "out", "b": "inout", "v": "variadic", "t": "table"}


_QUERIES = Path(__file__).resolve().parent / "queries"


@cache
def query_text(name: str) -> str:
    """The text of ``queries/<name>.sql`` (a plain file read: importlib.resources costs more
    than the rest of a one-shot command's imports)."""
    return (_QUERIES / f"{name}.sql").read_text(encoding="utf-8")


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings: only quotes are doubled)."""
    if "\x00" in text:
        raise SchemaError("a schema name cannot contain a NUL character")
    return "'" + text.replace("'", "''") + "'"


_ARRAY_ROWS = frozenset({"columns"})  # queries whose rows are one JSON array column "r"
_ONE_VALUE = frozenset({"columns_lean"})  # queries that return their one JSON text themselves


def oids_sql(oids: Sequence[int]) -> str:
    """Oids as an SQL ``oid[]`` literal."""
    return "array[" + ",".join(str(int(o)) for o in oids) + "]::oid[]"


def render(
    name: str,
    schemas_sql: str,
    *,
    details: bool,
    oids: Sequence[int] = (),
    only: str | None = None,
) -> str:
    """Query ``name`` as one statement returning its rows as one JSON text value.

    Parameters are written into the text (``%(schemas)s``: the included schemas, as a
    sub-select; ``%(details)s``: whether to compute what only the snapshot needs;
    ``%(oids)s``: ``oids``), so the same statements run over psycopg and over plain libpq in
    one round trip. ``only`` (an SQL ``oid[]`` expression) limits the per-relation queries to
    those relations (``%(all)s`` is false then); the incremental reader uses it.
    """
    text = query_text(name)
    text = text.replace("%(schemas)s", schemas_sql)
    text = text.replace("%(details)s", "true" if details else "false")
    text = text.replace("%(all)s", "true" if only is None else "false")
    text = text.replace("%(oids)s", oids_sql(oids) if only is None else f"({only})")
    if name in _ONE_VALUE:
        return text
    rows = "q.r" if name in _ARRAY_ROWS else "q"
    return f"select coalesce(json_agg({rows}), '[]')::text from (\n{text}\n) q"


def schemas_sql(names: Sequence[str]) -> str:
    """The included schemas as an SQL ``text[]`` literal."""
    return "array[" + ", ".join(_literal(n) for n in names) + "]::text[]"


def included_schemas(rows: Sequence[Row], options: TypegenOptions) -> list[Row]:
    """The schema rows the options select (unknown names are ignored, as Supabase does)."""
    if options.schemas is None:
        return list(rows)
    wanted = set(options.schemas)
    return [row for row in rows if row["name"] in wanted]


def introspect(
    conn: Reader, options: TypegenOptions, *, details: bool = True, type_list: bool = False
) -> Catalog:
    """Read the catalog of the schemas ``options`` selects into a frozen ``Catalog``.

    ``conn`` is a psycopg connection or a ``pqlite.Connection`` (plain libpq, for one-shot
    commands that should not import psycopg). ``details=False`` leaves out what only the
    snapshot uses (constraints, indexes, view definitions, default expressions, ...; see the
    queries), which the generator does not need and which costs most of the server's time.
    ``type_list=True`` also reads ``Catalog.types`` and ``Catalog.view_order``, which the
    Python, Go and Swift generators need (``languages.needs_type_list``).
    """
    try:
        with gc_paused():
            return _introspect(conn, options, details, type_list)
    except Exception as exc:
        psycopg_module = sys.modules.get("psycopg")
        if psycopg_module is None or not isinstance(exc, psycopg_module.Error):
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"cannot read the database catalog: {reason}") from exc


_LEAN = (  # after columns (or columns_lean): see _introspect_libpq
    "relations", "foreign_keys", "functions", "enums", "composites", "domains",
    "view_rules",
)  # fmt: skip
_DETAILS = ("constraints", "indexes")
_TYPE_LIST = ("type_list", "view_order")


def _introspect(conn: Reader, options: TypegenOptions, details: bool, type_list: bool) -> Catalog:
    columns = "columns" if details else "columns_lean"
    names = [columns, *_LEAN, *(_DETAILS if details else ()), *(_TYPE_LIST if type_list else ())]
    schemas = render("schemas", "", details=details)
    if isinstance(conn, LibpqConnection):
        try:
            return _introspect_libpq(conn, options, names, [_BEGIN, schemas], details)
        finally:
            conn.send(["rollback"])  # not waited for: read before the connection's next use
    with _snapshot_transaction(conn):
        schema_rows = included_schemas(_rows(conn.execute(schemas.encode()).fetchone()[0]), options)
        included = schemas_sql([row["name"] for row in schema_rows])
        statements = [render(name, included, details=details) for name in names]
        return _read(conn, schema_rows, _fetch_psycopg(conn, names, statements), options)


_BEGIN = "begin isolation level repeatable read read only"


def _introspect_libpq(
    conn: LibpqConnection,
    options: TypegenOptions,
    names: Sequence[str],
    opening: list[str],
    details: bool,
) -> Catalog:
    """One snapshot over plain libpq, in one round trip when the options name the schemas.

    The catalog queries are sent with the schemas query, for the named schemas; if the
    schemas query does not list every one of them (unknown, a system schema, no privilege),
    they are sent again for those it lists (a second round trip, as when all schemas are
    included). ``columns`` comes first: its rows are turned into ``Column`` values while the
    server runs the other queries.
    """
    wanted = list(dict.fromkeys(options.schemas)) if options.schemas is not None else None
    guess = []
    if wanted is not None:
        guess = [render(name, schemas_sql(wanted), details=details) for name in names]
    results = conn.stream([*opening, *guess])
    schema_rows = included_schemas(_rows(next(results)[0]), options)
    if wanted is None or len(schema_rows) != len(wanted):
        for _ in results:  # the guess was wrong (or not made): read again, for these schemas
            pass
        included = schemas_sql([row["name"] for row in schema_rows])
        results = conn.stream([render(name, included, details=details) for name in names])
    columns = _columns_by_relation(names[0], next(results)[0])  # while the server runs the rest
    texts: dict[str, bytes | str | None] = {
        name: rows[0] for name, rows in zip(names[1:], results, strict=True)
    }
    return _read(conn, schema_rows, texts, options, columns)


@contextmanager
def _snapshot_transaction(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """One read-only, repeatable-read transaction: every query sees the same catalog."""
    if not conn.autocommit:
        with conn.transaction():
            yield
        return
    conn.execute("begin isolation level repeatable read read only")
    try:
        yield
    finally:
        conn.execute("rollback")


def _fetch_psycopg(
    conn: psycopg.Connection[Any], names: Sequence[str], statements: Sequence[str]
) -> dict[str, bytes | str | None]:
    """Run the statements in one pipeline; each returns one JSON text."""
    with conn.pipeline():
        cursors = [conn.execute(sql.encode()) for sql in statements]
        texts = [cur.fetchone()[0] for cur in cursors]  # type: ignore[index]
    return dict(zip(names, texts, strict=True))


def _rows(text: bytes | str | None) -> list[Row]:
    return orjson.loads(text) if text else []


_IDENTITY = {0: None, 8: "ALWAYS", 16: "BY DEFAULT"}


def _columns_by_relation(query: str, text: bytes | str | None) -> dict[int, list[Column]]:
    """The ``Column``s of query ``columns`` or ``columns_lean`` (see their comments), by
    relation oid. Each is built unfrozen, then made a ``Column`` (see ``model.ColumnFields``)."""
    columns_by_rel: dict[int, list[Column]] = {}
    if query == "columns":
        for values in orjson.loads(text or b"[]"):  # rel_oid, then Column's fields in order
            column = ColumnFields(*values[1:])
            column.__class__ = Column
            columns_by_rel.setdefault(values[0], []).append(column)
        return columns_by_rel
    fields, type_rows = orjson.loads(text or b"[[[], [], [], [], [], []], []]")
    types = {row[0]: row[1:] for row in type_rows}
    identity = _IDENTITY
    for rel, name, position, type_oid, dims, flags in zip(*fields, strict=True):
        type_name, type_schema, format_name, format_schema, domain_not_null = types[type_oid]
        column = ColumnFields(
            name,
            position,
            type_name,
            type_schema,
            format_name,
            "",  # data_type, default, generated: present or not, their text left out (lean)
            dims,
            not (flags & 1 or domain_not_null),
            "" if flags & 2 else None,
            identity[flags & 24],
            "" if flags & 4 else None,
            flags & 32 != 0,
            None,
            None,
            format_schema,
        )
        column.__class__ = Column
        columns_by_rel.setdefault(rel, []).append(column)
    return columns_by_rel


def _read(
    conn: Reader,
    schema_rows: list[Row],
    texts: dict[str, bytes | str | None],
    options: TypegenOptions,
    columns_by_rel: dict[int, list[Column]] | None = None,
) -> Catalog:
    """The ``Catalog`` from the queries' texts (``columns_by_rel``: the columns query's,
    already read by ``_columns_by_relation``)."""
    is_libpq = isinstance(conn, LibpqConnection)
    version = int(conn.server_version if is_libpq else conn.info.server_version)
    if columns_by_rel is None:
        query = "columns" if "columns" in texts else "columns_lean"
        columns_by_rel = _columns_by_relation(query, texts[query])
    relation_rows = _rows(texts["relations"])
    constraint_rows = _rows(texts.get("constraints"))
    index_rows = _rows(texts.get("indexes"))
    enum_rows = _rows(texts["enums"])
    composite_rows = _rows(texts["composites"])
    domain_rows = _rows(texts["domains"])
    function_rows = _rows(texts["functions"])
    fk_rows = _rows(texts["foreign_keys"])
    rule_rows = _rows(texts["view_rules"])
    pg_types = tuple(PgType(*row.values()) for row in _rows(texts.get("type_list")))
    view_order = tuple((row["schema"], row["name"]) for row in _rows(texts.get("view_order")))

    constraints_by_rel: dict[int, list[Constraint]] = {}
    for row in constraint_rows:
        constraints_by_rel.setdefault(row["rel_oid"], []).append(constraint_from(row))
    indexes_by_rel: dict[int, list[Index]] = {}
    for row in index_rows:
        indexes_by_rel.setdefault(row["rel_oid"], []).append(index_from(row))

    relations = []
    names_by_oid: dict[int, tuple[str, str]] = {}
    column_names: dict[tuple[int, int], str] = {}
    for row in relation_rows:
        oid = row["oid"]
        cols = sorted(columns_by_rel.get(oid, []), key=_by_position)
        names_by_oid[oid] = (row["schema"], row["name"])
        for col in cols:
            column_names[(oid, col.position)] = col.name
        relations.append(
            relation_from(row, cols, constraints_by_rel.get(oid, []), indexes_by_rel.get(oid, []))
        )

    name_key_columns(conn, fk_rows, column_names, names_by_oid)
    foreign_keys = [relationship_from(row) for row in fk_rows]
    relationships = foreign_keys + view_relationships(
        conn, rule_rows, foreign_keys, names_by_oid, column_names
    )

    return Catalog(
        options=options,
        schemas=tuple(Schema(r["name"], r["owner"], r["comment"]) for r in schema_rows),
        relations=tuple(relations),
        enums=tuple(enum_from(r) for r in enum_rows),
        composites=tuple(composite_from(r) for r in composite_rows),
        domains=tuple(domain_from(r) for r in domain_rows),
        functions=tuple(function_from(r) for r in function_rows),
        relationships=tuple(relationships),
        server_version=version,
        types=pg_types,
        view_order=view_order,
    )


def relation_from(
    row: Row, columns: list[Column], constraints: list[Constraint], indexes: list[Index]
) -> Relation:
    """A relations-query row with its columns (in position order), constraints and indexes."""
    return Relation(
        schema=row["schema"],
        name=row["name"],
        kind=RELATION_KINDS[row["kind"]],
        columns=tuple(columns),
        is_updatable=bool(row["is_updatable"]),
        partition_of=row["partition_of"],
        partition_bound=row["partition_bound"],
        view_definition=row["view_definition"],
        constraints=tuple(sorted(constraints, key=lambda c: c.name)),
        indexes=tuple(sorted(indexes, key=lambda i: i.name)),
        comment=row["comment"],
        rls_enabled=bool(row["rls_enabled"]),
        insert_enabled=bool(row["insert_enabled"]),
        update_enabled=bool(row["update_enabled"]),
        instead_writable=bool(row["instead_writable"]),
    )


def name_key_columns(
    conn: Reader,
    fk_rows: Sequence[Row],
    column_names: MutableMapping[tuple[int, int], str],
    names_by_oid: MutableMapping[int, tuple[str, str]],
) -> None:
    """Give each foreign_keys row its ``columns`` and ``referenced_columns``, named from its
    attnums (``conkey``, ``confkey``): from ``column_names`` (the included relations' columns,
    by (oid, attnum)), the others read by oid (``relation_names``) and added to it and to
    ``names_by_oid``, as ``view_relationships`` adds what it reads."""
    missing = {
        oid
        for row in fk_rows
        for oid, keys in ((row["rel_oid"], row["conkey"]), (row["ref_oid"], row["confkey"]))
        if any((oid, k) not in column_names for k in keys)
    }
    if missing:
        statement = render("relation_names", "array[]::text[]", details=False, oids=sorted(missing))
        if isinstance(conn, LibpqConnection):
            text = conn.batch([statement])[0][0]
        else:
            text = conn.execute(statement.encode()).fetchone()[0]
        for found in _rows(text):
            names_by_oid[found["oid"]] = (found["schema"], found["name"])
            column_names[(found["oid"], found["position"])] = found["column_name"]
    for row in fk_rows:
        rel, ref = row["rel_oid"], row["ref_oid"]
        row["columns"] = [column_names[(rel, k)] for k in row["conkey"] if (rel, k) in column_names]
        row["referenced_columns"] = [
            column_names[(ref, k)] for k in row["confkey"] if (ref, k) in column_names
        ]


def relationship_from(row: Row) -> Relationship:
    """A foreign_keys-query row."""
    return Relationship(
        foreign_key_name=row["foreign_key_name"],
        schema=row["schema"],
        relation=row["relation"],
        columns=tuple(row["columns"]),
        is_one_to_one=bool(row["is_one_to_one"]),
        referenced_schema=row["referenced_schema"],
        referenced_relation=row["referenced_relation"],
        referenced_columns=tuple(row["referenced_columns"]),
        key_schema_quoted=bool(row["key_schema_quoted"]),
        key_schema=row["key_schema"],
    )


def constraint_from(row: Row) -> Constraint:
    return Constraint(row["name"], row["kind"], row["definition"], tuple(row["columns"]))


def index_from(row: Row) -> Index:
    return Index(row["name"], row["definition"], row["is_unique"], row["is_primary"])


def _type_ref(item: Sequence[Any]) -> TypeRef:
    name, schema, relkind, display = item[:4]
    oid = int(item[4]) if len(item) > 4 else 0
    return TypeRef(
        schema=schema, name=name, relation_kind=relkind or None, display=display, oid=oid
    )


def enum_from(row: Row) -> Enum:
    return Enum(row["schema"], row["name"], tuple(row["labels"]), row["comment"])


def domain_from(row: Row) -> Domain:
    return Domain(
        row["schema"],
        row["name"],
        row["base_type"],
        bool(row["not_null"]),
        row["default_value"],
        tuple(row["checks"]),
        row["comment"],
    )


def composite_from(row: Row) -> CompositeType:
    attributes = tuple(Attribute(name=a[0], type=_type_ref(a[1:])) for a in row["attributes"])
    return CompositeType(row["schema"], row["name"], attributes, row["comment"])


def function_from(row: Row) -> Function:
    types = [_type_ref(t) for t in row["arg_types"]]
    count = len(types)
    names = list(row["arg_names"]) + [""] * (count - len(row["arg_names"]))
    modes = [_ARG_MODES[m] for m in row["arg_modes"]] or ["in"] * count
    in_positions = [i for i, m in enumerate(modes) if m in ("in", "inout", "variadic")]
    defaulted = set(in_positions[len(in_positions) - row["default_count"] :])
    if row["default_count"] == 0:
        defaulted = set()
    args = tuple(
        FunctionArg(name=names[i] or "", mode=modes[i], type=types[i], has_default=i in defaulted)
        for i in range(count)
    )
    rows = float(row["rows"] or 0.0)
    return Function(
        schema=row["schema"],
        name=row["name"],
        args=args,
        argument_types=row["argument_types"],
        identity_arguments=row["identity_arguments"],
        result=row["result"] or "",
        return_type=TypeRef(
            schema=row["return_type_schema"],
            name=row["return_type"],
            relation_kind=row["return_relkind"] or None,
            display=row["return_display"],
        ),
        returns_set=bool(row["returns_set"]),
        rows=rows if math.isfinite(rows) else 0.0,
        default_count=row["default_count"],
        language=row["language"],
        volatility=row["volatility"],
        security_definer=bool(row["security_definer"]),
        definition_md5=row["definition_md5"],
        comment=row["comment"],
    )


def view_relationships(
    conn: Reader,
    rule_rows: Sequence[Row],
    foreign_keys: Sequence[Relationship],
    names_by_oid: dict[int, tuple[str, str]],
    column_names: dict[tuple[int, int], str],
    origins_of: Callable[[Row], list[tuple[int, int, int]]] | None = None,
) -> list[Relationship]:
    """Foreign keys seen through views (``relationships``), from the views' rule rows; may
    read the names of relations outside the included schemas that a view reads. Adds to
    ``names_by_oid`` and ``column_names``. ``origins_of``: a rule row's target-list origins
    (default ``relationships.target_list_origins`` of its action; a cache may stand in)."""
    if not rule_rows or not foreign_keys:
        return []
    from ctas7_panel.schema.relationships import (  # only when there are views and keys
        expand_view_relationships,
        resolve_view_sources,
        target_list_origins,
        view_key_dependencies,
    )

    if origins_of is None:
        origins = {row["oid"]: target_list_origins(row["action"]) for row in rule_rows}
    else:
        origins = {row["oid"]: origins_of(row) for row in rule_rows}
    for row in rule_rows:
        names_by_oid.setdefault(row["oid"], (row["schema"], row["name"]))
    wanted = {oid for oid in origins}
    for entries in origins.values():
        wanted.update(tbl for _, tbl, _ in entries)
    known_columns = {oid for oid, _ in column_names}
    missing = [oid for oid in wanted if oid not in known_columns]
    if missing:
        statement = render("relation_names", "array[]::text[]", details=False, oids=missing)
        if isinstance(conn, LibpqConnection):
            text = conn.batch([statement])[0][0]
        else:
            text = conn.execute(statement.encode()).fetchone()[0]
        for row in _rows(text):
            names_by_oid[row["oid"]] = (row["schema"], row["name"])
            column_names[(row["oid"], row["position"])] = row["column_name"]
    direct: dict[tuple[str, str], list[tuple[int, str, tuple[str, str], str]]] = {}
    for view_oid, entries in origins.items():
        view = names_by_oid[view_oid]
        items = direct.setdefault(view, [])
        for resno, tbl, col in entries:
            view_column = column_names.get((view_oid, resno))
            source = names_by_oid.get(tbl)
            source_column = column_names.get((tbl, col))
            if view_column is None or source is None or source_column is None:
                continue
            items.append((resno, view_column, source, source_column))
    sources = resolve_view_sources(direct)
    deps = view_key_dependencies(sources, foreign_keys)
    return expand_view_relationships(foreign_keys, deps)


class _CallableModule(types.ModuleType):
    """Lets ``from ctas7_panel.schema import introspect`` be called even after this module
    (same name as the function) has been imported and so shadows the package attribute."""

    def __call__(
        self,
        conn: Reader,
        options: TypegenOptions,
        *,
        details: bool = True,
        type_list: bool = False,
    ) -> Catalog:
        return introspect(conn, options, details=details, type_list=type_list)


sys.modules[__name__].__class__ = _CallableModule
