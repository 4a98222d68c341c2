"""Relationships through views, derived from foreign keys and view definitions (pure).

PostgREST (and so Supabase's generator) lets a view stand in for a table on either side of a
foreign key when the view passes the key's columns through unchanged. For a view ``v`` this
needs to know, for each view column, the base-table column it comes from; PostgreSQL keeps
that in the view's rewrite rule as ``resorigtbl``/``resorigcol`` of the top-level target list.

- ``target_list_origins(ev_action)`` reads those from ``pg_rewrite.ev_action::text``.
- ``view_key_dependencies`` follows views of views down to base tables and finds the foreign
  keys whose columns (referencing side: ``"f"``; referenced side: ``"f_ref"``) a view exposes.
- ``expand_view_relationships`` turns each table-to-table relationship into the view-to-table,
  table-to-view and view-to-view ones, one per combination of exposing view columns.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ctas7_panel.schema.model import Relationship

QualifiedName = tuple[str, str]

_TOKENS = re.compile(r"\\.|[{}()]|:(targetList|resno|resorigtbl|resorigcol) ([^\s{}()]*)")


def _top_level_target_list(ev_action: str) -> int:
    """Offset of the first query's ``:targetList`` in a node tree, or -1."""
    start = 0
    while True:
        at = ev_action.find(" :targetList ", start)
        if at < 0:
            return -1
        prefix = ev_action[:at]
        depth = (
            prefix.count("{") + prefix.count("(") - prefix.count("}") - prefix.count(")")
            - prefix.count("\\{") - prefix.count("\\(")
            + prefix.count("\\}") + prefix.count("\\)")
        )  # fmt: skip
        if depth == 2:
            return at
        start = at + 1


def target_list_origins(ev_action: str) -> list[tuple[int, int, int]]:
    """``(resno, resorigtbl, resorigcol)`` of the first query's target entries with an origin."""
    at = _top_level_target_list(ev_action)
    if at < 0 or ev_action.startswith("<>", at + len(" :targetList ")):
        return []
    depth = 2
    entry: dict[str, int] | None = None
    found: list[tuple[int, int, int]] = []
    for match in _TOKENS.finditer(ev_action, at + len(" :targetList ")):
        token = match.group(0)
        head = token[0]
        if head in "({":
            depth += 1
            if depth == 4 and head == "{":
                entry = {}
            continue
        if head in ")}":
            if depth == 4 and head == "}" and entry is not None:
                if entry.get("resorigtbl"):
                    found.append((entry["resno"], entry["resorigtbl"], entry["resorigcol"]))
                entry = None
            depth -= 1
            if depth <= 2:
                break
            continue
        if head == "\\":
            continue
        if depth == 2:
            break  # ":targetList <>": an empty target list
        key = match.group(1)
        if depth == 4 and entry is not None and key != "targetList":
            try:
                entry[key] = int(match.group(2))
            except ValueError:
                entry[key] = 0
    return found


@dataclass(frozen=True, slots=True)
class ViewColumnSource:
    """View column ``column`` passes through ``table``'s column ``table_column``."""

    view: QualifiedName
    column: str
    position: int
    table: QualifiedName
    table_column: str


def resolve_view_sources(
    direct: Mapping[QualifiedName, Sequence[tuple[int, str, QualifiedName, str]]],
) -> list[ViewColumnSource]:
    """Follow views of views to base relations.

    ``direct[view]`` lists ``(position, view_column, source_relation, source_column)`` as read
    from the view's own target list. A source that is itself a view is replaced by what that
    view's column comes from, recursively (cycles and chains deeper than 64 are cut).
    """
    by_column: dict[tuple[QualifiedName, str], tuple[QualifiedName, str]] = {}
    for view, entries in direct.items():
        for _position, column, source, source_column in entries:
            by_column[(view, column)] = (source, source_column)
    out: list[ViewColumnSource] = []
    for view, entries in direct.items():
        for position, column, source, source_column in entries:
            seen = 0
            while source in direct and seen < 64:
                nxt = by_column.get((source, source_column))
                if nxt is None:
                    break
                source, source_column = nxt
                seen += 1
            if source in direct:
                continue  # a view column with no base-table origin
            out.append(ViewColumnSource(view, column, position, source, source_column))
    return out


