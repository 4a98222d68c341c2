"""What the MCP server says about a schema and its history, as plain data (pure).

Everything here reads the canonical snapshot (``ctas7_panel.schema.snapshot``) or stored events
and returns JSON-able dicts; the budget and the paging are applied by the callers
(``ctas7_panel.mcp.tools``). No I/O.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ctas7_panel.errors import UsageError
from ctas7_panel.events import Event

Snapshot = Mapping[str, Any]
COMMENT_CHARS = 160


def _short(text: str | None, limit: int = COMMENT_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def relations(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    return list(snapshot.get("relations", ()))


def matches(name: str, pattern: str | None) -> bool:
    """``pattern``: a glob (``*``, ``?``) or, without wildcards, a case-insensitive substring."""
    if not pattern:
        return True
    low, pat = name.lower(), pattern.lower()
    if any(ch in pat for ch in "*?["):
        return fnmatch.fnmatchcase(low, pat)
    return pat in low


def table_rows(
    snapshot: Snapshot,
    *,
    schema: str | None = None,
    match: str | None = None,
    columns: bool = False,
) -> list[dict[str, Any]]:
    """One row per table or view, sorted by schema and name; compact unless ``columns``."""
    out: list[dict[str, Any]] = []
    for rel in relations(snapshot):
        if schema is not None and rel["schema"] != schema:
            continue
        if not matches(rel["name"], match):
            continue
        row: dict[str, Any] = {
            "schema": rel["schema"],
            "name": rel["name"],
            "kind": rel["kind"],
            "columns": len(rel["columns"]),
        }
        if rel.get("comment"):
            row["comment"] = _short(rel["comment"])
        if rel.get("rls_enabled"):
            row["rls"] = True
        if columns:
            row["columns"] = [
                f"{c['name']} {c['type']}{'' if c['nullable'] else ' not null'}"
                for c in rel["columns"]
            ]
        out.append(row)
    out.sort(key=lambda r: (r["schema"], r["name"]))
    return out


def find_relation(snapshot: Snapshot, schema: str, name: str) -> Mapping[str, Any]:
    """The relation ``schema.name``, or a ``UsageError`` naming close matches."""
    for rel in relations(snapshot):
        if rel["schema"] == schema and rel["name"] == name:
            return rel
    near = sorted(
        f"{r['schema']}.{r['name']}"
        for r in relations(snapshot)
        if r["name"].lower() == name.lower() or name.lower() in r["name"].lower()
    )[:5]
    hint = f"; did you mean {', '.join(near)}?" if near else "; list them with list_tables"
    raise UsageError(f"no table or view {schema}.{name} in the schema{hint}")


def relationships_of(snapshot: Snapshot, schema: str, name: str) -> dict[str, list[dict[str, Any]]]:
    """Foreign keys out of ``schema.name`` and into it."""
    outgoing: list[dict[str, Any]] = []
    incoming: list[dict[str, Any]] = []
    for fk in snapshot.get("relationships", ()):
        fk_name, fschema, frel, cols, one_to_one, rschema, rrel, rcols = fk
        item = {
            "name": fk_name,
            "from": f"{fschema}.{frel}",
            "columns": list(cols),
            "to": f"{rschema}.{rrel}",
            "referenced_columns": list(rcols),
            "one_to_one": bool(one_to_one),
        }
        if (fschema, frel) == (schema, name):
            outgoing.append(item)
        if (rschema, rrel) == (schema, name):
            incoming.append(item)
    return {"outgoing": outgoing, "incoming": incoming}


def column_rows(rel: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The relation's columns without the null-valued keys (they say nothing)."""
    return [{k: v for k, v in c.items() if v is not None} for c in rel["columns"]]


