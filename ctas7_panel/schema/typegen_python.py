"""``Catalog`` -> Python, as ``supabase gen types --lang python`` prints it (pure).

The output is postgres-meta's Python template (0.98.0, or 0.99.0 where it differs: its imports,
``JsonValue`` for json, escaped strings, nullable composite attributes, sorted lists), byte for
byte: one ``TypeAlias`` per enum name, then a pydantic ``BaseModel`` per table (with ``Insert``
and ``Update`` ``TypedDict``s), view, materialized view and composite type of the included
schemas.

Where the reference's output would not import with pydantic v2 (a field named ``01`` or
``class`` or ``_x``, a string with a quote in it, a column named like a module its class uses),
would define a class or a field twice, or where the reference crashes (a composite type's
attribute whose type a later same-named type hides), this output is valid instead; each such
change is reported in ``Generated.deviations`` (classes listed in ``docs/typegen.md``).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from functools import lru_cache

from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.model import Catalog, Column, Relation
from ctas7_panel.schema.naming import Namer
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen_meta import (
    JS_PROTOTYPE_NAMES,
    Deviation,
    Generated,
    TemplateInput,
    has_default,
    js_key_order,
    json_string,
    template_input,
)

_HEADER = {
    "0.98.0": (
        "from __future__ import annotations\n"
        "\n"
        "import datetime\n"
        "import uuid\n"
        "from typing import (\n"
        "    Annotated,\n"
        "    Any,\n"
        "    List,\n"
        "    Literal,\n"
        "    NotRequired,\n"
        "    Optional,\n"
        "    TypeAlias,\n"
        "    TypedDict,\n"
        ")\n"
        "\n"
        "from pydantic import BaseModel, Field, Json"
    ),
    "0.99.0": (
        "from __future__ import annotations\n"
        "\n"
        "import datetime\n"
        "import uuid\n"
        "from typing import (\n"
        "    Annotated,\n"
        "    Any,\n"
        "    List,\n"
        "    Literal,\n"
        "    Optional,\n"
        "    TypedDict,\n"
        ")\n"
        "from typing_extensions import NotRequired, TypeAlias\n"
        "\n"
        "from pydantic import BaseModel, Field, JsonValue"
    ),
}
# Names the module binds or its annotations use: a class must not take them.
_MODULE_NAMES = frozenset(
    {
        "annotations",
        "datetime",
        "uuid",
        "Annotated",
        "Any",
        "List",
        "Literal",
        "NotRequired",
        "Optional",
        "TypeAlias",
        "TypedDict",
        "BaseModel",
        "Field",
        "Json",
        "JsonValue",
        "bool",
        "int",
        "float",
        "str",
        "bytes",
        "list",
        "dict",
    }
)
# BaseModel members in pydantic's protected "model_" namespace: a field may not take them.
_PYDANTIC_MEMBERS = frozenset(
    {
        "model_config",
        "model_fields",
        "model_computed_fields",
        "model_extra",
        "model_fields_set",
        "model_construct",
        "model_copy",
        "model_dump",
        "model_dump_json",
        "model_json_schema",
        "model_parametrized_name",
        "model_post_init",
        "model_rebuild",
        "model_validate",
        "model_validate_json",
        "model_validate_strings",
    }
)
_PY_TYPES = {
    "bool": "bool",
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "float4": "float",
    "float8": "float",
    "numeric": "float",
    "bytea": "bytes",
    "bpchar": "str",
    "varchar": "str",
    "string": "str",
    "date": "datetime.date",
    "text": "str",
    "citext": "str",
    "time": "datetime.time",
    "timetz": "datetime.time",
    "timestamp": "datetime.datetime",
    "timestamptz": "datetime.datetime",
    "uuid": "uuid.UUID",
    "vector": "list[Any]",
    "interval": "str",
    "int4range": "str",
    "int4multirange": "str",
    "int8range": "str",
    "int8multirange": "str",
    "numrange": "str",
    "nummultirange": "str",
    "tsrange": "str",
    "tsmultirange": "str",
    "tstzrange": "str",
    "tstzmultirange": "str",
    "daterange": "str",
    "datemultirange": "str",
    "void": "None",
    "record": "dict[str, Any]",
}
_JSON_TYPE = {"0.98.0": "Json[Any]", "0.99.0": "JsonValue"}
_SPLIT_ONE = re.compile(r"[^a-zA-Z0-9]")
_SPLIT_RUN = re.compile(r"[^a-zA-Z0-9]+")
_ROOT_NAME = re.compile(r"(?<![.\w])[A-Za-z_]\w*")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def class_case(name: str) -> str:
    """postgres-meta's ``formatForPyClassName``: ``pokemon_center`` -> ``PokemonCenter``."""
    return "".join(w[0].upper() + w[1:] for w in _SPLIT_ONE.split(name) if w)


@lru_cache(maxsize=65536)
def field_case(name: str) -> str:
    """postgres-meta's ``formatForPyAttributeName``: ``Item ID`` -> ``item_id``."""
    return "_".join(w.lower() for w in _SPLIT_RUN.split(name))


