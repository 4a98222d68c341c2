"""Canonical snapshot of a ``Catalog`` and its fingerprint (pure, except ``load_snapshot``, which
reads either snapshot file through ``snapshot_file``).

A snapshot is plain JSON: names, types, nullability, defaults, identity, generated columns,
constraints, indexes and comments of every included object, in a fixed order and with no
OIDs or attnums (column ``position`` is the 1-based rank in attnum order, so a dropped column
leaves no trace). ``canonical_json`` is ``orjson`` with sorted keys, and
``fingerprint = sha256(canonical_json(snapshot))`` in hex. Two databases built from the same
SQL on the same server version have the same fingerprint; adding an index or a comment
changes it even when the generated types do not.

Other components can rebuild a typed table registry from a snapshot file alone: every
relation lists its columns, in column order, with ``name``, ``type`` (``format_type``), ``udt``
(the type's name), ``format`` (the base type's name for a domain), ``nullable``, ``default``,
``identity`` (``"ALWAYS"``, ``"BY DEFAULT"`` or null) and ``generated`` (the expression of a
stored generated column, or null). Keys that are rarely set (``comment``, ``collation``,
``array_dims``; ``is_updatable`` on view columns) appear only when they say something.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.errors import ArtifactError
from ctas7_panel.gcpause import gc_paused
from ctas7_panel.schema.model import Catalog, Column, Relation

SNAPSHOT_FORMAT = 1

Snapshot = dict[str, Any]


def _column(c: Column, view: bool) -> dict[str, Any]:
    out = {
        "name": c.name,
        "type": c.data_type,
        "udt": c.type_name,
        "format": c.format,
        "nullable": c.is_nullable,
        "default": c.default,
        "identity": c.identity,
        "generated": c.generated,
    }
    # rarely set: present only when they say something (keeps big snapshots small and fast)
    if c.array_dims:
        out["array_dims"] = c.array_dims
    if c.collation is not None:
        out["collation"] = c.collation
    if c.comment is not None:
        out["comment"] = c.comment
    if view:
        out["is_updatable"] = c.is_updatable
    return out


def _relation(rel: Relation) -> dict[str, Any]:
    view = rel.is_view
    out: dict[str, Any] = {
        "schema": rel.schema,
        "name": rel.name,
        "kind": rel.kind,
        "columns": [_column(c, view) for c in rel.columns],
        "constraints": [
            {"name": k.name, "kind": k.kind, "definition": k.definition, "columns": list(k.columns)}
            for k in rel.constraints
        ],
        "indexes": [
            {
                "name": x.name,
                "definition": x.definition,
                "unique": x.is_unique,
                "primary": x.is_primary,
            }
            for x in rel.indexes
        ],
    }
    for key, value in (
        ("comment", rel.comment),
        ("partition_of", rel.partition_of),
        ("partition_bound", rel.partition_bound),
        ("view_definition", rel.view_definition),
    ):
        if value is not None:
            out[key] = value
    if view:
        out["is_updatable"] = rel.is_updatable
    if rel.rls_enabled:
        out["rls_enabled"] = True
    return out


relation_entry = _relation  # one relation's part of a snapshot


def to_snapshot(
    catalog: Catalog,
    entry: Callable[[Relation], dict[str, Any]] | None = None,
    relationships: list[Any] | None = None,
) -> Snapshot:
    """The canonical, JSON-able description of ``catalog``. ``entry``: each relation's part,
    when the caller has it already (it must equal ``relation_entry(relation)``);
    ``relationships``: the ``"relationships"`` list of an earlier snapshot of the same
    relationships (for the incremental reader)."""
    with gc_paused():
        return _snapshot(catalog, entry or _relation, relationships)


def _relationships(catalog: Catalog) -> list[Any]:
    return sorted(
        (
            [
                r.foreign_key_name,
                r.schema,
                r.relation,
                list(r.columns),
                r.is_one_to_one,
                r.referenced_schema,
                r.referenced_relation,
                list(r.referenced_columns),
            ]
            for r in catalog.relationships
        ),
        key=lambda r: orjson.dumps(r),
    )


def _snapshot(
    catalog: Catalog,
    entry: Callable[[Relation], dict[str, Any]],
    relationships: list[Any] | None,
) -> Snapshot:
    relations = sorted(catalog.relations, key=lambda r: (r.schema, r.name))
    functions = sorted(catalog.functions, key=lambda f: (f.schema, f.name, f.identity_arguments))
    options = catalog.options
    return {
        "format": SNAPSHOT_FORMAT,
        "options": {
            "schemas": None if options.schemas is None else sorted(set(options.schemas)),
            "detect_one_to_one": options.detect_one_to_one,
            "postgrest_version": options.postgrest_version,
        },
        "schemas": sorted(
            ({"name": s.name, "comment": s.comment} for s in catalog.schemas),
            key=lambda s: str(s["name"]),
        ),
        "table_count": sum(1 for r in relations if r.is_table),
        "view_count": sum(1 for r in relations if r.is_view),
        "relations": [entry(r) for r in relations],
        "enums": [
            {"schema": e.schema, "name": e.name, "labels": list(e.labels), "comment": e.comment}
            for e in sorted(catalog.enums, key=lambda e: (e.schema, e.name))
        ],
        "composites": [
            {
                "schema": c.schema,
                "name": c.name,
                "comment": c.comment,
                "attributes": [
                    {"name": a.name, "type": a.type.display, "udt": a.type.name}
                    for a in c.attributes
                ],
            }
            for c in sorted(catalog.composites, key=lambda c: (c.schema, c.name))
        ],
        "domains": [
            {
                "schema": d.schema,
                "name": d.name,
                "base_type": d.base_type,
                "not_null": d.not_null,
                "default": d.default,
                "checks": list(d.checks),
                "comment": d.comment,
            }
            for d in sorted(catalog.domains, key=lambda d: (d.schema, d.name))
        ],
        "functions": [
            {
                "schema": f.schema,
                "name": f.name,
                "identity_arguments": f.identity_arguments,
                "arguments": f.argument_types,
                "result": f.result,
                "args": [
                    {
                        "name": a.name,
                        "mode": a.mode,
                        "type": a.type.display,
                        "udt": a.type.name,
                        "has_default": a.has_default,
                    }
                    for a in f.args
                ],
                "returns": f.return_type.display,
                "returns_set": f.returns_set,
                "rows": f.rows,
                "language": f.language,
                "volatility": f.volatility,
                "security_definer": f.security_definer,
                "definition_md5": f.definition_md5,
                "comment": f.comment,
            }
            for f in functions
        ],
        "relationships": _relationships(catalog) if relationships is None else relationships,
    }


def canonical_json(snapshot: Snapshot) -> bytes:
    """The snapshot as compact JSON with sorted keys: the bytes the fingerprint hashes."""
    try:
        return orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise ArtifactError(f"snapshot is not plain JSON: {exc}") from exc


_SPLICE = "\x00relations"  # no catalog text holds NUL, so its JSON occurs nowhere else
_SPLICE_JSON = orjson.dumps(_SPLICE)


def canonical_json_spliced(snapshot: Snapshot, relations: Sequence[bytes]) -> bytes:
    """``canonical_json(snapshot)`` when ``relations[i]`` is ``canonical_json`` of
    ``snapshot["relations"][i]``: serializes everything but the relations, whose bytes the
    caller kept (compact JSON of a list is its items' JSON joined by commas)."""
    head = dict(snapshot)
    head["relations"] = _SPLICE
    text = canonical_json(head)
    return text.replace(_SPLICE_JSON, b"[" + b",".join(relations) + b"]", 1)


def fingerprint(snapshot: Snapshot) -> str:
    """``sha256(canonical_json(snapshot))`` in hex."""
    return hashlib.sha256(canonical_json(snapshot)).hexdigest()


def types_hash(types_text: str) -> str:
    """``sha256`` of the generated TypeScript, in hex."""
    return hashlib.sha256(types_text.encode()).hexdigest()


def column_counts(snapshot: Snapshot) -> tuple[tuple[str, int], ...]:
    """(relation, column count) for every relation, sorted; ``schema.name`` outside public."""
    out = []
    for rel in snapshot["relations"]:
        name = rel["name"] if rel["schema"] == "public" else f"{rel['schema']}.{rel['name']}"
        out.append((name, len(rel["columns"])))
    return tuple(sorted(out))


def load_snapshot(path: str | Path) -> Snapshot:
    """The canonical snapshot in a snapshot file (a bare snapshot or the sync node's record),
    or ``ArtifactError`` saying what is wrong with it (see ``snapshot_file``)."""
    from ctas7_panel.schema.snapshot_file import read_snapshot_file

    return read_snapshot_file(path).snapshot
