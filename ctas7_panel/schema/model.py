"""The frozen model of a database schema, as read from the PostgreSQL catalog.

Everything is a frozen, slotted dataclass of plain values: names, never OIDs, so two databases
built from the same SQL produce equal models. ``introspect`` builds a ``Catalog``; ``typegen``,
``snapshot`` and ``diff`` read it.

::

    Catalog
    ├── schemas: Schema            (the included schemas, with comments)
    ├── relations: Relation        tables, partitions, foreign tables, views, materialized views
    │   ├── columns: Column
    │   ├── constraints: Constraint
    │   └── indexes: Index
    ├── enums: Enum                (every non-system schema: types are looked up by name)
    ├── composites: CompositeType  (idem)
    ├── domains: Domain            (included schemas)
    ├── functions: Function        (included schemas, prokind 'f')
    │   └── args: FunctionArg
    ├── relationships: Relationship  (foreign keys and the view relationships derived from them)
    ├── types: PgType              (every schema's types, oldest first; read for Python/Go/Swift)
    └── view_order: (schema, name) (views and materialized views in pg_class's physical order)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.schema.options import TypegenOptions

RELATION_KINDS = {
    "r": "table",
    "p": "partitioned_table",
    "f": "foreign_table",
    "v": "view",
    "m": "materialized_view",
}
TABLE_KINDS = frozenset({"table", "partitioned_table", "foreign_table"})
VIEW_KINDS = frozenset({"view", "materialized_view"})


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A type by name: ``name`` is ``pg_type.typname`` (``int4``, ``_text``, ``mood``)."""

    schema: str
    name: str
    relation_kind: str | None = None  # relkind of typrelid: 'c' composite, 'r' table row, ...
    display: str = ""  # format_type(oid, NULL) under the session's search_path
    # The type's OID: only for the order Supabase's generator lists conflicting overloads
    # in (by argument type OID); not part of equality, never in a snapshot.
    oid: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Schema:
    name: str
    owner: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    position: int  # attnum
    type_name: str  # typname of the declared type ("_int4", "email", "mood")
    type_schema: str
    format: str  # typname, or the base type's for a domain (postgres-meta's "format")
    data_type: str  # format_type(atttypid, atttypmod): "character varying(50)"
    array_dims: int
    is_nullable: bool  # not (attnotnull or a NOT NULL domain)
    default: str | None  # pg_get_expr of the default; None for none and for generated columns
    identity: str | None  # "ALWAYS" | "BY DEFAULT"
    generated: str | None  # the generation expression of a STORED generated column
    is_updatable: bool
    collation: str | None = None
    comment: str | None = None
    format_schema: str = ""  # schema of ``format``'s type (the base type's, for a domain)

    @property
    def has_default(self) -> bool:
        return self.default is not None or self.generated is not None or self.identity is not None


# ``Column``'s slots, same order, without the frozen ``__setattr__``. A frozen dataclass sets
# each field through ``object.__setattr__``, five times slower than a plain store (15 ms for
# big_1000's 12,450 columns): the catalog reader builds a ``ColumnFields`` per row and then
# makes it a ``Column`` (``obj.__class__ = Column``, allowed as the slots are the same), which
# is then as frozen, equal and hashable as one built by ``Column(...)``.
ColumnFields: type[Any] = dataclass(slots=True, eq=False, repr=False, match_args=False)(
    type("ColumnFields", (), {"__annotations__": dict(Column.__annotations__)})
)


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    kind: str  # "p" "u" "f" "c" "x" "t"
    definition: str  # pg_get_constraintdef
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    definition: str  # pg_get_indexdef
    is_unique: bool
    is_primary: bool


