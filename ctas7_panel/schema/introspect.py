"""Read a ``Catalog`` from PostgreSQL over one psycopg 3 connection.

One catalog query per ``.sql`` file in ``ctas7_panel/schema/queries/``, loaded once with
``importlib.resources``. Rows become the frozen values of ``model``; OIDs are used only to
join rows here and never leave this module. Runs in one read-only transaction, so every query
sees the same catalog state.
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Sequence
from functools import cache
from importlib import resources
from operator import attrgetter
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ctas7_panel.errors import SchemaError
from ctas7_panel.schema.gcpause import gc_paused
from ctas7_panel.schema.model import (
    RELATION_KINDS,
    Attribute,
    Catalog,
    Column,
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
from ctas7_panel.schema.relationships import (
    expand_view_relationships,
    resolve_view_sources,
    target_list_origins,
    view_key_dependencies,
)

Row = dict[str, Any]

_by_position = attrgetter("position")
_ARG_MODES = {"i": "in", "o": "out", "b": "inout", "v": "variadic", "t": "table"}


@cache
def query_text(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    return resources.files("ctas7_panel.schema.queries").joinpath(f"{name}.sql").read_text()


def _fetch(
    conn: psycopg.Connection[Any], name: str, params: dict[str, Any] | None = None
) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query_text(name).encode(), params)
        return cur.fetchall()


def included_schemas(rows: Sequence[Row], options: TypegenOptions) -> list[Row]:
    """The schema rows the options select (unknown names are ignored, as Supabase does)."""
    if options.schemas is None:
        return list(rows)
    wanted = set(options.schemas)
    return [row for row in rows if row["name"] in wanted]


def introspect(
    conn: psycopg.Connection[Any],
    options: TypegenOptions,
    *,
    details: bool = True,
    type_list: bool = False,
) -> Catalog:
    """Read the catalog of the schemas ``options`` selects into a frozen ``Catalog``.

    ``details=False`` skips constraints and indexes (the generator does not use them; the
    snapshot does), which saves about a quarter of the time on large schemas.
    ``type_list=True`` also reads ``Catalog.types`` and ``Catalog.view_order``, which the
    Python, Go and Swift generators need (``languages.needs_type_list``).
    """
    try:
        with gc_paused():
            return _introspect(conn, options, details, type_list)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"cannot read the database catalog: {reason}") from exc


def _introspect(
    conn: psycopg.Connection[Any], options: TypegenOptions, details: bool, type_list: bool
) -> Catalog:
    if not conn.autocommit:
        with conn.transaction():
            return _read(conn, options, details, type_list)
    conn.execute("begin isolation level repeatable read read only")
    try:
        return _read(conn, options, details, type_list)
    finally:
        conn.execute("rollback")


def _read(
    conn: psycopg.Connection[Any], options: TypegenOptions, details: bool, type_list: bool
) -> Catalog:
    schema_rows = included_schemas(_fetch(conn, "schemas"), options)
    names = [row["name"] for row in schema_rows]
    params = {"schemas": names}
    # The other queries go out together (pipeline mode): the server runs them back to back
    # while this side converts the rows that have already arrived.
    queries: list[tuple[str, dict[str, Any] | None, bool]] = [
        ("columns", params, False),  # the largest result first: converted while others run
        ("relations", params, True),
        ("foreign_keys", None, True),
        ("functions", params, True),
        ("enums", None, True),
        ("composites", None, True),
        ("domains", params, True),
        ("view_rules", None, True),
    ]
    if details:
        queries += [("constraints", params, True), ("indexes", params, True)]
    if type_list:
        queries += [("type_list", None, False), ("view_order", params, False)]
    with conn.pipeline():
        cursors: dict[str, psycopg.Cursor[Any]] = {}
        for name, query_params, as_dicts in queries:
            cur = conn.cursor(row_factory=dict_row) if as_dicts else conn.cursor()
            cur.execute(query_text(name).encode(), query_params)
            cursors[name] = cur
        version_cur = conn.execute("select current_setting('server_version_num')")

        columns_by_rel: dict[int, list[Column]] = {}
        for values in cursors["columns"].fetchall():  # rel_oid, then Column's fields in order
            columns_by_rel.setdefault(values[0], []).append(Column(*values[1:]))
        rows: dict[str, list[Row]] = {
            name: cursors[name].fetchall() for name, _, as_dicts in queries if as_dicts
        }
        pg_types = (
            tuple(PgType(*values) for values in cursors["type_list"].fetchall())
            if type_list
            else ()
        )
        view_order = (
            tuple((schema, name) for schema, name in cursors["view_order"].fetchall())
            if type_list
            else ()
        )
        version = int(version_cur.fetchone()[0])  # type: ignore[index]
    for cur in cursors.values():
        cur.close()
    relation_rows = rows["relations"]
    constraint_rows = rows.get("constraints", [])
    index_rows = rows.get("indexes", [])
    enum_rows = rows["enums"]
    composite_rows = rows["composites"]
    domain_rows = rows["domains"]
    function_rows = rows["functions"]
    fk_rows = rows["foreign_keys"]
    rule_rows = rows["view_rules"]

    constraints_by_rel: dict[int, list[Constraint]] = {}
    for row in constraint_rows:
        constraints_by_rel.setdefault(row["rel_oid"], []).append(
            Constraint(row["name"], row["kind"], row["definition"], tuple(row["columns"]))
        )
    indexes_by_rel: dict[int, list[Index]] = {}
    for row in index_rows:
        indexes_by_rel.setdefault(row["rel_oid"], []).append(
            Index(row["name"], row["definition"], row["is_unique"], row["is_primary"])
        )

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
            Relation(
                schema=row["schema"],
                name=row["name"],
                kind=RELATION_KINDS[row["kind"]],
                columns=tuple(cols),
                is_updatable=bool(row["is_updatable"]),
                partition_of=row["partition_of"],
                partition_bound=row["partition_bound"],
                view_definition=row["view_definition"],
                constraints=tuple(sorted(constraints_by_rel.get(oid, []), key=lambda c: c.name)),
                indexes=tuple(sorted(indexes_by_rel.get(oid, []), key=lambda i: i.name)),
                comment=row["comment"],
                rls_enabled=bool(row["rls_enabled"]),
                insert_enabled=bool(row["insert_enabled"]),
                update_enabled=bool(row["update_enabled"]),
                instead_writable=bool(row["instead_writable"]),
            )
        )

    foreign_keys = [
        Relationship(
            foreign_key_name=row["foreign_key_name"],
            schema=row["schema"],
            relation=row["relation"],
            columns=tuple(row["columns"]),
            is_one_to_one=bool(row["is_one_to_one"]),
            referenced_schema=row["referenced_schema"],
            referenced_relation=row["referenced_relation"],
            referenced_columns=tuple(row["referenced_columns"]),
            key_schema_quoted=bool(row["key_schema_quoted"]),
        )
        for row in fk_rows
    ]
    relationships = foreign_keys + _view_relationships(
        conn, rule_rows, foreign_keys, names_by_oid, column_names
    )

    return Catalog(
        options=options,
        schemas=tuple(Schema(r["name"], r["owner"], r["comment"]) for r in schema_rows),
        relations=tuple(relations),
        enums=tuple(
            Enum(r["schema"], r["name"], tuple(r["labels"]), r["comment"]) for r in enum_rows
        ),
        composites=tuple(_composite(r) for r in composite_rows),
        domains=tuple(
            Domain(
                r["schema"],
                r["name"],
                r["base_type"],
                bool(r["not_null"]),
                r["default_value"],
                tuple(r["checks"]),
                r["comment"],
            )
            for r in domain_rows
        ),
        functions=tuple(_function(r) for r in function_rows),
        relationships=tuple(relationships),
        server_version=version,
        types=pg_types,
        view_order=view_order,
    )


def _type_ref(item: Sequence[Any]) -> TypeRef:
    name, schema, relkind, display = item[:4]
    oid = int(item[4]) if len(item) > 4 else 0
    return TypeRef(
        schema=schema, name=name, relation_kind=relkind or None, display=display, oid=oid
    )


def _composite(row: Row) -> CompositeType:
    attributes = tuple(Attribute(name=a[0], type=_type_ref(a[1:])) for a in row["attributes"])
    return CompositeType(row["schema"], row["name"], attributes, row["comment"])


def _function(row: Row) -> Function:
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


def _view_relationships(
    conn: psycopg.Connection[Any],
    rule_rows: Sequence[Row],
    foreign_keys: Sequence[Relationship],
    names_by_oid: dict[int, tuple[str, str]],
    column_names: dict[tuple[int, int], str],
) -> list[Relationship]:
    if not rule_rows or not foreign_keys:
        return []
    origins = {row["oid"]: target_list_origins(row["action"]) for row in rule_rows}
    for row in rule_rows:
        names_by_oid.setdefault(row["oid"], (row["schema"], row["name"]))
    wanted = {oid for oid in origins}
    for entries in origins.values():
        wanted.update(tbl for _, tbl, _ in entries)
    known_columns = {oid for oid, _ in column_names}
    missing = [oid for oid in wanted if oid not in known_columns]
    if missing:
        for row in _fetch(conn, "relation_names", {"oids": missing}):
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
        conn: psycopg.Connection[Any],
        options: TypegenOptions,
        *,
        details: bool = True,
        type_list: bool = False,
    ) -> Catalog:
        return introspect(conn, options, details=details, type_list=type_list)


sys.modules[__name__].__class__ = _CallableModule
