"""``Catalog`` -> TypeScript, byte-identical to ``supabase gen types typescript`` (pure).

The output is what postgres-meta v0.98.0 prints after prettier 3.5.3 (see the spec in
``docs/typegen.md``). The work is in two steps: the catalog becomes a small TypeScript type
tree (``Obj``, ``Union``, ``Arr``, ...), following the generator's rules for names, types,
nullability and ordering; the tree is printed with prettier's layout rules (``tsdoc``). The
large, regular parts (table columns, relationships, enums) take a fast path that writes a
member on one line whenever prettier would, and only hand the rest to the document printer.

Where Supabase's generator crashes (functions named after ``Object.prototype`` members) this
one does not; those cases are listed in ``docs/typegen.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.collation import sort_key
from ctas7_panel.schema.model import (
    Catalog,
    Column,
    Function,
    FunctionArg,
    Relation,
    Relationship,
    TypeRef,
)
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.tsdoc import (
    HARDLINE,
    LINE,
    PRINT_WIDTH,
    SOFTLINE,
    Align,
    Doc,
    Group,
    IfBreak,
    Indent,
    join,
    print_doc,
    string_width,
    ts_key,
    ts_string,
)

# --------------------------------------------------------------------------- type tree


@dataclass(slots=True, unsafe_hash=True)
class Atom:
    """A type printed as fixed text: a keyword, a string literal, ``Database["s"]...``."""

    text: str
    is_null: bool = False


@dataclass(slots=True, unsafe_hash=True)
class Member:
    key: str  # printed key
    optional: bool
    type: TsType
    comments: tuple[str, ...] = ()
    flat: str | None = None  # the type's one-line text, when known and free of hard breaks


@dataclass(slots=True, unsafe_hash=True)
class Obj:
    members: tuple[Member, ...]
    expanded: bool  # written with a newline after "{" in the template: prettier keeps it open


@dataclass(slots=True, unsafe_hash=True)
class Union:
    members: tuple[TsType, ...]


@dataclass(slots=True, unsafe_hash=True)
class Arr:
    element: TsType


@dataclass(slots=True, unsafe_hash=True)
class Intersection:
    left: TsType
    right: TsType


@dataclass(slots=True, unsafe_hash=True)
class Tuple:
    items: tuple[TsType, ...]


TsType = Atom | Obj | Union | Arr | Intersection | Tuple

NULL = Atom("null", is_null=True)
NEVER = Atom("never")
UNKNOWN = Atom("unknown")
TRUE = Atom("true")
FALSE = Atom("false")
NEVER_MEMBER = Member("[_ in never]", False, NEVER)


def lit(value: str) -> Atom:
    return _lit(value)


@lru_cache(maxsize=65536)
def _lit(value: str) -> Atom:
    return Atom(ts_string(value))


def simple(key: str, t: TsType, optional: bool = False) -> Member:
    """A member whose type has no hard line breaks, with its one-line text precomputed."""
    return Member(key, optional, t, flat=_flat(t))


def ref(*parts: str) -> Atom:
    return Atom("Database" + "".join(f"[{ts_string(p)}]" for p in parts))


def union(members: Iterable[TsType]) -> TsType:
    flat: list[TsType] = []
    for m in members:
        flat.extend(m.members if isinstance(m, Union) else (m,))
    return flat[0] if len(flat) == 1 else Union(tuple(flat))


def nullable(t: TsType, is_nullable: bool = True) -> TsType:
    """``T | null``, except that ``unknown`` already admits null."""
    if not is_nullable or t == UNKNOWN:
        return t
    return union((t, NULL))


# --------------------------------------------------------------------------- printing


@lru_cache(maxsize=4096)
def _has_hard(t: TsType) -> bool:
    if isinstance(t, Atom):
        return False
    if isinstance(t, Obj):
        return (t.expanded and bool(t.members)) or any(_has_hard(m.type) for m in t.members)
    if isinstance(t, Union):
        return any(_has_hard(m) for m in t.members)
    if isinstance(t, Arr):
        return _has_hard(t.element)
    if isinstance(t, Intersection):
        return _has_hard(t.left) or _has_hard(t.right)
    return any(_has_hard(i) for i in t.items)


def _flat(t: TsType) -> str:
    if isinstance(t, Atom):
        return t.text
    if isinstance(t, Union):
        return " | ".join(_flat(m) for m in t.members)
    if isinstance(t, Arr):
        inner = _flat(t.element)
        if isinstance(t.element, Union | Intersection):
            inner = f"({inner})"
        return inner + "[]"
    if isinstance(t, Obj):
        if not t.members:
            return "{}"
        return "{ " + "; ".join(_flat_member(m) for m in t.members) + " }"
    if isinstance(t, Intersection):
        return f"{_flat(t.left)} & {_flat(t.right)}"
    return "[" + ", ".join(_flat(i) for i in t.items) + "]"


def _flat_member(m: Member) -> str:
    return f"{m.key}{'?' if m.optional else ''}: {_flat(m.type)}"


def _should_hug(u: Union) -> bool:
    nulls = sum(1 for m in u.members if isinstance(m, Atom) and m.is_null)
    return len(u.members) - 1 == nulls and any(isinstance(m, Obj) for m in u.members)


def _doc(t: TsType) -> Doc:
    if isinstance(t, Atom):
        return t.text
    if isinstance(t, Obj):
        return _obj_doc(t)
    if isinstance(t, Union):
        if _should_hug(t):
            return join(" | ", [_doc(m) for m in t.members])
        return Group(Indent(_union_code(t)))
    if isinstance(t, Arr):
        el = t.element
        if isinstance(el, Union):
            inner: Doc = (
                join(" | ", [_doc(m) for m in el.members])
                if _should_hug(el)
                else Group([Indent(_union_code(el)), SOFTLINE])
            )
            return ["(", inner, ")[]"]
        if isinstance(el, Intersection):
            return ["(", _doc(el), ")[]"]
        return [_doc(el), "[]"]
    if isinstance(t, Intersection):
        return Group([_doc(t.left), " & ", _doc(t.right)])
    if not t.items:
        return "[]"
    return Group(
        [
            "[",
            Indent([SOFTLINE, join([",", LINE], [_doc(i) for i in t.items])]),
            IfBreak(","),
            SOFTLINE,
            "]",
        ]
    )


def _union_code(u: Union) -> list[Doc]:
    printed = [Align(2, _doc(m)) for m in u.members]
    return [IfBreak([LINE, "| "]), join([LINE, "| "], printed)]


def _member_doc(m: Member) -> Doc:
    return Group([m.key, "?" if m.optional else "", ": ", _doc(m.type)])


def _obj_doc(o: Obj) -> Doc:
    if not o.members:
        return "{}"
    parts: list[Doc] = []
    for i, m in enumerate(o.members):
        if i:
            parts.extend([IfBreak("", ";"), LINE])
        for comment in m.comments:
            parts.extend([comment, HARDLINE])
        parts.append(Group(_member_doc(m)))
    return Group(["{", Indent([LINE, *parts]), IfBreak(""), LINE, "}"], should_break=o.expanded)


def _is_open_obj(t: TsType) -> bool:
    return isinstance(t, Obj) and t.expanded and bool(t.members)


def render_member(m: Member, indent: int, out: list[str]) -> None:
    """Append the lines of member ``m`` of an expanded object, at ``indent`` columns."""
    pad = " " * indent
    if m.flat is not None and not m.comments:
        line = f"{pad}{m.key}{'?' if m.optional else ''}: {m.flat}"
        if (len(line) if line.isascii() else string_width(line)) <= PRINT_WIDTH:
            out.append(line)
            return
    for comment in m.comments:
        out.append(pad + comment)
    head = f"{pad}{m.key}{'?' if m.optional else ''}: "
    t = m.type
    if isinstance(t, Obj) and t.members and (t.expanded or _has_hard(t)):
        # open, or broken by a hard line inside: one member per line either way
        out.append(head + "{")
        for inner in t.members:
            render_member(inner, indent + 2, out)
        out.append(pad + "}")
        return
    if isinstance(t, Arr) and isinstance(t.element, Obj) and _has_hard(t.element):
        out.append(head + "{")
        for inner in t.element.members:
            render_member(inner, indent + 2, out)
        out.append(pad + "}[]")
        return
    if isinstance(t, Tuple) and t.items and all(_is_open_obj(i) for i in t.items):
        out.append(head + "[")
        for item in t.items:
            assert isinstance(item, Obj)
            out.append(pad + "  {")
            for inner in item.members:
                render_member(inner, indent + 4, out)
            out.append(pad + "  },")
        out.append(pad + "]")
        return
    if m.flat is None and not _has_hard(t):
        line = head + _flat(t)
        if string_width(line) <= PRINT_WIDTH:
            out.append(line)
            return
    out.append(pad + print_doc(_member_doc(m), indent=indent))


def _put(
    out: list[str], indent: int, line: str, key: str, optional: bool, t: TsType, flat: str
) -> None:
    """Append ``line`` (member ``key`` on one line) if it fits, else the member as prettier
    breaks it."""
    if (len(line) if line.isascii() else string_width(line)) <= PRINT_WIDTH:
        out.append(line)
    else:
        render_member(Member(key, optional, t, flat=flat), indent, out)


# --------------------------------------------------------------------------- catalog -> tree


@dataclass(frozen=True, slots=True)
class Shown:
    """A relationship as printed; ``None`` columns print as ``null``."""

    foreign_key_name: str
    columns: tuple[str, ...] | None
    is_one_to_one: bool
    referenced_relation: str
    referenced_columns: tuple[str, ...] | None


@lru_cache(maxsize=4096)
def _json_list(items: tuple[str, ...] | None) -> str:
    """``JSON.stringify(items)``: the generator sorts relationships by it."""
    if items is None:
        return "null"
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


def _append_array(t: TsType) -> TsType:
    """``t`` with ``[]`` written after it, as the generator appends it to the type's text:
    it binds to the last member of a union or intersection (``"a" | "b"[]``)."""
    if isinstance(t, Union):
        return Union((*t.members[:-1], _append_array(t.members[-1])))
    if isinstance(t, Intersection):
        return Intersection(t.left, _append_array(t.right))
    return Arr(t)


def _string_list(items: tuple[str, ...] | None) -> str:
    """A flat array literal of strings, or ``null``."""
    if items is None:
        return "null"
    return "[" + ", ".join(map(ts_string, items)) + "]"


def _string_tuple(items: tuple[str, ...] | None) -> TsType:
    if items is None:
        return NULL
    return Tuple(tuple(lit(c) for c in items))


_PRIMITIVES = {
    "bool": "boolean",
    "int2": "number",
    "int4": "number",
    "int8": "number",
    "float4": "number",
    "float8": "number",
    "numeric": "number",
    "bytea": "string",
    "bpchar": "string",
    "varchar": "string",
    "date": "string",
    "text": "string",
    "citext": "string",
    "time": "string",
    "timetz": "string",
    "timestamp": "string",
    "timestamptz": "string",
    "uuid": "string",
    "vector": "string",
    "interval": "string",
    "json": "Json",
    "jsonb": "Json",
    "void": "undefined",
    "record": "Record<string, unknown>",
}
_ROW_KINDS = frozenset({"r", "p", "v", "m", "f", "c"})
_RELATION_KINDS = frozenset({"r", "p", "v", "m", "f"})
_TEXTLIKE = frozenset({"json", "jsonb", "text"})
JSON = Atom("Json")
NON_NULL_JSON = Atom("NonNullable<Json>")


@dataclass(frozen=True, slots=True)
class Rules:
    """What differs between the releases of Supabase's generator we reproduce.

    0.98.0 is postgres-meta's own template printed by prettier 3.5.3; 0.99.0 generates
    through ``@supabase/postgrest-typegen`` 0.2.2 and prints with oxfmt.
    """

    no_args: Atom  # the Args of a function without input arguments
    non_null_json: bool  # a NOT NULL json column is NonNullable<Json>
    generated_never: bool  # generated columns are `?: never` in Insert/Update
    own_type_schema: bool  # a type name resolves in its own schema first (else: the output's)
    every_relation_kind: bool  # foreign tables and materialized views resolve as row types
    computed_by_type: bool  # computed fields match the argument's type, named or not
    trigger_aware_views: bool  # view Insert/Update follow INSTEAD OF triggers and rules
    quoted_key_schema: bool  # keys in a schema needing quotes lose their columns (schema list)
    by_identity: bool  # functions of one name keep identity-argument order on ties
    helpers: str  # the fixed helper types after Database


RULES: dict[str, Rules] = {
    "0.98.0": Rules(
        no_args=NEVER,
        non_null_json=False,
        generated_never=False,
        own_type_schema=False,
        every_relation_kind=False,
        computed_by_type=False,
        trigger_aware_views=False,
        quoted_key_schema=False,
        by_identity=False,
        helpers="helpers.ts",
    ),
    "0.99.0": Rules(
        no_args=Atom("Record<PropertyKey, never>"),
        non_null_json=True,
        generated_never=True,
        own_type_schema=True,
        every_relation_kind=True,
        computed_by_type=True,
        trigger_aware_views=True,
        quoted_key_schema=True,
        by_identity=True,
        helpers="helpers-0.99.0.ts",
    ),
}


def _is_textlike(ref: TypeRef) -> bool:
    """json, jsonb or text of pg_catalog (the generator checks OIDs 114, 3802, 25)."""
    return ref.name in _TEXTLIKE and ref.schema == "pg_catalog"


_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]{0,9})$")


# computed-field candidates of a schema: by pg_get_function_arguments() text, by row type
_ComputedIndex = tuple[dict[str, list[Function]], dict[tuple[str, str], list[Function]]]


class _Generator:
    def __init__(self, catalog: Catalog, options: TypegenOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.rules = rules = RULES[options.pg_meta_version]
        self.included = set(catalog.schema_names)
        by_schema = rules.own_type_schema  # 0.99.0 sorts candidates by schema first
        self.enums: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for e in catalog.enums:
            if e.labels:
                self.enums.setdefault(e.name, []).append((e.schema, e.labels))
        self.composites: dict[str, list[str]] = {}
        for c in catalog.composites:
            self.composites.setdefault(c.name, []).append(c.schema)
        if by_schema:
            for enums in self.enums.values():
                enums.sort(key=lambda e: sort_key(e[0]))
            for owners in self.composites.values():
                owners.sort(key=sort_key)
        # row types by name: (section, kind pool) in the generator's lookup order
        kinds = (
            (("Tables", ("table", "partitioned_table")), ("Tables", ("foreign_table",)),
             ("Views", ("view",)), ("Views", ("materialized_view",)))
            if rules.every_relation_kind
            else (("Tables", ("table", "partitioned_table")), ("Views", ("view",)))
        )  # fmt: skip
        self.row_types: dict[str, list[tuple[str, str]]] = {}  # name -> [(section, schema)]
        self.relations: dict[tuple[str, str], Relation] = {}
        for rel in catalog.relations:
            self.relations[(rel.schema, rel.name)] = rel
        for section, pool in kinds:
            found = [r for r in catalog.relations if r.kind in pool]
            if by_schema:
                found.sort(key=lambda r: sort_key(r.schema))
            for rel in found:
                self.row_types.setdefault(rel.name, []).append((section, rel.schema))
        self._type_cache: dict[tuple[str, str], TsType] = {}
        self._kept: dict[str, list[Function]] = {}
        self._column_types: dict[tuple[str, str, bool], tuple[TsType, str]] = {}
        self._sorted_columns: dict[tuple[str, str], list[Column]] = {}
        self._computed: dict[str, _ComputedIndex] = {}
        self._listed = frozenset(options.schemas or ())
        self.relationships_by_relation: dict[tuple[str, str], list[Relationship]] = {}
        for r in catalog.relationships:
            if r.schema == r.referenced_schema:
                self.relationships_by_relation.setdefault((r.schema, r.relation), []).append(r)

    # ---- types

    def type_of(self, ref: TypeRef, schema: str) -> TsType:
        """The TypeScript type of ``ref`` used in output schema ``schema``."""
        return self.ts_type(ref.name, ref.schema if self.rules.own_type_schema else schema)

    def ts_type(self, name: str, schema: str) -> TsType:
        """The type named ``name``; ``schema`` is where same-named types are looked up first."""
        key = (name, schema)
        cached = self._type_cache.get(key)
        if cached is None:
            cached = self._type_cache[key] = self._ts_type(name, schema)
        return cached

    def _ts_type(self, name: str, schema: str) -> TsType:
        primitive = _PRIMITIVES.get(name)
        if primitive is not None:
            return JSON if primitive == "Json" else Atom(primitive)
        if name.startswith("_"):
            return Arr(self.ts_type(name[1:], schema))
        enums = self.enums.get(name)
        if enums:
            found = next((e for e in enums if e[0] == schema), enums[0])
            if found[0] in self.included:
                return ref(found[0], "Enums", name)
            return union(lit(label) for label in found[1])
        composites = self.composites.get(name)
        if composites:
            owner = schema if schema in composites else composites[0]
            if owner in self.included:
                return ref(owner, "CompositeTypes", name)
            return UNKNOWN
        candidates = self.row_types.get(name)
        if candidates:
            if self.rules.every_relation_kind:
                section, owner = next((c for c in candidates if c[1] == schema), candidates[0])
            else:  # tables first, then views, each preferring the output schema
                tables = [c for c in candidates if c[0] == "Tables"] or candidates
                section = tables[0][0]
                owners = [c[1] for c in tables]
                owner = schema if schema in owners else owners[0]
            if owner in self.included:
                return ref(owner, section, name, "Row")
        return UNKNOWN

    # ---- columns

    def column_type(self, c: Column, schema: str, is_nullable: bool) -> tuple[TsType, str]:
        """Column ``c``'s type in a relation of ``schema``, and its one-line text, cached.

        A column's type is a keyword, a reference, an array or a union of literals: never an
        object, so it never holds a hard line break and always has a one-line text.
        """
        lookup = c.format_schema if self.rules.own_type_schema else schema
        key = (c.format, lookup, is_nullable)
        cached = self._column_types.get(key)
        if cached is None:
            t = self.nullable_column(self.ts_type(c.format, lookup), is_nullable)
            cached = self._column_types[key] = (t, _flat(t))
        return cached

    def nullable_column(self, t: TsType, is_nullable: bool) -> TsType:
        """``T | null`` for a nullable column; 0.99.0 narrows a NOT NULL ``Json``."""
        if not is_nullable and t is JSON and self.rules.non_null_json:
            return NON_NULL_JSON
        return nullable(t, is_nullable)

    def row_members(self, rel: Relation) -> list[Member]:
        out = []
        for c in self.sorted_columns(rel):
            t, flat = self.column_type(c, rel.schema, c.is_nullable)
            out.append(Member(ts_key(c.name), False, t, flat=flat))
        return out

    def sorted_columns(self, rel: Relation) -> list[Column]:
        key = (rel.schema, rel.name)
        cached = self._sorted_columns.get(key)
        if cached is None:
            cached = self._sorted_columns[key] = sorted(rel.columns, key=lambda c: sort_key(c.name))
        return cached

    def keyed_columns(self, rel: Relation) -> list[tuple[Column, str]]:
        """``rel``'s columns in collation order, each with its printed key."""
        return [(c, ts_key(c.name)) for c in self.sorted_columns(rel)]

    def sorted_relationships(self, rel: Relation) -> list[Shown]:
        shown = [
            r
            for r in map(self.shown, self.relationships_by_relation.get((rel.schema, rel.name), ()))
            if r is not None
        ]
        shown.sort(
            key=lambda r: (
                sort_key(r.foreign_key_name),
                sort_key(r.referenced_relation),
                sort_key(_json_list(r.referenced_columns)),
            )
        )
        return shown

    def shown(self, r: Relationship) -> Shown | None:
        """``r`` as the generator prints it, or ``None`` when it does not list it.

        0.99.0, given a schema list, filters keys on ``connamespace::regnamespace::text``,
        the quoted name: a key in a schema whose name needs quoting loses its columns (and
        one-to-one), and the relationships that a view would take over from it disappear.
        """
        filtered = self.rules.quoted_key_schema and self.options.schemas is not None
        if filtered and r.key_schema and r.key_schema not in self._listed:
            return None  # 0.99.0 reads only the keys of the listed schemas
        if not (r.key_schema_quoted and filtered):
            return Shown(r.foreign_key_name, r.columns, r.is_one_to_one, r.referenced_relation,
                         r.referenced_columns)  # fmt: skip
        referenced = self.relations.get((r.referenced_schema, r.referenced_relation))
        if referenced is not None and referenced.is_view:
            return None
        referencing = self.relations.get((r.schema, r.relation))
        columns = r.columns if referencing is not None and referencing.is_view else None
        return Shown(r.foreign_key_name, columns, False, r.referenced_relation, None)

    # ---- tables and views, written straight to lines

    def write_relation(self, rel: Relation, indent: int, out: list[str]) -> None:
        """Append the lines of table or view ``rel`` (its key at ``indent`` columns).

        Each column is one line whenever it fits in the print width, which is nearly always;
        the rare longer one goes through the document printer (``render_member``).
        """
        pad = " " * indent
        section = pad + "  "
        member_indent = indent + 4
        member = section + "  "
        schema = rel.schema
        column_type = self.column_type
        cols = self.keyed_columns(rel)
        out.append(f"{pad}{ts_key(rel.name)}: {{")

        computed = self.computed_fields(rel)
        if not (cols or computed):
            out.append(section + "Row: {}")
        else:
            out.append(section + "Row: {")
        writes: list[str] = []  # Insert and Update, for tables (one pass over the columns)
        generated_never = self.rules.generated_never
        if rel.is_table and cols:
            inserts = [section + "Insert: {"]
            for c, key in cols:
                t, flat = column_type(c, schema, c.is_nullable)
                line = f"{member}{key}: {flat}"
                width = len(line) if line.isascii() else string_width(line)
                if width <= PRINT_WIDTH:
                    out.append(line)
                else:
                    render_member(Member(key, False, t, flat=flat), member_indent, out)
                if c.identity == "ALWAYS" or (generated_never and c.generated is not None):
                    _put(
                        inserts, member_indent, f"{member}{key}?: never", key, True, NEVER, "never"
                    )
                    _put(writes, member_indent, f"{member}{key}?: never", key, True, NEVER, "never")
                    continue
                optional_line = f"{member}{key}?: {flat}"
                if width < PRINT_WIDTH:  # the "?" still fits
                    writes.append(optional_line)
                    inserts.append(optional_line if c.is_nullable or c.has_default else line)
                    continue
                _put(writes, member_indent, optional_line, key, True, t, flat)
                if c.is_nullable or c.has_default:
                    _put(inserts, member_indent, optional_line, key, True, t, flat)
                else:
                    _put(inserts, member_indent, line, key, False, t, flat)
            inserts.append(section + "}")
            writes = [*inserts, section + "Update: {", *writes, section + "}"]
        else:
            for c, key in cols:
                t, flat = column_type(c, schema, c.is_nullable)
                _put(out, member_indent, f"{member}{key}: {flat}", key, False, t, flat)
            if rel.is_table:
                writes = [section + "Insert: {}", section + "Update: {}"]
            else:
                insert, update = self.view_writes(rel)
                if insert or update:
                    body: list[str] = []
                    writable = self.rules.trigger_aware_views and rel.instead_writable
                    for c, key in cols:
                        if c.is_updatable or writable:
                            t, flat = column_type(c, schema, True)
                        else:
                            t, flat = NEVER, "never"
                        _put(body, member_indent, f"{member}{key}?: {flat}", key, True, t, flat)
                    for title, wanted in (("Insert", insert), ("Update", update)):
                        if wanted:
                            writes += (
                                [f"{section}{title}: {{", *body, section + "}"]
                                if body
                                else [f"{section}{title}: {{}}"]
                            )
        if cols or computed:
            for m in computed:
                render_member(m, member_indent, out)
            out.append(section + "}")
        out.extend(writes)

        rels = self.sorted_relationships(rel)
        if not rels:
            out.append(section + "Relationships: []")
        else:
            out.append(section + "Relationships: [")
            field = member + "  "
            one_to_one = self.options.detect_one_to_one
            for r in rels:
                out.append(member + "{")
                lines = [
                    f"{field}foreignKeyName: {ts_string(r.foreign_key_name)}",
                    f"{field}columns: {_string_list(r.columns)}",
                ]
                if one_to_one:
                    lines.append(f"{field}isOneToOne: {'true' if r.is_one_to_one else 'false'}")
                lines.append(f"{field}referencedRelation: {ts_string(r.referenced_relation)}")
                lines.append(f"{field}referencedColumns: {_string_list(r.referenced_columns)}")
                if all(
                    (len(line) if line.isascii() else string_width(line)) <= PRINT_WIDTH
                    for line in lines
                ):
                    out.extend(lines)
                else:
                    for m in self.relationship_members(r):
                        render_member(m, member_indent + 2, out)
                out.append(member + "},")
            out.append(section + "]")
        out.append(pad + "}")

    def view_writes(self, rel: Relation) -> tuple[bool, bool]:
        """Whether view ``rel`` gets an Insert and an Update block."""
        if rel.kind != "view":
            return False, False
        if self.rules.trigger_aware_views:
            return rel.insert_enabled, rel.update_enabled
        return rel.is_updatable, rel.is_updatable

    def relationship_members(self, r: Shown) -> list[Member]:
        members = [
            simple("foreignKeyName", lit(r.foreign_key_name)),
            simple("columns", _string_tuple(r.columns)),
        ]
        if self.options.detect_one_to_one:
            members.append(simple("isOneToOne", TRUE if r.is_one_to_one else FALSE))
        members.append(simple("referencedRelation", lit(r.referenced_relation)))
        members.append(simple("referencedColumns", _string_tuple(r.referenced_columns)))
        return members

    # ---- functions

    @staticmethod
    def quirk_defaults(fn: Function) -> list[bool]:
        """postgres-meta zips the input arguments' defaults over ALL arguments."""
        n_in = len(fn.in_args)
        first = n_in - fn.default_count
        return [i < n_in and i >= first and fn.default_count > 0 for i in range(len(fn.args))]

    def generator_in_args(self, fn: Function) -> list[tuple[FunctionArg, bool]]:
        """The input arguments as the generator sees them: sorted by name, each with the
        ``has_default`` it got from the zip (see ``quirk_defaults``)."""
        defaults = self.quirk_defaults(fn)
        members = [
            (a, defaults[i]) for i, a in enumerate(fn.args) if a.mode in ("in", "inout", "variadic")
        ]
        members.sort(key=lambda item: sort_key(item[0].name))
        return members

    def kept_functions(self, schema: str) -> list[Function]:
        """The schema's functions that the generator emits, in name order."""
        cached = self._kept.get(schema)
        if cached is None:
            kept = self._kept_functions(schema)
            if self.rules.by_identity:  # 0.99.0 sorts by identity arguments, then OID
                kept.sort(key=lambda f: sort_key(f.identity_arguments))
            cached = self._kept[schema] = sorted(kept, key=lambda f: sort_key(f.name))
        return cached

    def _kept_functions(self, schema: str) -> list[Function]:
        out = []
        for fn in self.catalog.functions:
            if fn.schema != schema or fn.return_type.name in ("trigger", "event_trigger"):
                continue
            if fn.result in ("trigger", "event_trigger"):
                continue
            if self._is_kept(fn):
                out.append(fn)
        return out

    def _is_kept(self, fn: Function) -> bool:
        in_args = self.generator_in_args(fn)
        if not in_args:
            return True
        unnamed = [(a, d) for a, d in in_args if a.name == ""]
        if not unnamed:
            return True
        if all(d and _is_textlike(a.type) for a, d in unnamed):
            return True
        if len(in_args) == 1:
            arg = in_args[0][0]
            return _is_textlike(arg.type) or arg.type.relation_kind in _ROW_KINDS
        return False

    def args_type(self, fn: Function) -> TsType:
        members = self.generator_in_args(fn)
        if not members:
            return self.rules.no_args
        return Obj(
            tuple(Member(ts_key(a.name), d, self.type_of(a.type, fn.schema)) for a, d in members),
            expanded=False,
        )

    def _returns_relation(self, fn: Function) -> Relation | None:
        if fn.return_type.relation_kind not in _RELATION_KINDS:
            return None
        if fn.return_type.schema != fn.schema:
            return None
        return self.relations.get((fn.return_type.schema, fn.return_type.name))

    def return_base(self, fn: Function) -> TsType:
        """The Returns type before any ``[]``."""
        table_args = [a for a in fn.args if a.mode == "table"]
        if table_args:
            table_args.sort(key=lambda a: sort_key(a.name))
            return Obj(
                tuple(
                    Member(ts_key(a.name), False, self.type_of(a.type, fn.schema))
                    for a in table_args
                ),
                expanded=True,
            )
        rel = self._returns_relation(fn)
        if rel is not None:
            return Obj(tuple(self.row_members(rel)), expanded=True)
        return self.type_of(fn.return_type, fn.schema)

    def returns_array(self, fn: Function) -> bool:
        """``[]`` after Returns: a set, unless it is a row type with ROWS <= 1."""
        row_return = fn.return_type.relation_kind in _ROW_KINDS
        return fn.returns_set and not (fn.rows <= 1 and row_return)

    def setof_options(self, fn: Function) -> TsType | None:
        if fn.return_type.relation_kind not in _ROW_KINDS:
            return None
        source = "*"
        one_to_one = fn.rows <= 1
        if len(fn.args) == 1 and fn.args[0].type.relation_kind in _ROW_KINDS:
            source = fn.args[0].type.display  # the only argument, of any mode
            if not fn.returns_set:
                one_to_one = True
        return Obj(
            (
                Member("from", False, lit(source)),
                Member("to", False, lit(fn.return_type.name)),
                Member("isOneToOne", False, TRUE if one_to_one else FALSE),
                Member("isSetofReturn", False, TRUE if fn.returns_set else FALSE),
            ),
            expanded=True,
        )

    def overload_errors(self, fns: Sequence[Function]) -> dict[int, str]:
        """Messages for overloads PostgREST could not tell apart, by index in ``fns``.

        Two shapes, as the generator checks them: a function without input arguments beside
        one whose single unnamed argument has a default (the message names the first such
        overload by its return type), and functions whose single *named* input argument has
        the same name and different types (listed by argument type OID). Overloads whose
        single arguments are unnamed are told apart by type, so they are no conflict.
        """
        if len(fns) <= 1:
            return {}
        errors: dict[int, str] = {}
        tail = (
            ". Try renaming the parameters or the function itself in the database so "
            "function overloading can be resolved"
        )
        args = [self.generator_in_args(f) for f in fns]
        for i, fn in enumerate(fns):
            schema, name = fn.schema, fn.name
            if not args[i]:
                others = [
                    j
                    for j in range(len(fns))
                    if j != i and len(args[j]) == 1 and args[j][0][0].name == "" and args[j][0][1]
                ]
                if others:
                    returns = fns[others[0]].return_type.name
                    errors[i] = (
                        "Could not choose the best candidate function between: "
                        f"{schema}.{name}(), {schema}.{name}( => {returns}){tail}"
                    )
                    continue
            if len(args[i]) == 1 and args[i][0][0].name != "":
                mine = args[i][0][0]
                others = [
                    j
                    for j in range(len(fns))
                    if j != i
                    and len(args[j]) == 1
                    and args[j][0][0].name == mine.name
                    and args[j][0][0].type.oid != mine.type.oid
                ]
                if others:
                    group = sorted([i, *others], key=lambda j: args[j][0][0].type.oid)
                    listed = ", ".join(
                        f"{schema}.{name}({args[j][0][0].name} => {args[j][0][0].type.name})"
                        for j in group
                    )
                    errors[i] = (
                        f"Could not choose the best candidate function between: {listed}{tail}"
                    )
        return errors

    def function_entry(self, fn: Function, error: str | None) -> Obj:
        members = [Member("Args", False, self.args_type(fn))]
        in_args = self.generator_in_args(fn)
        if error is None and len(in_args) == 1 and in_args[0][0].name == "":
            arg = in_args[0][0]
            if arg.type.relation_kind in _ROW_KINDS and fn.return_type.relation_kind is None:
                error = (
                    f"the function {fn.schema}.{fn.name} with parameter or with a single "
                    "unnamed json/jsonb parameter, but no matches were found in the schema cache"
                )
        returns: TsType
        if error is not None:
            returns = Intersection(Obj((Member("error", False, TRUE),), expanded=False), lit(error))
        else:
            returns = self.return_base(fn)
        if self.returns_array(fn):
            returns = _append_array(returns)
        members.append(Member("Returns", False, returns))
        setof = self.setof_options(fn)
        if setof is not None:
            members.append(Member("SetofOptions", False, setof))
        return Obj(tuple(members), expanded=False)

    def functions_section(self, schema: str) -> list[Member]:
        fns = self.kept_functions(schema)
        groups: dict[str, list[Function]] = {}
        for fn in fns:
            groups.setdefault(fn.name, []).append(fn)
        names = list(groups)
        indexish = sorted(
            (n for n in names if _ARRAY_INDEX.match(n) and int(n) < 2**32 - 1), key=int
        )
        ordered = indexish + [n for n in names if n not in set(indexish)]
        members = []
        for name in ordered:
            overloads = sorted(
                groups[name], key=lambda f: (sort_key(f.argument_types), sort_key(f.result))
            )
            errors = self.overload_errors(overloads)
            entries = [self.function_entry(f, errors.get(i)) for i, f in enumerate(overloads)]
            members.append(Member(ts_key(name), False, union(entries)))
        return members

    def computed_fields(self, rel: Relation) -> list[Member]:
        """Functions of ``rel``'s schema that PostgREST offers as columns of ``rel``.

        0.98.0 matches ``pg_get_function_arguments()`` against the relation's name (one
        unnamed argument of its row type, visible on the search path); 0.99.0 matches a
        single input argument of the relation's row type, named or not, and falls back to
        the name comparison otherwise.
        """
        index = self._computed.get(rel.schema)
        if index is None:
            by_text: dict[str, list[Function]] = {}
            by_type: dict[tuple[str, str], list[Function]] = {}
            for fn in self.kept_functions(rel.schema):
                in_args = fn.in_args
                if (
                    self.rules.computed_by_type
                    and len(in_args) == 1
                    and in_args[0].type.relation_kind in _ROW_KINDS
                ):
                    arg = in_args[0].type
                    if arg.relation_kind in _RELATION_KINDS:
                        by_type.setdefault((arg.schema, arg.name), []).append(fn)
                    continue
                by_text.setdefault(fn.argument_types, []).append(fn)
            index = self._computed[rel.schema] = (by_text, by_type)
        by_text, by_type = index
        matched = by_text.get(rel.name, [])
        if by_type:
            typed = by_type.get((rel.schema, rel.name), [])
            if typed:
                order = {id(f): i for i, f in enumerate(self.kept_functions(rel.schema))}
                matched = sorted([*matched, *typed], key=lambda f: order[id(f)])
        return [Member(ts_key(fn.name), False, nullable(self.return_base(fn))) for fn in matched]

    # ---- sections

    def write_schema(self, schema: str, indent: int, out: list[str]) -> None:
        """Append the lines of ``schema``'s block (its key at ``indent`` columns)."""
        pad = " " * indent
        section = pad + "  "
        inner = indent + 4
        rels = sorted(
            (r for r in self.catalog.relations if r.schema == schema),
            key=lambda r: sort_key(r.name),
        )
        out.append(f"{pad}{ts_key(schema)}: {{")
        for title, chosen in (
            ("Tables", [r for r in rels if r.is_table]),
            ("Views", [r for r in rels if r.is_view]),
        ):
            out.append(f"{section}{title}: {{")
            for rel in chosen:
                self.write_relation(rel, inner, out)
            if not chosen:
                render_member(NEVER_MEMBER, inner, out)
            out.append(section + "}")
        enums = [
            simple(ts_key(e.name), union(lit(label) for label in e.labels))
            for e in sorted(
                (e for e in self.catalog.enums if e.schema == schema and e.labels),
                key=lambda e: sort_key(e.name),
            )
        ]
        composites = [
            Member(
                ts_key(c.name),
                False,
                Obj(
                    tuple(
                        Member(ts_key(a.name), False, nullable(self.type_of(a.type, schema)))
                        for a in c.attributes
                    ),
                    True,
                ),
            )
            for c in sorted(
                (c for c in self.catalog.composites if c.schema == schema and c.attributes),
                key=lambda c: sort_key(c.name),
            )
        ]
        for title, members in (
            ("Functions", self.functions_section(schema)),
            ("Enums", enums),
            ("CompositeTypes", composites),
        ):
            render_member(
                Member(title, False, Obj(tuple(members or [NEVER_MEMBER]), True)), indent + 2, out
            )
        out.append(pad + "}")