@dataclass(frozen=True, slots=True)
class KeyDependency:
    """View ``view`` exposes every column of constraint ``constraint`` of ``table``."""

    table: QualifiedName
    view: QualifiedName
    constraint: str
    kind: str  # "f": the referencing columns; "f_ref": the referenced columns
    columns: tuple[tuple[str, tuple[str, ...]], ...]  # (table column, view columns exposing it)


def view_key_dependencies(
    sources: Iterable[ViewColumnSource], foreign_keys: Sequence[Relationship]
) -> list[KeyDependency]:
    """The foreign-key sides that views expose completely."""
    exposed: dict[tuple[QualifiedName, QualifiedName, str], list[tuple[int, str]]] = {}
    for src in sources:
        exposed.setdefault((src.view, src.table, src.table_column), []).append(
            (src.position, src.column)
        )
    # table -> view -> table column -> the view columns exposing it (in view column order)
    by_table: dict[QualifiedName, dict[QualifiedName, dict[str, tuple[str, ...]]]] = {}
    for (view, table, table_column), cols in exposed.items():
        names = tuple(name for _, name in sorted(cols))
        by_table.setdefault(table, {}).setdefault(view, {})[table_column] = names
    deps: list[KeyDependency] = []
    for fk in foreign_keys:
        sides = (
            ("f", (fk.schema, fk.relation), fk.columns),
            ("f_ref", (fk.referenced_schema, fk.referenced_relation), fk.referenced_columns),
        )
        for kind, table, columns in sides:
            for view, mapping in by_table.get(table, {}).items():
                if not all(col in mapping for col in columns):
                    continue
                deps.append(
                    KeyDependency(
                        table=table,
                        view=view,
                        constraint=fk.foreign_key_name,
                        kind=kind,
                        columns=tuple((col, mapping[col]) for col in columns),
                    )
                )
    return deps


def _column_choices(dep: KeyDependency) -> list[tuple[str, ...]]:
    return [tuple(choice) for choice in itertools.product(*(cols for _, cols in dep.columns))]


def expand_view_relationships(
    foreign_keys: Sequence[Relationship], deps: Sequence[KeyDependency]
) -> list[Relationship]:
    """The view-to-table, table-to-view and view-to-view relationships of ``foreign_keys``."""
    index: dict[tuple[str, QualifiedName, str], list[KeyDependency]] = {}
    for dep in deps:
        index.setdefault((dep.kind, dep.table, dep.constraint), []).append(dep)
    out: list[Relationship] = []
    for r in foreign_keys:
        name = r.foreign_key_name
        referencing = index.get(("f", (r.schema, r.relation), name), [])
        referenced = index.get(("f_ref", (r.referenced_schema, r.referenced_relation), name), [])
        for d in referencing:
            for cols in _column_choices(d):
                out.append(
                    Relationship(
                        r.foreign_key_name, d.view[0], d.view[1], cols, r.is_one_to_one,
                        r.referenced_schema, r.referenced_relation, r.referenced_columns,
                        r.key_schema_quoted, r.key_schema,
                    )
                )  # fmt: skip
        for d in referenced:
            for cols in _column_choices(d):
                out.append(
                    Relationship(
                        r.foreign_key_name, r.schema, r.relation, r.columns, r.is_one_to_one,
                        d.view[0], d.view[1], cols, r.key_schema_quoted, r.key_schema,
                    )
                )  # fmt: skip
        for d in referencing:
            for cols in _column_choices(d):
                for e in referenced:
                    for ref_cols in _column_choices(e):
                        out.append(
                            Relationship(
                                r.foreign_key_name, d.view[0], d.view[1], cols, r.is_one_to_one,
                                e.view[0], e.view[1], ref_cols, r.key_schema_quoted,
                                r.key_schema,
                            )
                        )  # fmt: skip
    return out
