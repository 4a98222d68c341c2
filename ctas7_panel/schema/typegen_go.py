"""``Catalog`` -> Go, as ``supabase gen types --lang go`` prints it (pure).

The output is postgres-meta's Go template byte for byte (0.98.0, or 0.99.0: escaped struct
tags, sorted lists): a ``Select``, ``Insert`` and ``Update`` struct per table, a ``Select``
struct per view and materialized view, a struct per composite type, fields aligned with
spaces and indented by two (the reference does not run gofmt; ``gofmt`` would re-indent with
tabs, and accepts the file as it is).

Where the reference's output would not compile or vet (a field or struct named ``01``, the same
name twice, a tag with a backquote, a quote or a backslash in 0.98.0) or where the reference
crashes (a type named like an ``Object.prototype`` member), this output is valid Go instead;
each such change is reported in ``Generated.deviations`` (classes in ``docs/typegen.md``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.model import Catalog, Relation
from ctas7_panel.schema.naming import Namer
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen_meta import (
    JS_PROTOTYPE_NAMES,
    Deviation,
    Generated,
    TemplateInput,
    json_string,
    nullable_in,
    template_input,
)

_GO_TYPES = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "float4": "float32",
    "float8": "float64",
    "numeric": "float64",
    "bytea": "[]byte",
    "bpchar": "string",
    "varchar": "string",
    "date": "string",
    "text": "string",
    "citext": "string",
    "time": "string",
    "timetz": "string",
    "timestamp": "string",
    "timestamptz": "string",
    "interval": "string",
    "uuid": "string",
    "vector": "string",
    "json": "interface{}",
    "jsonb": "interface{}",
    "int4range": "string",
    "int4multirange": "string",
    "int8range": "string",
    "int8multirange": "string",
    "numrange": "string",
    "nummultirange": "string",
    "tsrange": "string",
    "tsmultirange": "string",
    "tstzrange": "string",
    "tstzmultirange": "string",
    "daterange": "string",
    "datemultirange": "string",
    "void": "interface{}",
    "record": "map[string]interface{}",
}
_NULLABLE = {
    "string": "*string",
    "bool": "*bool",
    "int16": "*int16",
    "int32": "*int32",
    "int64": "*int64",
    "float32": "*float32",
    "float64": "*float64",
    "[]byte": "[]byte",
    "interface{}": "interface{}",
    "map[string]interface{}": "map[string]interface{}",
}
_SPLIT_ONE = re.compile(r"[^a-zA-Z0-9]")
_RAW_TAG_BREAKERS = re.compile(r'[`"\\\x00-\x1f]')
_EMBEDDABLE = re.compile(r"^\*?([A-Za-z_][A-Za-z0-9_]*)$")


@lru_cache(maxsize=65536)
def type_case(name: str) -> str:
    """postgres-meta's ``formatForGoTypeName``: ``pokemon_center`` -> ``PokemonCenter``."""
    return "".join(w[0].upper() + w[1:] for w in _SPLIT_ONE.split(name) if w)


def _valid_name(name: str) -> bool:
    return bool(name) and name[0].isalpha()


def _repair_name(name: str) -> str:
    return "X" + name if not _valid_name(name) else name  # empty or starting with a digit