def table_detail(snapshot: Snapshot, schema: str, name: str) -> dict[str, Any]:
    """Everything but the columns (which are paged): kind, comment, constraints, indexes, FKs."""
    rel = find_relation(snapshot, schema, name)
    detail: dict[str, Any] = {"schema": schema, "name": name, "kind": rel["kind"]}
    for key in ("comment", "partition_of", "partition_bound", "is_updatable", "rls_enabled"):
        if rel.get(key) is not None:
            detail[key] = rel[key]
    if rel.get("view_definition") is not None:
        detail["view_definition"] = _short(rel["view_definition"], 4000)
    detail["constraints"] = [
        {"name": k["name"], "kind": k["kind"], "definition": _short(k["definition"], 400)}
        for k in rel.get("constraints", ())
    ]
    detail["indexes"] = [
        {"name": x["name"], "definition": _short(x["definition"], 400)}
        for x in rel.get("indexes", ())
    ]
    detail["relationships"] = relationships_of(snapshot, schema, name)
    return detail


def snapshot_counts(snapshot: Snapshot) -> dict[str, int]:
    return {
        "tables": int(snapshot.get("table_count", 0)),
        "views": int(snapshot.get("view_count", 0)),
        "enums": len(snapshot.get("enums", ())),
        "functions": len(snapshot.get("functions", ())),
        "schema_count": len(snapshot.get("schemas", ())),
    }


# --- history from the event store ---------------------------------------------------------


def version_row(seq: int, event: Event) -> dict[str, Any]:
    """One schema version from a ``schema_updated`` event."""
    p = event.payload
    changes = p.get("diff") or {}
    row: dict[str, Any] = {
        "hash": p.get("new_hash"),
        "previous": p.get("old_hash"),
        "at": event.timestamp,
        "table_count": p.get("table_count"),
        "types_hash": p.get("types_hash"),
        "event_id": event.event_id,
        "seq": seq,
    }
    if isinstance(changes, Mapping) and changes:
        row["changes"] = {
            k: changes[k] for k in ("total", "added", "removed", "changed") if k in changes
        }
    if p.get("reason"):
        row["reason"] = _short(str(p["reason"]), 200)
    return row


def event_row(seq: int, event: Event, payload: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "timestamp": event.timestamp,
        "source_node": event.source_node,
        "payload": payload,
    }


def stored_diff(events: Iterable[Event], old: str, new: str) -> dict[str, Any] | None:
    """The structured diff a ``schema_updated`` event recorded for exactly ``old`` -> ``new``."""
    for event in events:
        p = event.payload
        if p.get("old_hash") == old and p.get("new_hash") == new:
            changes = p.get("changes")
            if isinstance(changes, Mapping) and isinstance(changes.get("entries"), list):
                return dict(changes)
    return None


def recorded_impact(events: Iterable[Event], old: str, new: str) -> dict[str, Any] | None:
    """The impact summary (``ctas7_panel.graph.impact.summary``: what depended on what changed)
    a ``schema_updated`` event recorded for exactly ``old`` -> ``new``."""
    for event in events:
        p = event.payload
        if p.get("old_hash") == old and p.get("new_hash") == new:
            found = p.get("impact")
            if isinstance(found, Mapping):
                return dict(found)
    return None


def resolve_prefix(prefix: str, known: Sequence[str]) -> str | None:
    """The one hash in ``known`` starting with ``prefix`` (>= 7 hex chars), None when none;
    a ``UsageError`` when it is ambiguous."""
    hits = sorted({h for h in known if h.startswith(prefix)})
    if len(hits) > 1:
        raise UsageError(
            f"version {prefix!r} is ambiguous ({', '.join(h[:12] for h in hits[:4])}): "
            "give more of the hash"
        )
    return hits[0] if hits else None


def looks_like_hash(text: str) -> bool:
    return 7 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


__all__ = [
    "column_rows",
    "event_row",
    "find_relation",
    "looks_like_hash",
    "matches",
    "recorded_impact",
    "relations",
    "relationships_of",
    "resolve_prefix",
    "snapshot_counts",
    "stored_diff",
    "table_detail",
    "table_rows",
    "version_row",
]
