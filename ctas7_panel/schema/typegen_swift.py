"""``Catalog`` -> Swift, as ``supabase gen types --lang swift`` prints it (pure).

The output is postgres-meta's Swift template byte for byte (0.98.0, or 0.99.0 where it
escapes string literals): one ``<Schema>Schema`` enum per included schema, sorted by name, with
its enums, a ``Select``, ``Insert`` and ``Update`` struct per table and foreign table, a
``Select`` struct per view and materialized view, and a struct per composite type, each with
its ``CodingKeys``; ``--swift-access-control`` sets ``internal`` or ``public`` on every
declaration.

There is no Swift toolchain here, so the check is byte identity with the reference, also where
the reference prints Swift that would not compile (odd names; see ``docs/typegen.md``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.model import Catalog, Relation
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen_meta import (
    Generated,
    TemplateInput,
    by_name,
    nullable_in,
    template_input,
)

_SWIFT_TYPES = {
    "bool": "Bool",
    "int2": "Int16",
    "int4": "Int32",
    "int8": "Int64",
    "float4": "Float",
    "float8": "Double",
    "numeric": "Decimal",
    "decimal": "Decimal",
    "uuid": "UUID",
    "json": "AnyJSON",
    "jsonb": "AnyJSON",
    "void": "Void",
    "record": "JSONObject",
    **dict.fromkeys(
        (
            "bytea",
            "bpchar",
            "varchar",
            "date",
            "text",
            "citext",
            "time",
            "timetz",
            "timestamp",
            "timestamptz",
            "interval",
            "vector",
        ),
        "String",
    ),
}
_KEYWORDS = frozenset({"in", "default", "case"})
_SPLIT_ONE = re.compile(r"[^a-zA-Z0-9]")
_SPLIT_RUN = re.compile(r"[^a-zA-Z0-9]+")
_CONFORMANCES = "Codable, Hashable, Sendable"


@lru_cache(maxsize=65536)
def type_case(name: str) -> str:
    """postgres-meta's ``formatForSwiftTypeName``: ``_key_id`` -> ``_KeyId``."""
    prefix = ""
    if name.startswith("_"):
        prefix, name = "_", name[1:]
    return prefix + "".join(w[0].upper() + w[1:] for w in _SPLIT_RUN.split(name) if w)


@lru_cache(maxsize=65536)
def property_case(name: str) -> str:
    """postgres-meta's ``formatForSwiftPropertyName``: ``pokemon_center`` -> ``pokemonCenter``."""
    words = _SPLIT_ONE.split(name)
    text = "".join(
        w.lower() if i == 0 else w.lower()[:1].upper() + w.lower()[1:] for i, w in enumerate(words)
    )
    return f"`{text}`" if text in _KEYWORDS else text


_SWIFT_ESCAPED = re.compile('[\\\\"\x00-\x1f\x7f\u2028\u2029]')


@lru_cache(maxsize=65536)
def swift_string(text: str) -> str:
    """A Swift string literal as postgres-meta 0.99.0 writes it."""
    if _SWIFT_ESCAPED.search(text) is None:
        return f'"{text}"'
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        else:
            code = ord(ch)
            if code < 0x20 or code in (0x7F, 0x2028, 0x2029):
                out.append(f"\\u{{{code:x}}}")
            else:
                out.append(ch)
    return '"' + "".join(out) + '"'


@dataclass(frozen=True, slots=True)
class _Attr:
    raw: str
    name: str
    type: str
    identity: bool