@dataclass(frozen=True, slots=True)
class Relation:
    schema: str
    name: str
    kind: str  # one of RELATION_KINDS' values
    columns: tuple[Column, ...]
    is_updatable: bool = False  # views: (pg_relation_is_updatable(oid, false) & 20) = 20
    partition_of: str | None = None  # "schema.parent" for a partition
    partition_bound: str | None = None
    view_definition: str | None = None
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    comment: str | None = None
    rls_enabled: bool = False
    # views, counting INSTEAD OF triggers and INSTEAD rules: pg_relation_is_updatable(oid, true)
    insert_enabled: bool = False  # & 8
    update_enabled: bool = False  # & 4
    # an INSTEAD OF INSERT/UPDATE trigger or an unconditional INSTEAD INSERT/UPDATE rule
    # makes every column of a view writable
    instead_writable: bool = False

    @property
    def is_table(self) -> bool:
        return self.kind in TABLE_KINDS

    @property
    def is_view(self) -> bool:
        return self.kind in VIEW_KINDS


@dataclass(frozen=True, slots=True)
class Enum:
    schema: str
    name: str
    labels: tuple[str, ...]
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    type: TypeRef


@dataclass(frozen=True, slots=True)
class CompositeType:
    schema: str
    name: str
    attributes: tuple[Attribute, ...]
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Domain:
    schema: str
    name: str
    base_type: str  # format_type of the base type
    not_null: bool
    default: str | None
    checks: tuple[str, ...] = ()
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionArg:
    name: str  # "" when unnamed
    mode: str  # "in" "out" "inout" "variadic" "table"
    type: TypeRef
    has_default: bool  # true semantics: this input argument has a default


@dataclass(frozen=True, slots=True)
class Function:
    schema: str
    name: str
    args: tuple[FunctionArg, ...]  # every argument, in declaration order
    argument_types: str  # pg_get_function_arguments()
    identity_arguments: str  # pg_get_function_identity_arguments()
    result: str  # pg_get_function_result()
    return_type: TypeRef
    returns_set: bool
    rows: float  # prorows
    default_count: int  # pronargdefaults
    language: str = "sql"
    volatility: str = "v"
    security_definer: bool = False
    definition_md5: str = ""
    comment: str | None = None

    @property
    def in_args(self) -> tuple[FunctionArg, ...]:
        return tuple(a for a in self.args if a.mode in ("in", "inout", "variadic"))


@dataclass(frozen=True, slots=True)
class Relationship:
    foreign_key_name: str
    schema: str
    relation: str
    columns: tuple[str, ...]
    is_one_to_one: bool
    referenced_schema: str
    referenced_relation: str
    referenced_columns: tuple[str, ...]
    # the foreign key's schema needs quoting (quote_ident(name) <> name); for a relationship
    # through a view, that of the underlying key. Supabase's generator 0.99.0 loses the
    # columns of such keys when it is given a schema list (it filters on regnamespace::text).
    key_schema_quoted: bool = False
    key_schema: str = ""  # the foreign key's own schema (that of the underlying key, for a view)


@dataclass(frozen=True, slots=True)
class PgType:
    """A type as Supabase's Python, Go and Swift generators see it: any type of any schema,
    system ones included, looked up by its bare name. ``relation_kind`` is the relkind of its
    row relation ('c' composite, 'r' table, 'v' view, ...) or '' for none."""

    schema: str
    name: str
    relation_kind: str = ""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the generator, the snapshot and the diff need, with no OIDs."""

    options: TypegenOptions
    schemas: tuple[Schema, ...]
    relations: tuple[Relation, ...]
    enums: tuple[Enum, ...]
    composites: tuple[CompositeType, ...]
    domains: tuple[Domain, ...]
    functions: tuple[Function, ...]
    relationships: tuple[Relationship, ...]
    server_version: int = 0
    types: tuple[PgType, ...] = ()  # only when introspected with type_list=True
    view_order: tuple[tuple[str, str], ...] = ()  # idem

    @property
    def schema_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.schemas)

    def relation(self, schema: str, name: str) -> Relation | None:
        for rel in self.relations:
            if rel.schema == schema and rel.name == name:
                return rel
        return None
