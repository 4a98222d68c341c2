"""Random database schemas for differential typegen tests: a spec, its SQL, a Hypothesis strategy.

``DatabaseSpec`` is plain data: schemas, enums, composite types, domains, tables (columns of
base, array, enum, domain and composite types; identity, defaults, generated columns; keys
in any column order; foreign keys whose column order may differ from the referenced key's),
views and materialized views (renamed, repeated and computed columns, views of views) and
functions (overloads with named, unnamed and row-typed arguments, defaults, OUT and INOUT
arguments, scalar, row, set and RETURNS TABLE results). ``DatabaseSpec.sql()`` creates it in
an empty database. ``databases()`` is the Hypothesis strategy (Hypothesis is a test
dependency, imported when the strategy is built); shrinking works on the spec, so a failure
comes down to a small schema.

Names come from a pool with the awkward cases: camelCase, spaces, dashes, accents, CJK, an
emoji, reserved words, leading digits, ``$``, quotes. Names that Supabase's generator crashes
on (``constructor``, ``toString``, ...) are left out: those are documented deviations with
their own test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

NAMES: tuple[str, ...] = (
    "id", "name", "user_id", "owner", "title", "createdAt", "Status", "data", "a b", "a-b",
    "a_b", "ab", "über", "éclair", "Eclair", "日本", "🚀", "select", "order", "user", "_private",
    "$cost", "1st", "it's", 'say "hi"', "Z", "z", "x1", "x10", "x2", "value", "kind",
)  # fmt: skip
SCHEMAS: tuple[str, ...] = ("api", "private", "My Schema", "Über", "select", "app_2")
LABELS: tuple[str, ...] = ("a", "B", "b", "draft", "in review", "it's", 'say "hi"', "", "ü", "1")
BASE_TYPES: tuple[str, ...] = (
    "int2", "int4", "int8", "numeric", "float8", "text", "varchar(20)", "bool", "jsonb",
    "json", "uuid", "timestamptz", "date", "bytea", "inet", "int4[]", "text[]", "jsonb[]",
    "tsvector", "interval", "int4range",
)  # fmt: skip
KEY_TYPES: tuple[str, ...] = ("int4", "int8", "text", "uuid", "date", "varchar(20)")
ARG_TYPES: tuple[str, ...] = ("text", "jsonb", "json", "int4", "bool", "uuid", "text[]")


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    return f"{ident(schema)}.{ident(name)}"


@dataclass(frozen=True, slots=True)
class EnumSpec:
    schema: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompositeSpec:
    schema: str
    name: str
    attributes: tuple[tuple[str, str], ...]  # (name, SQL type)


@dataclass(frozen=True, slots=True)
class DomainSpec:
    schema: str
    name: str
    base: str  # SQL type
    not_null: bool


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    type: str  # SQL type
    not_null: bool = False
    default: str | None = None  # SQL expression
    identity: str | None = None  # "always" | "by default" (integer columns)
    generated: str | None = None  # SQL expression of a stored generated column


@dataclass(frozen=True, slots=True)
class ForeignKeySpec:
    columns: tuple[str, ...]
    table: tuple[str, str]
    referenced: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableSpec:
    schema: str
    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...] = ()  # in constraint order
    unique: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKeySpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ViewSpec:
    schema: str
    name: str
    source: tuple[str, str]  # a table or an earlier view
    columns: tuple[tuple[str, str], ...]  # (source column, or "" for a computed one; alias)
    materialized: bool = False


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    schema: str
    name: str
    args: tuple[tuple[str, str, str, bool], ...]  # (mode, name or "", SQL type, has default)
    returns: str  # SQL type, "setof T", "table (...)" or "" (OUT arguments decide)


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    schemas: tuple[str, ...]  # created besides public
    included: tuple[str, ...]  # the generator's schema list
    enums: tuple[EnumSpec, ...] = ()
    composites: tuple[CompositeSpec, ...] = ()
    domains: tuple[DomainSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    views: tuple[ViewSpec, ...] = ()
    functions: tuple[FunctionSpec, ...] = field(default=())

    def sql(self) -> str:
        """The statements that create this schema in an empty database."""
        out: list[str] = [f"create schema {ident(s)};" for s in self.schemas]
        for e in self.enums:
            labels = ", ".join(literal(x) for x in e.labels)
            out.append(f"create type {qualified(e.schema, e.name)} as enum ({labels});")
        for c in self.composites:
            attrs = ", ".join(f"{ident(n)} {t}" for n, t in c.attributes)
            out.append(f"create type {qualified(c.schema, c.name)} as ({attrs});")
        for d in self.domains:
            null = " not null" if d.not_null else ""
            out.append(f"create domain {qualified(d.schema, d.name)} as {d.base}{null};")
        for t in self.tables:
            out.append(_table_sql(t))
        for t in self.tables:
            for i, fk in enumerate(t.foreign_keys):
                out.append(
                    f"alter table {qualified(t.schema, t.name)} add constraint "
                    f"{ident(f'{t.name[:20]}_fk{i}')} foreign key "
                    f"({', '.join(map(ident, fk.columns))}) references "
                    f"{qualified(*fk.table)} ({', '.join(map(ident, fk.referenced))});"
                )
        for v in self.views:
            cols = ", ".join(
                (f"{ident(src)} as {ident(alias)}" if src else f"1 as {ident(alias)}")
                for src, alias in v.columns
            )
            kind = "materialized view" if v.materialized else "view"
            out.append(
                f"create {kind} {qualified(v.schema, v.name)} as select {cols} "
                f"from {qualified(*v.source)};"
            )
        for f in self.functions:
            out.append(_function_sql(f))
        return "\n".join(out) + "\n"


def _table_sql(t: TableSpec) -> str:
    parts = []
    for c in t.columns:
        text = f"{ident(c.name)} {c.type}"
        if c.identity:
            text += f" generated {c.identity} as identity"
        elif c.generated:
            text += f" generated always as ({c.generated}) stored"
        elif c.default:
            text += f" default {c.default}"
        if c.not_null:
            text += " not null"
        parts.append(text)
    if t.primary_key:
        parts.append(f"primary key ({', '.join(map(ident, t.primary_key))})")
    if t.unique:
        parts.append(f"unique ({', '.join(map(ident, t.unique))})")
    return f"create table {qualified(t.schema, t.name)} ({', '.join(parts)});"


def _function_sql(f: FunctionSpec) -> str:
    args = []
    for mode, name, type_, default in f.args:
        text = f"{mode} {ident(name) + ' ' if name else ''}{type_}"
        if default:
            text += " default null"
        args.append(text)
    returns = f" returns {f.returns}" if f.returns else ""
    has_out = any(m in ("out", "inout") for m, _, _, _ in f.args)
    bare = (
        has_out or not f.returns or f.returns.startswith(("setof", "table")) or f.returns == "void"
    )
    body = "begin return; end" if bare else "begin return null; end"
    return (
        f"create function {qualified(f.schema, f.name)}({', '.join(args)}){returns} "
        f"language plpgsql as $$ {body} $$;"
    )


def databases(max_tables: int = 4, max_functions: int = 5) -> Any:
    """A Hypothesis strategy of ``DatabaseSpec`` values (small ones, and they shrink)."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw: Any) -> DatabaseSpec:
        extra = draw(st.lists(st.sampled_from(SCHEMAS), max_size=2, unique=True))
        schemas = ["public", *extra]
        schema = st.sampled_from(schemas)
        names = st.sampled_from(NAMES)
        used: set[tuple[str, str]] = set()  # type names and relation names share a namespace

        def fresh(in_schema: str) -> str | None:
            for _ in range(8):
                name = draw(names)
                if (in_schema, name) not in used:
                    used.add((in_schema, name))
                    return name
            return None

        enums = []
        for _ in range(draw(st.integers(0, 2))):
            where = draw(schema)
            name = fresh(where)
            if name:
                labels = tuple(
                    draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=4, unique=True))
                )
                enums.append(EnumSpec(where, name, labels))
        enum_types = [qualified(e.schema, e.name) for e in enums]
        composites = []
        for _ in range(draw(st.integers(0, 2))):
            where = draw(schema)
            name = fresh(where)
            if name:
                attr_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
                pool = list(BASE_TYPES[:12]) + enum_types
                attrs = tuple((n, draw(st.sampled_from(pool))) for n in attr_names)
                composites.append(CompositeSpec(where, name, attrs))
        composite_types = [qualified(c.schema, c.name) for c in composites]
        domains = []
        for _ in range(draw(st.integers(0, 2))):
            where = draw(schema)
            name = fresh(where)
            if name:
                base = draw(st.sampled_from(["int4", "text", "jsonb", "int4[]", *enum_types]))
                domains.append(DomainSpec(where, name, base, draw(st.booleans())))
        domain_types = [qualified(d.schema, d.name) for d in domains]
        user_types = enum_types + composite_types + domain_types
        column_types = list(BASE_TYPES) + user_types + [f"{t}[]" for t in enum_types]

        tables: list[TableSpec] = []
        for _ in range(draw(st.integers(1, max_tables))):
            where = draw(schema)
            name = fresh(where)
            if not name:
                continue
            col_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
            cols = []
            for n in col_names:
                type_ = draw(st.sampled_from(column_types))
                kind = draw(st.sampled_from(["plain", "plain", "default", "identity", "generated"]))
                identity = generated = default = None
                if kind == "identity":
                    type_ = "int8"
                    identity = draw(st.sampled_from(["always", "by default"]))
                elif kind == "generated":
                    type_, generated = "int4", "1"
                elif kind == "default":
                    default = "null"
                cols.append(ColumnSpec(n, type_, draw(st.booleans()), default, identity, generated))
            keyable = [c.name for c in cols if c.type in KEY_TYPES or c.type == "int8"]
            pk: tuple[str, ...] = ()
            if keyable and draw(st.booleans()):
                pk = tuple(draw(st.permutations(keyable))[: draw(st.integers(1, len(keyable)))])
            unique: tuple[str, ...] = ()
            if keyable and draw(st.booleans()):
                unique = tuple(draw(st.permutations(keyable))[: draw(st.integers(1, len(keyable)))])
            tables.append(TableSpec(where, name, tuple(cols), pk, unique))

        # foreign keys: new columns, of the referenced key's types, in a permuted order
        for i, t in enumerate(tables):
            targets = [u for u in tables if u.primary_key or u.unique]
            if not targets or not draw(st.booleans()):
                continue
            target = draw(st.sampled_from(targets))
            key = draw(st.sampled_from([k for k in (target.primary_key, target.unique) if k]))
            order = draw(st.permutations(range(len(key))))
            types = {c.name: c.type for c in target.columns}
            taken = {c.name for c in t.columns}
            fk_cols: list[ColumnSpec] = []
            for j in order:
                candidates = [n for n in NAMES if n not in taken]
                column_name = draw(st.sampled_from(candidates))
                taken.add(column_name)
                fk_cols.append(ColumnSpec(column_name, types[key[j]]))
            fk = ForeignKeySpec(
                tuple(c.name for c in fk_cols), (target.schema, target.name),
                tuple(key[j] for j in order),
            )  # fmt: skip
            tables[i] = TableSpec(
                t.schema, t.name, t.columns + tuple(fk_cols), t.primary_key, t.unique, (fk,)
            )

        views: list[ViewSpec] = []
        sources: list[tuple[tuple[str, str], list[str]]] = [
            ((t.schema, t.name), [c.name for c in t.columns]) for t in tables
        ]
        for _ in range(draw(st.integers(0, 2)) if sources else 0):
            where = draw(schema)
            name = fresh(where)
            if not name:
                continue
            source, available = draw(st.sampled_from(sources))
            picked = draw(st.lists(st.sampled_from(available), min_size=1, max_size=4))
            aliases = draw(st.lists(names, min_size=len(picked), max_size=len(picked), unique=True))
            columns = [(src, alias) for src, alias in zip(picked, aliases, strict=True)]
            if draw(st.booleans()):
                extra_alias = next((n for n in NAMES if n not in aliases), "computed")
                columns.append(("", extra_alias))
            materialized = draw(st.integers(0, 4)) == 0
            views.append(ViewSpec(where, name, source, tuple(columns), materialized))
            if not materialized:
                sources.append(((where, name), [alias for _, alias in columns]))

        rows = [qualified(t.schema, t.name) for t in tables]
        arg_types = list(ARG_TYPES) + rows + enum_types + composite_types
        results = list(BASE_TYPES[:10]) + rows + enum_types + composite_types + ["void"]
        functions: list[FunctionSpec] = []
        for _ in range(draw(st.integers(0, max_functions))):
            where = draw(schema)
            name = draw(names)
            seen: set[tuple[str, ...]] = {
                tuple(a[2] for a in f.args if a[0] in ("in", "inout"))
                for f in functions
                if (f.schema, f.name) == (where, name)
            }
            args: list[tuple[str, str, str, bool]] = []
            defaulted = False
            arg_names = draw(st.lists(names, max_size=3, unique=True))
            for n in arg_names:
                mode = draw(st.sampled_from(["in", "in", "in", "out", "inout"]))
                named = draw(st.booleans()) or mode != "in"
                has_default = mode != "out" and (defaulted or draw(st.integers(0, 3)) == 0)
                defaulted = defaulted or has_default
                args.append(
                    (mode, n if named else "", draw(st.sampled_from(arg_types)), has_default)
                )
            signature = tuple(a[2] for a in args if a[0] in ("in", "inout"))
            if signature in seen:
                continue
            if any(m in ("out", "inout") for m, _, _, _ in args):
                returns = ""
            else:
                shape = draw(st.sampled_from(["scalar", "scalar", "setof", "table"]))
                base = draw(st.sampled_from(results))
                if shape == "setof" and base != "void":
                    returns = f"setof {base}"
                elif shape == "table":
                    cols = draw(st.lists(names, min_size=1, max_size=3, unique=True))
                    returns = (
                        "table ("
                        + ", ".join(
                            f"{ident(c)} {draw(st.sampled_from(BASE_TYPES[:10]))}" for c in cols
                        )
                        + ")"
                    )
                else:
                    returns = base
            functions.append(FunctionSpec(where, name, tuple(args), returns))

        included = tuple(s for s in schemas if s == "public" or draw(st.integers(0, 3)) > 0)
        return DatabaseSpec(
            schemas=tuple(extra),
            included=included,
            enums=tuple(enums),
            composites=tuple(composites),
            domains=tuple(domains),
            tables=tuple(tables),
            views=tuple(views),
            functions=tuple(functions),
        )

    return build()


def example_specs(count: int, seed: int) -> Sequence[DatabaseSpec]:
    """About ``count`` specs drawn reproducibly from ``seed`` (for scripts; tests use
    ``@given``). Hypothesis only generates here: nothing fails, so nothing shrinks."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    found: list[DatabaseSpec] = []

    @hseed(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(databases())
    def collect(spec: DatabaseSpec) -> None:
        found.append(spec)

    collect()
    return found
