"""What Supabase's Python, Go and Swift templates are given, in the order they get it (pure).

postgres-meta hands its templates the rows of its catalog queries. Version 0.98.0 uses them in
the order the server returns them: tables by oid (its ``GROUP BY`` sorts on it), views and
materialized views in pg_class's physical order (``Catalog.view_order``), types by oid.
Version 0.99.0 first sorts every list by schema, then name (ICU collation, ``collation.py``).
That order decides which of two same-named types wins a lookup by name, and the order of the
generated classes and structs, so it is reproduced here exactly.

Also here: the few JavaScript behaviours the templates lean on (``JSON.stringify``, the key
order of plain objects, the ``in`` operator seeing ``Object.prototype``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ctas7_panel.errors import SchemaError
from ctas7_panel.schema.collation import sort_key
from ctas7_panel.schema.model import Catalog, Column, CompositeType, PgType, Relation

T = TypeVar("T")


class _Named(Protocol):
    @property
    def schema(self) -> str: ...
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)

OLD = "0.98.0"  # postgres-meta releases whose output differs in order and escaping
NEW = "0.99.0"

# Names a plain JavaScript object answers ``in`` for without owning them, with the ``.name``
# of what it returns for them (``__proto__`` yields Object.prototype, whose name is undefined).
JS_PROTOTYPE_NAMES: dict[str, str] = {
    "constructor": "Object",
    "toString": "toString",
    "toLocaleString": "toLocaleString",
    "valueOf": "valueOf",
    "hasOwnProperty": "hasOwnProperty",
    "isPrototypeOf": "isPrototypeOf",
    "propertyIsEnumerable": "propertyIsEnumerable",
    "__defineGetter__": "__defineGetter__",
    "__defineSetter__": "__defineSetter__",
    "__lookupGetter__": "__lookupGetter__",
    "__lookupSetter__": "__lookupSetter__",
    "__proto__": "undefined",
}

_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")


_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def json_string(text: str) -> str:
    """``JSON.stringify(text)``: double quotes, backslash escapes, non-ASCII kept."""
    if _JSON_ESCAPED.search(text) is None:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


def js_key_order(keys: Iterable[str]) -> list[str]:
    """The order a JavaScript object lists ``keys`` inserted in this order: integer-like keys
    (array indices) first, ascending, then the others in first-insertion order."""
    seen: dict[str, None] = dict.fromkeys(keys)
    indices = sorted((k for k in seen if _ARRAY_INDEX.match(k) and int(k) < 2**32 - 1), key=int)
    index_set = set(indices)
    return indices + [k for k in seen if k not in index_set]


def by_name(items: Iterable[T], name: str = "name") -> list[T]:
    """``items`` sorted by an attribute with ``localeCompare`` (stable)."""
    return sorted(items, key=lambda item: sort_key(getattr(item, name)))


def _by_schema_name(items: Iterable[N]) -> list[N]:
    return sorted(items, key=lambda item: (sort_key(item.schema), sort_key(item.name)))


@dataclass(slots=True)
class TemplateInput:
    """The lists a template receives, in its version's order (names, never OIDs)."""

    version: str
    schemas: tuple[str, ...]  # the included schemas, sorted by name
    tables: tuple[Relation, ...]  # tables, partitioned tables and partitions
    foreign_tables: tuple[Relation, ...]
    views: tuple[Relation, ...]
    materialized_views: tuple[Relation, ...]
    types: tuple[PgType, ...]  # every schema's types (the type list's rows)
    enums: dict[tuple[str, str], tuple[str, ...]]  # (schema, name) -> labels, non-empty only
    composites: dict[tuple[str, str], CompositeType]  # idem, with at least one attribute
    _columns: dict[tuple[str, str], list[Column]] = field(default_factory=dict)

    @property
    def is_old(self) -> bool:
        return self.version == OLD

    def columns(self, rel: Relation) -> list[Column]:
        """``rel``'s columns sorted by name (``localeCompare``; ties keep attnum order)."""
        key = (rel.schema, rel.name)
        cached = self._columns.get(key)
        if cached is None:
            cached = self._columns[key] = by_name(rel.columns)
        return cached

    def enum_types(self) -> list[PgType]:
        return [t for t in self.types if (t.schema, t.name) in self.enums]

    def composite_types(self) -> list[PgType]:
        return [t for t in self.types if (t.schema, t.name) in self.composites]


def has_default(c: Column) -> bool:
    """The templates' "may be left out of an insert": nullable, identity, generated or with
    a default (postgres-meta's ``default_value`` is also set for generated columns)."""
    return (
        c.is_nullable
        or c.identity is not None
        or c.generated is not None
        or (c.default is not None)
    )


def nullable_in(c: Column, operation: str) -> bool:
    """Whether the Go and Swift templates make ``c`` optional in a ``Select``, ``Insert`` or
    ``Update`` struct."""
    if operation == "Insert":
        return has_default(c)
    return operation == "Update" or c.is_nullable


def template_input(catalog: Catalog, version: str) -> TemplateInput:
    """The template input postgres-meta ``version`` builds from ``catalog``."""
    if not catalog.types:
        raise SchemaError(
            "the catalog was read without its type list: introspect it with type_list=True "
            "to generate Python, Go or Swift"
        )
    included = set(catalog.schema_names)
    relations = [r for r in catalog.relations if r.schema in included]  # already oid order
    tables = [r for r in relations if r.kind in ("table", "partitioned_table")]
    foreign = [r for r in relations if r.kind == "foreign_table"]
    views = [r for r in relations if r.kind == "view"]
    matviews = [r for r in relations if r.kind == "materialized_view"]
    types: Sequence[PgType] = catalog.types
    if version == OLD:
        types = [t for t in types if t.relation_kind != "f"]  # its query leaves them out
        if catalog.view_order:
            rank = {key: i for i, key in enumerate(catalog.view_order)}
            last = len(rank)
            views.sort(key=lambda r: rank.get((r.schema, r.name), last))
            matviews.sort(key=lambda r: rank.get((r.schema, r.name), last))
    else:
        tables = _by_schema_name(tables)
        foreign = _by_schema_name(foreign)
        views = _by_schema_name(views)
        matviews = _by_schema_name(matviews)
        types = _by_schema_name(types)
    return TemplateInput(
        version=version,
        schemas=tuple(sorted(included, key=sort_key)),
        tables=tuple(tables),
        foreign_tables=tuple(foreign),
        views=tuple(views),
        materialized_views=tuple(matviews),
        types=tuple(types),
        enums={(e.schema, e.name): e.labels for e in catalog.enums if e.labels},
        composites={(c.schema, c.name): c for c in catalog.composites if c.attributes},
    )


@dataclass(frozen=True, slots=True)
class Deviation:
    """One place where the output differs from the reference's on purpose.

    ``what`` says why (the reference crashes there, or its code would not compile or
    import); ``reference`` and ``ours`` are the texts at that place (a name, a string literal,
    a struct tag), both empty when the reference crashes instead of printing anything;
    ``where`` is the class or struct (our name for it) a field belongs to, '' for the module.
    """

    what: str
    reference: str = ""
    ours: str = ""
    where: str = ""

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True, slots=True)
class Generated:
    """A generator's output and the places it deliberately differs from the reference's.

    ``deviations`` is empty when the text is what postgres-meta prints byte for byte (the
    classes of deviation are listed in ``docs/typegen.md``).
    """

    text: str
    deviations: tuple[Deviation, ...] = ()