def _is_identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _valid_class(name: str) -> bool:
    return _is_identifier(name) and name not in _MODULE_NAMES


def _repair_class(name: str) -> str:
    """A valid start for a class name the reference spells invalidly (``Namer`` then adds
    ``_2``... while it is taken)."""
    if not name:
        return "_"
    if name[0].isdigit():
        return "_" + name
    if not _valid_class(name):
        return name + "_"  # None, True, False, or a name the module uses
    return name  # only taken


@dataclass(slots=True)
class _Decl:
    """A class or alias of the output: its reference spelling and the entity it stands for."""

    wanted: str
    key: tuple[str, str] | None  # (schema, name) of the type it is the row/alias of


class _Python:
    def __init__(self, meta: TemplateInput) -> None:
        self.meta = meta
        self.old = meta.is_old
        self.deviations: list[Deviation] = []
        self.json_type = _JSON_TYPE[meta.version]
        last_schema: dict[str, str] = {}
        for t in meta.types:
            last_schema[t.name] = t.schema  # a later same-named type replaces an earlier one
        self.last_schema = last_schema
        enum_owner: dict[str, str] = {}
        for t in meta.enum_types():
            enum_owner[t.name] = t.schema
        self.enum_owner = enum_owner
        self.enum_order = js_key_order(t.name for t in meta.enum_types())
        self.names: dict[tuple[str, str], str] = {}  # (schema, name) -> its class or alias
        self._parsed: dict[str, str] = {}
        self._strings: dict[str, str] = {}

    # ---- strings and types

    def string(self, text: str) -> str:
        """``text`` as the reference writes it in a string literal (cached)."""
        cached = self._strings.get(text)
        if cached is None:
            cached = self._strings[text] = self._string(text)
        return cached

    def _string(self, text: str) -> str:
        if not self.old:
            return json_string(text)
        if _NEEDS_ESCAPE.search(text):
            escaped = json_string(text)
            self.deviations.append(
                Deviation(
                    f"string {text!r}: written escaped ({escaped}); the reference writes it "
                    "between quotes unescaped, which breaks the literal",
                    f'"{text}"',
                    escaped,
                )
            )
            return escaped
        return f'"{text}"'

    def entity(self, schema: str, name: str) -> str:
        return self.names.get((schema, name)) or class_case(schema) + class_case(name)

    def resolve(self, name: str) -> str:
        owner = self.enum_owner.get(name)
        if owner is not None:
            return self.entity(owner, name)
        if name in JS_PROTOTYPE_NAMES:  # ``name in {}`` is true for these in JavaScript
            return JS_PROTOTYPE_NAMES[name]
        mapped = _PY_TYPES.get(name)
        if mapped is not None:
            return mapped
        if name in ("json", "jsonb"):
            return self.json_type
        schema = self.last_schema.get(name)
        if schema is not None:
            return self.entity(schema, name)
        return "Any"

    def parse(self, pg_type: str) -> str:
        cached = self._parsed.get(pg_type)
        if cached is None:
            if pg_type.startswith("_"):
                cached = f"List[{self.parse(pg_type[1:])}]"
            else:
                cached = self.resolve(pg_type)
            self._parsed[pg_type] = cached
        return cached

    # ---- declarations

    def declarations(self) -> list[_Decl]:
        meta = self.meta
        decls = [
            _Decl(class_case(self.enum_owner[n]) + class_case(n), (self.enum_owner[n], n))
            for n in self.enum_order
        ]
        for rel in meta.tables:
            base = class_case(rel.schema) + class_case(rel.name)
            decls += [
                _Decl(base, (rel.schema, rel.name)),
                _Decl(base + "Insert", None),
                _Decl(base + "Update", None),
            ]
        for rel in (*meta.views, *meta.materialized_views):
            decls.append(
                _Decl(class_case(rel.schema) + class_case(rel.name), (rel.schema, rel.name))
            )
        for schema, name in self.composites():
            decls.append(_Decl(class_case(schema) + class_case(name), (schema, name)))
        return decls

    def composites(self) -> list[tuple[str, str]]:
        """The composite types the output defines: of the included schemas, in list order."""
        included = set(self.meta.schemas)
        return [(t.schema, t.name) for t in self.meta.composite_types() if t.schema in included]

    def name_declarations(self) -> list[str]:
        decls = self.declarations()
        namer = Namer(is_valid=_valid_class, repair=_repair_class)
        names, changed = namer.assign([d.wanted for d in decls])
        for wanted, ours in changed:
            self.deviations.append(
                Deviation(
                    f"class {wanted!r}: named {ours} (the reference's name is invalid, "
                    "shadows a name the module uses, or is already taken)",
                    wanted,
                    ours,
                )
            )
        for decl, name in zip(decls, names, strict=True):
            if decl.key is not None:
                self.names.setdefault(decl.key, name)
        return names

    # ---- classes

    def field_names(
        self, owners: tuple[str, ...], columns: list[Column], types: list[str], model: bool
    ) -> list[str]:
        """The fields of the classes ``owners`` (same columns), deviations recorded for each."""
        roots = {m for t in types for m in _ROOT_NAME.findall(t)} if model else set()

        def valid(name: str) -> bool:
            if not _is_identifier(name):
                return False
            if model:
                return (
                    not name.startswith("_")
                    and name not in _PYDANTIC_MEMBERS
                    and (name not in roots)
                )
            return True

        def repair(name: str) -> str:
            if model:
                name = name.lstrip("_")  # pydantic refuses leading underscores
            if not name:
                return "field"
            if name[0].isdigit():
                return "field_" + name
            return name if valid(name) else name + "_"

        namer = Namer(is_valid=valid, repair=repair)
        wanted = [field_case(c.name) for c in columns]
        names, changed = namer.assign(
            wanted, [w == c.name for w, c in zip(wanted, columns, strict=True)]
        )
        for owner in owners:
            for before, ours in changed:
                self.deviations.append(
                    Deviation(
                        f"class {owner}: field {before!r} named {ours} (the reference's name "
                        "is invalid there, hides a name its annotations use, or repeats "
                        "another field's)",
                        before,
                        ours,
                        owner,
                    )
                )
        return names

    def model(self, name: str, columns: list[Column], nullable: list[bool]) -> str:
        types = [self.parse(c.format) for c in columns]
        types = [f"Optional[{t}]" if n else t for t, n in zip(types, nullable, strict=True)]
        fields = self.field_names((name,), columns, types, model=True)
        lines = [f"class {name}(BaseModel):"]
        lines += [
            f"    {f}: {t} = Field(alias={self.string(c.name)})"
            for f, t, c in zip(fields, types, columns, strict=True)
        ]
        if not columns:
            lines.append("    pass")
        return "\n".join(lines)

    def typed_dicts(self, insert: str, update: str, columns: list[Column]) -> tuple[str, str]:
        """A table's ``Insert`` and ``Update`` TypedDicts (same fields, different optionality)."""
        fields = self.field_names((insert, update), columns, [], model=False)
        insert_lines = [f"class {insert}(TypedDict):"]
        update_lines = [f"class {update}(TypedDict):"]
        for f, c in zip(fields, columns, strict=True):
            t = self.parse(c.format)
            if c.is_nullable:
                t = f"Optional[{t}]"
            optional = f"    {f}: NotRequired[Annotated[{t}, Field(alias={self.string(c.name)})]]"
            update_lines.append(optional)
            insert_lines.append(
                optional
                if has_default(c)
                else f"    {f}: Annotated[{t}, Field(alias={self.string(c.name)})]"
            )
        if not columns:
            insert_lines.append("    pass")
            update_lines.append("    pass")
        return "\n".join(insert_lines), "\n".join(update_lines)

    def relation_model(self, name: str, rel: Relation) -> str:
        columns = self.meta.columns(rel)
        return self.model(name, columns, [c.is_nullable for c in columns])

    def composite_model(self, name: str, schema: str, type_name: str) -> str:
        composite = self.meta.composites[(schema, type_name)]
        columns = []
        for a in composite.attributes:
            if self.last_schema.get(a.type.name) != a.type.schema:
                self.deviations.append(
                    Deviation(
                        f"composite type {schema}.{type_name}: attribute {a.name!r} of type "
                        f"{a.type.schema}.{a.type.name}, which a same-named type listed later "
                        "hides; the reference crashes (reading 'name' of undefined)"
                    )
                )
            columns.append(
                Column(
                    name=a.name,
                    position=0,
                    type_name=a.type.name,
                    type_schema=a.type.schema,
                    format=a.type.name,
                    data_type="",
                    array_dims=0,
                    is_nullable=not self.old,
                    default=None,
                    identity=None,
                    generated=None,
                    is_updatable=False,
                )
            )
        return self.model(name, columns, [c.is_nullable for c in columns])

    def render(self) -> str:
        names = iter(self.name_declarations())
        meta = self.meta
        enums = []
        for enum_name in self.enum_order:
            alias = next(names)
            labels = meta.enums[(self.enum_owner[enum_name], enum_name)]
            enums.append(
                f"{alias}: TypeAlias = Literal[{', '.join(self.string(v) for v in labels)}]"
            )
        tables = []
        for rel in meta.tables:
            tables.append(self.relation_model(next(names), rel))
            tables.extend(self.typed_dicts(next(names), next(names), meta.columns(rel)))
        views = [self.relation_model(next(names), rel) for rel in meta.views]
        matviews = [self.relation_model(next(names), rel) for rel in meta.materialized_views]
        composites = [self.composite_model(next(names), s, n) for s, n in self.composites()]
        text = "\n\n".join(
            [_HEADER[meta.version]]
            + ["\n\n".join(part) for part in (enums, tables, views, matviews, composites)]
        )
        return text.rstrip() + "\n"


def generate_python(catalog: Catalog, options: TypegenOptions | None = None) -> Generated:
    """What ``supabase gen types --lang python`` prints for ``catalog`` (one final newline)."""
    options = options or catalog.options
    with gc_paused():
        gen = _Python(template_input(catalog, options.pg_meta_version))
        text = gen.render()
    return Generated(text, tuple(dict.fromkeys(gen.deviations)))


__all__ = ["class_case", "field_case", "generate_python"]