class _Swift:
    def __init__(self, meta: TemplateInput, access: str) -> None:
        self.meta = meta
        self.access = access
        self.enum_names = {t.name for t in meta.enum_types()}
        self.type_names = {t.name for t in meta.types}
        self.type_names.update(r.name for r in (*meta.tables, *meta.views))
        self.string = (lambda s: f'"{s}"') if meta.is_old else swift_string
        self._types: dict[tuple[str, bool], str] = {}

    def swift_type(self, pg_type: str, nullable: bool) -> str:
        """``pgTypeToSwiftType`` (cached)."""
        key = (pg_type, nullable)
        cached = self._types.get(key)
        if cached is None:
            cached = self._types[key] = self._swift_type(pg_type, nullable)
        return cached

    def _swift_type(self, pg_type: str, nullable: bool) -> str:
        mapped = _SWIFT_TYPES.get(pg_type)
        if mapped is None:
            if pg_type.startswith("_"):
                mapped = f"[{self.swift_type(pg_type[1:], False)}]"
            elif pg_type in self.enum_names:
                mapped = type_case(pg_type)
            elif pg_type in self.type_names:
                mapped = type_case(pg_type) + "Select"
            else:
                mapped = "AnyJSON"
        return mapped + "?" if nullable else mapped

    def enum_lines(
        self, name: str, conformances: str, cases: list[tuple[str, str]], level: int
    ) -> list[str]:
        pad = "  " * level
        lines = [f"{pad}{self.access} enum {name}: {conformances} {{"]
        lines += [f"{pad}  case {case} = {self.string(raw)}" for case, raw in cases]
        lines.append(f"{pad}}}")
        return lines

    def struct_lines(self, name: str, attrs: list[_Attr], level: int) -> list[str]:
        pad = "  " * level
        identity = next((a for a in attrs if a.identity), None)
        conformances = _CONFORMANCES + (", Identifiable" if identity else "")
        lines = [f"{pad}{self.access} struct {name}: {conformances} {{"]
        if identity is not None and identity.name != "id":
            lines.append(f"{pad}  {self.access} var id: {identity.type} {{ {identity.name} }}")
        lines += [f"{pad}  {self.access} let {a.name}: {a.type}" for a in attrs]
        if attrs:
            lines += self.enum_lines(
                "CodingKeys", "String, CodingKey", [(a.name, a.raw) for a in attrs], level + 1
            )
        lines.append(f"{pad}}}")
        return lines

    def relation_attrs(self, rel: Relation, operation: str) -> list[_Attr]:
        return [
            _Attr(
                raw=c.name,
                name=property_case(c.name),
                type=self.swift_type(c.format, nullable_in(c, operation)),
                identity=c.identity is not None,
            )
            for c in self.meta.columns(rel)
        ]

    def render(self) -> str:
        meta = self.meta
        lines = ["import Foundation", "import Supabase", ""]
        for schema in meta.schemas:
            lines.append(f"{self.access} enum {type_case(schema)}Schema {{")
            for t in by_name(t for t in meta.enum_types() if t.schema == schema):
                labels = meta.enums[(t.schema, t.name)]
                lines += self.enum_lines(
                    type_case(t.name),
                    "String, " + _CONFORMANCES,
                    [(property_case(label), label) for label in labels],
                    1,
                )
            tables = by_name(r for r in (*meta.tables, *meta.foreign_tables) if r.schema == schema)
            for rel in tables:
                for operation in ("Select", "Insert", "Update"):
                    lines += self.struct_lines(
                        type_case(rel.name) + operation, self.relation_attrs(rel, operation), 1
                    )
            views = by_name(
                r for r in (*meta.views, *meta.materialized_views) if r.schema == schema
            )
            for rel in views:
                lines += self.struct_lines(
                    type_case(rel.name) + "Select", self.relation_attrs(rel, "Select"), 1
                )
            for t in by_name(t for t in meta.composite_types() if t.schema == schema):
                composite = meta.composites[(t.schema, t.name)]
                attrs = [
                    _Attr(
                        raw=a.name,
                        name=type_case(a.name),
                        type=self.swift_type(a.type.display, False),
                        identity=False,
                    )
                    for a in composite.attributes
                ]
                lines += self.struct_lines(type_case(t.name), attrs, 1)
            lines.append("}")
        return "\n".join(lines) + "\n"


def generate_swift(catalog: Catalog, options: TypegenOptions | None = None) -> Generated:
    """What ``supabase gen types --lang swift`` prints for ``catalog`` (one final newline)."""
    options = options or catalog.options
    with gc_paused():
        gen = _Swift(template_input(catalog, options.pg_meta_version), options.swift_access_control)
        text = gen.render()
    return Generated(text)


__all__ = ["generate_swift", "property_case", "swift_string", "type_case"]