class _Go:
    def __init__(self, meta: TemplateInput) -> None:
        self.meta = meta
        self.old = meta.is_old
        self.deviations: list[Deviation] = []
        self.enum_names = {t.name for t in meta.enum_types()}
        self.composite_names = {t.name for t in meta.composite_types()}
        self.listed = {(t.schema, t.name) for t in meta.types}
        self._types: dict[tuple[str, bool, bool], str] = {}
        self._tags: dict[str, str] = {}

    def go_type(self, pg_type: str, nullable: bool, lookups: bool = True) -> str:
        """``pgTypeToGoType``; ``lookups=False`` is its call without the type list (composite
        type attributes, which pass ``format_type`` text). Cached."""
        key = (pg_type, nullable, lookups)
        cached = self._types.get(key)
        if cached is None:
            cached = self._types[key] = self._go_type(pg_type, nullable, lookups)
        return cached

    def _go_type(self, pg_type: str, nullable: bool, lookups: bool) -> str:
        go_type = _GO_TYPES.get(pg_type)
        if pg_type in JS_PROTOTYPE_NAMES and not (lookups and pg_type in self.enum_names):
            self.deviations.append(
                Deviation(
                    f"type {pg_type!r}: named like an Object.prototype member, which crashes "
                    "the reference; treated as any other type"
                )
            )
        if lookups and pg_type in self.enum_names:
            go_type = "string"
        if go_type is not None:
            return _NULLABLE[go_type] if nullable else go_type
        if lookups and pg_type in self.composite_names:
            return "map[string]interface{}"
        if pg_type.startswith("_"):
            return f"[]{self.go_type(pg_type[1:], nullable, lookups)} "
        return "interface{}"

    def tag(self, name: str) -> str:
        """The ``json`` struct tag of column ``name`` (cached)."""
        cached = self._tags.get(name)
        if cached is None:
            cached = self._tags[name] = self._tag(name)
        return cached

    def _tag(self, name: str) -> str:
        if not self.old:
            tag = "json:" + json_string(name)
            return json_string(tag) if "`" in tag else f"`{tag}`"
        if _RAW_TAG_BREAKERS.search(name):
            tag = "json:" + json_string(name)
            ours = json_string(tag) if "`" in tag else f"`{tag}`"
            self.deviations.append(
                Deviation(
                    f"struct tag of {name!r}: written {ours}; the reference writes the name "
                    "into a raw string unescaped, which does not parse or does not vet",
                    f'`json:"{name}"`',
                    ours,
                )
            )
            return ours
        return f'`json:"{name}"`'

    def struct(self, name: str, fields: list[tuple[str, str, str]]) -> str:
        """``type name struct {...}`` with ``fields`` = (column name, Go type, field name)."""
        wanted = [f for _, _, f in fields]
        embedded = {}
        for i, (_, go_type, field_name) in enumerate(fields):
            if field_name == "":
                match = _EMBEDDABLE.match(go_type.strip())
                if match:  # an embedded field, named after its type: valid when unique
                    embedded[i] = match.group(1)
                    wanted[i] = match.group(1)
        allowed = set(embedded.values())

        def exported(n: str) -> bool:  # encoding/json (and vet) want exported tagged fields
            return n[:1].isascii() and n[:1].isupper()

        namer = Namer(
            is_valid=lambda n: exported(n) or n in allowed,
            repair=lambda n: n if exported(n) else "X" + n,
        )
        exact = [w == column for w, (column, _, _) in zip(wanted, fields, strict=True)]
        names, changed = namer.assign(wanted, exact)
        for before, after in changed:
            self.deviations.append(
                Deviation(
                    f"struct {name}: field {before or '(empty)'!r} named {after} (the "
                    "reference's name is not a Go identifier or repeats another field's)",
                    before,
                    after,
                    name,
                )
            )
        printed = [
            "" if i in embedded and names[i] == embedded[i] else names[i]
            for i in range(len(fields))
        ]
        width = max((len(p) for p in printed), default=0)
        type_width = max((len(t) for _, t, _ in fields), default=0)
        lines = [
            f"  {p.ljust(width)} {t.ljust(type_width)} {self.tag(column)}"
            for p, (column, t, _) in zip(printed, fields, strict=True)
        ]
        return f"type {name} struct {{\n" + "\n".join(lines) + "\n}"

    def relation_struct(self, name: str, rel: Relation, operation: str) -> str:
        fields = []
        for c in self.meta.columns(rel):
            fields.append(
                (c.name, self.go_type(c.format, nullable_in(c, operation)), type_case(c.name))
            )
        return self.struct(name, fields)

    def composite_struct(self, name: str, schema: str, type_name: str) -> str:
        composite = self.meta.composites[(schema, type_name)]
        fields = []
        for a in composite.attributes:
            if (a.type.schema, a.type.name) not in self.listed:
                self.deviations.append(
                    Deviation(
                        f"composite type {schema}.{type_name}: attribute {a.name!r} has a type "
                        "the reference's type list lacks, which crashes it"
                    )
                )
            fields.append(
                (a.name, self.go_type(a.type.display, False, lookups=False), type_case(a.name))
            )
        return self.struct(name, fields)

    def render(self) -> str:
        meta = self.meta
        included = set(meta.schemas)
        plan: list[tuple[str, Relation | tuple[str, str], str]] = []
        for rel in meta.tables:
            for operation in ("Select", "Insert", "Update"):
                plan.append(
                    (type_case(rel.schema) + type_case(rel.name) + operation, rel, operation)
                )
        for rel in (*meta.views, *meta.materialized_views):
            plan.append((type_case(rel.schema) + type_case(rel.name) + "Select", rel, "Select"))
        composites = [(t.schema, t.name) for t in meta.composite_types() if t.schema in included]
        for schema, type_name in composites:
            plan.append((type_case(schema) + type_case(type_name), (schema, type_name), ""))
        namer = Namer(is_valid=_valid_name, repair=_repair_name)
        names, changed = namer.assign([wanted for wanted, _, _ in plan])
        for before, after in changed:
            self.deviations.append(
                Deviation(
                    f"struct {before!r}: named {after} (the reference's name is not a Go "
                    "identifier or is already taken)",
                    before,
                    after,
                )
            )
        sections: list[list[str]] = [[], [], [], []]
        for name, (_, subject, operation) in zip(names, plan, strict=True):
            if isinstance(subject, Relation):
                section = 0 if subject.is_table else (1 if subject.kind == "view" else 2)
                sections[section].append(self.relation_struct(name, subject, operation))
            else:
                sections[3].append(self.composite_struct(name, *subject))
        text = "package database\n\n" + "\n\n".join("\n\n".join(s) for s in sections)
        return text.rstrip() + "\n"


def generate_go(catalog: Catalog, options: TypegenOptions | None = None) -> Generated:
    """What ``supabase gen types --lang go`` prints for ``catalog`` (one final newline)."""
    options = options or catalog.options
    with gc_paused():
        gen = _Go(template_input(catalog, options.pg_meta_version))
        text = gen.render()
    return Generated(text, tuple(dict.fromkeys(gen.deviations)))


__all__ = ["generate_go", "type_case"]
