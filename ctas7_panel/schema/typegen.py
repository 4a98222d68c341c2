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
from importlib import resources

from ctas7_panel.schema.collation import sort_key
from ctas7_panel.schema.gcpause import gc_paused
from ctas7_panel.schema.model import Catalog, Column, Function, Relation, Relationship
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


@lru_cache(maxsize=4096)
def _json_list(items: tuple[str, ...]) -> str:
    """``JSON.stringify(items)``: the generator sorts relationships by it."""
    return json.dumps(list(items), ensure_ascii=False, separators=(",", ":"))


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
_TEXTLIKE = frozenset({"json", "jsonb", "text"})
_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]{0,9})$")


class _Generator:
    def __init__(self, catalog: Catalog, options: TypegenOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.included = set(catalog.schema_names)
        self.enums: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for e in catalog.enums:
            if e.labels:
                self.enums.setdefault(e.name, []).append((e.schema, e.labels))
        self.composites: dict[str, list[str]] = {}
        for c in catalog.composites:
            self.composites.setdefault(c.name, []).append(c.schema)
        self.tables: dict[str, list[str]] = {}
        self.views: dict[str, list[str]] = {}
        self.relations: dict[tuple[str, str], Relation] = {}
        for rel in catalog.relations:
            self.relations[(rel.schema, rel.name)] = rel
            if rel.kind in ("table", "partitioned_table"):
                self.tables.setdefault(rel.name, []).append(rel.schema)
            elif rel.kind == "view":
                self.views.setdefault(rel.name, []).append(rel.schema)
        self._type_cache: dict[tuple[str, str], TsType] = {}
        self._kept: dict[str, list[Function]] = {}
        self._column_types: dict[tuple[str, str, bool], tuple[TsType, str]] = {}
        self._sorted_columns: dict[tuple[str, str], list[Column]] = {}
        self._by_argument: dict[str, dict[str, list[Function]]] = {}
        self.relationships_by_relation: dict[tuple[str, str], list[Relationship]] = {}
        for r in catalog.relationships:
            if r.schema == r.referenced_schema:
                self.relationships_by_relation.setdefault((r.schema, r.relation), []).append(r)

    # ---- types

    def ts_type(self, name: str, schema: str) -> TsType:
        key = (name, schema)
        cached = self._type_cache.get(key)
        if cached is None:
            cached = self._type_cache[key] = self._ts_type(name, schema)
        return cached

    def _ts_type(self, name: str, schema: str) -> TsType:
        primitive = _PRIMITIVES.get(name)
        if primitive is not None:
            return Atom(primitive)
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
        for pool, section in ((self.tables, "Tables"), (self.views, "Views")):
            owners = pool.get(name)
            if owners:
                owner = schema if schema in owners else owners[0]
                return ref(owner, section, name, "Row")
        return UNKNOWN

    # ---- columns

    def column_type(self, name: str, schema: str, is_nullable: bool) -> tuple[TsType, str]:
        """A column's type and its one-line text, cached.

        A column's type is a keyword, a reference, an array or a union of literals: never an
        object, so it never holds a hard line break and always has a one-line text.
        """
        key = (name, schema, is_nullable)
        cached = self._column_types.get(key)
        if cached is None:
            t = nullable(self.ts_type(name, schema), is_nullable)
            cached = self._column_types[key] = (t, _flat(t))
        return cached

    def column_member(self, key: str, optional: bool, name: str, schema: str, null: bool) -> Member:
        t, flat = self.column_type(name, schema, null)
        return Member(key, optional, t, flat=flat)

    def row_members(self, rel: Relation) -> list[Member]:
        return [
            self.column_member(ts_key(c.name), False, c.format, rel.schema, c.is_nullable)
            for c in self.sorted_columns(rel)
        ]

    def sorted_columns(self, rel: Relation) -> list[Column]:
        key = (rel.schema, rel.name)
        cached = self._sorted_columns.get(key)
        if cached is None:
            cached = self._sorted_columns[key] = sorted(rel.columns, key=lambda c: sort_key(c.name))
        return cached

    def keyed_columns(self, rel: Relation) -> list[tuple[Column, str]]:
        """``rel``'s columns in collation order, each with its printed key."""
        return [(c, ts_key(c.name)) for c in self.sorted_columns(rel)]

    def sorted_relationships(self, rel: Relation) -> list[Relationship]:
        rels = list(self.relationships_by_relation.get((rel.schema, rel.name), ()))
        rels.sort(
            key=lambda r: (
                sort_key(r.foreign_key_name),
                sort_key(r.referenced_relation),
                sort_key(_json_list(r.referenced_columns)),
            )
        )
        return rels

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
        if rel.is_table and cols:
            inserts = [section + "Insert: {"]
            for c, key in cols:
                t, flat = column_type(c.format, schema, c.is_nullable)
                line = f"{member}{key}: {flat}"
                width = len(line) if line.isascii() else string_width(line)
                if width <= PRINT_WIDTH:
                    out.append(line)
                else:
                    render_member(Member(key, False, t, flat=flat), member_indent, out)
                if c.identity == "ALWAYS":
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
                t, flat = column_type(c.format, schema, c.is_nullable)
                _put(out, member_indent, f"{member}{key}: {flat}", key, False, t, flat)
            if rel.is_table:
                writes = [section + "Insert: {}", section + "Update: {}"]
            elif rel.kind == "view" and rel.is_updatable:
                body: list[str] = []
                for c, key in cols:
                    if c.is_updatable:
                        t, flat = column_type(c.format, schema, True)
                    else:
                        t, flat = NEVER, "never"
                    _put(body, member_indent, f"{member}{key}?: {flat}", key, True, t, flat)
                if body:
                    writes = [section + "Insert: {", *body, section + "}"]
                    writes += [section + "Update: {", *body, section + "}"]
                else:
                    writes = [section + "Insert: {}", section + "Update: {}"]
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
                    f"{field}columns: [{', '.join(map(ts_string, r.columns))}]",
                ]
                if one_to_one:
                    lines.append(f"{field}isOneToOne: {'true' if r.is_one_to_one else 'false'}")
                lines.append(f"{field}referencedRelation: {ts_string(r.referenced_relation)}")
                lines.append(
                    f"{field}referencedColumns: [{', '.join(map(ts_string, r.referenced_columns))}]"
                )
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

    def relationship_members(self, r: Relationship) -> list[Member]:
        members = [
            simple("foreignKeyName", lit(r.foreign_key_name)),
            simple("columns", Tuple(tuple(lit(c) for c in r.columns))),
        ]
        if self.options.detect_one_to_one:
            members.append(simple("isOneToOne", TRUE if r.is_one_to_one else FALSE))
        members.append(simple("referencedRelation", lit(r.referenced_relation)))
        members.append(
            simple("referencedColumns", Tuple(tuple(lit(c) for c in r.referenced_columns)))
        )
        return members

    # ---- functions

    @staticmethod
    def quirk_defaults(fn: Function) -> list[bool]:
        """postgres-meta zips the input arguments' defaults over ALL arguments."""
        n_in = len(fn.in_args)
        first = n_in - fn.default_count
        return [i < n_in and i >= first and fn.default_count > 0 for i in range(len(fn.args))]

    def kept_functions(self, schema: str) -> list[Function]:
        """The schema's functions that the generator emits, in name order."""
        cached = self._kept.get(schema)
        if cached is None:
            cached = self._kept[schema] = sorted(
                self._kept_functions(schema), key=lambda f: sort_key(f.name)
            )
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
        defaults = self.quirk_defaults(fn)
        in_args = [
            (a, defaults[i]) for i, a in enumerate(fn.args) if a.mode in ("in", "inout", "variadic")
        ]
        if not in_args:
            return True
        unnamed = [(a, d) for a, d in in_args if a.name == ""]
        if not unnamed:
            return True
        if all(d and a.type.name in _TEXTLIKE for a, d in unnamed):
            return True
        if len(in_args) == 1:
            arg = in_args[0][0]
            return arg.type.name in _TEXTLIKE or arg.type.relation_kind in _ROW_KINDS
        return False

    def args_type(self, fn: Function) -> TsType:
        defaults = self.quirk_defaults(fn)
        members = [
            (a, defaults[i]) for i, a in enumerate(fn.args) if a.mode in ("in", "inout", "variadic")
        ]
        if not members:
            return NEVER
        members.sort(key=lambda item: sort_key(item[0].name))
        return Obj(
            tuple(
                Member(ts_key(a.name), d, self.ts_type(a.type.name, fn.schema)) for a, d in members
            ),
            expanded=False,
        )

    def _returns_relation(self, fn: Function) -> Relation | None:
        if fn.return_type.relation_kind not in ("r", "p", "v", "m", "f"):
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
                    Member(ts_key(a.name), False, self.ts_type(a.type.name, fn.schema))
                    for a in table_args
                ),
                expanded=True,
            )
        rel = self._returns_relation(fn)
        if rel is not None:
            return Obj(tuple(self.row_members(rel)), expanded=True)
        return self.ts_type(fn.return_type.name, fn.schema)

    def returns_type(self, fn: Function) -> TsType:
        base = self.return_base(fn)
        row_return = fn.return_type.relation_kind in _ROW_KINDS
        if fn.returns_set and not (fn.rows <= 1 and row_return):
            return Arr(base)
        return base

    def setof_options(self, fn: Function) -> TsType | None:
        if fn.return_type.relation_kind not in _ROW_KINDS:
            return None
        in_args = fn.in_args
        source = "*"
        if len(in_args) == 1 and in_args[0].type.relation_kind in _ROW_KINDS:
            source = in_args[0].type.display
        return Obj(
            (
                Member("from", False, lit(source)),
                Member("to", False, lit(fn.return_type.name)),
                Member("isOneToOne", False, FALSE if fn.rows > 1 else TRUE),
                Member("isSetofReturn", False, TRUE if fn.returns_set else FALSE),
            ),
            expanded=True,
        )

    @staticmethod
    def _signature(fn: Function) -> str:
        args = ", ".join(f"{a.name} => {a.type.name}" for a in fn.in_args)
        return f"{fn.schema}.{fn.name}({args})"

    def overload_errors(self, fns: Sequence[Function]) -> dict[int, str]:
        """Messages for overloads PostgREST could not tell apart, by index in ``fns``."""
        errors: dict[int, str] = {}

        def message(group: Sequence[Function]) -> str:
            listed = ", ".join(self._signature(f) for f in group)
            return (
                f"Could not choose the best candidate function between: {listed}. "
                "Try renaming the parameters or the function itself in the database so "
                "function overloading can be resolved"
            )

        no_args = [i for i, f in enumerate(fns) if not f.in_args]
        defaulted = [
            i
            for i, f in enumerate(fns)
            if len(f.in_args) == 1 and f.in_args[0].name == "" and f.in_args[0].has_default
        ]
        if no_args and defaulted:
            group = [fns[i] for i in sorted(no_args + defaulted)]
            for i in no_args:
                errors[i] = message(group)
        single: dict[str, list[int]] = {}
        for i, f in enumerate(fns):
            if len(f.in_args) == 1:
                single.setdefault(f.in_args[0].name, []).append(i)
        for indexes in single.values():
            types = {fns[i].in_args[0].type.name for i in indexes}
            if len(indexes) > 1 and len(types) > 1:
                group = [fns[i] for i in indexes]
                for i in indexes:
                    errors[i] = message(group)
        return errors

    def function_entry(self, fn: Function, error: str | None) -> Obj:
        members = [Member("Args", False, self.args_type(fn))]
        in_args = fn.in_args
        scalar_return = fn.return_type.relation_kind is None
        if error is None and len(in_args) == 1 and in_args[0].name == "" and scalar_return:
            if in_args[0].type.relation_kind in _ROW_KINDS:
                error = (
                    f"the function {fn.schema}.{fn.name} with parameter or with a single "
                    "unnamed json/jsonb parameter, but no matches were found in the schema cache"
                )
        if error is not None:
            returns: TsType = Intersection(
                Obj((Member("error", False, TRUE),), expanded=False), lit(error)
            )
            members.append(Member("Returns", False, returns))
        else:
            members.append(Member("Returns", False, self.returns_type(fn)))
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
        by_argument = self._by_argument.get(rel.schema)
        if by_argument is None:
            by_argument = self._by_argument[rel.schema] = {}
            for fn in self.kept_functions(rel.schema):
                by_argument.setdefault(fn.argument_types, []).append(fn)
        return [
            Member(ts_key(fn.name), False, nullable(self.return_base(fn)))
            for fn in by_argument.get(rel.name, ())
        ]

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
                        Member(ts_key(a.name), False, nullable(self.ts_type(a.type.name, schema)))
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


@lru_cache(maxsize=1)
def _helpers() -> str:
    return resources.files("ctas7_panel.schema.templates").joinpath("helpers.ts").read_text()


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
    lines.append(_helpers().rstrip("\n"))
    lines.append("")
    lines.extend(_constants(catalog, schemas))
    return "\n".join(lines) + "\n\n"


__all__ = ["generate_typescript"]