_JSON_HEADER = (
    "export type Json =\n"
    "  | string\n"
    "  | number\n"
    "  | boolean\n"
    "  | null\n"
    "  | { [key: string]: Json | undefined }\n"
    "  | Json[]\n"
)
_INTERNAL_COMMENTS = (
    "// Allows to automatically instantiate createClient with right options",
    "// instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)",
)


_TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=4)
def _helpers(name: str) -> str:
    """A template's text (a plain file read: importing importlib.resources costs ~5 ms)."""
    return (_TEMPLATES / name).read_text(encoding="utf-8")


def _const_key(name: str) -> str:
    """An object-literal key; ``__proto__`` is computed, or JavaScript would set the prototype."""
    return '["__proto__"]' if name == "__proto__" else ts_key(name)


def _constants(catalog: Catalog, schemas: Sequence[str]) -> list[str]:
    if not schemas:
        return ["export const Constants = {} as const"]
    out = ["export const Constants = {"]
    for schema in schemas:
        out.append(f"  {_const_key(schema)}: {{")
        enums = sorted(
            (e for e in catalog.enums if e.schema == schema and e.labels),
            key=lambda e: sort_key(e.name),
        )
        if not enums:
            out.append("    Enums: {},")
        else:
            out.append("    Enums: {")
            for e in enums:
                labels = [ts_string(label) for label in e.labels]
                line = f"      {_const_key(e.name)}: [{', '.join(labels)}],"
                if string_width(line) <= PRINT_WIDTH:
                    out.append(line)
                else:
                    out.append(f"      {_const_key(e.name)}: [")
                    out.extend(f"        {label}," for label in labels)
                    out.append("      ],")
            out.append("    },")
        out.append("  },")
    out.append("} as const")
    return out


def generate_typescript(catalog: Catalog, options: TypegenOptions | None = None) -> str:
    """What ``supabase gen types typescript`` prints for ``catalog`` (ends with a blank line)."""
    with gc_paused():
        return _generate(catalog, options or catalog.options)


def _generate(catalog: Catalog, options: TypegenOptions) -> str:
    gen = _Generator(catalog, options)
    schemas = sorted(catalog.schema_names, key=sort_key)
    members: list[Member] = []
    if options.postgrest_version is not None:
        members.append(
            Member(
                "__InternalSupabase",
                False,
                Obj((Member("PostgrestVersion", False, lit(options.postgrest_version)),), True),
                comments=_INTERNAL_COMMENTS,
            )
        )
    lines = [_JSON_HEADER]
    if members or schemas:
        lines.append("export type Database = {")
        for m in members:
            render_member(m, 2, lines)
        for schema in schemas:
            gen.write_schema(schema, 2, lines)
        lines.append("}")
    else:
        lines.append("export type Database = {}")
    lines.append("")
    lines.append(_helpers(gen.rules.helpers).rstrip("\n"))
    lines.append("")
    lines.extend(_constants(catalog, schemas))
    return "\n".join(lines) + "\n\n"


__all__ = ["generate_typescript"]
