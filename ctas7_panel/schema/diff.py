"""Structured difference between two snapshots (pure).

``diff_snapshots(old, new)`` compares schemas, tables, views, enums, composite types, domains
and functions by qualified name (functions by name and identity arguments), and inside a
relation its columns (added, removed, type / nullability / default / identity / generated
changed), constraints, indexes and comments; enum labels added or removed.

Each difference is an ``Entry`` (kind, qualified name, action, details). ``SchemaDiff`` renders
as text (``to_text``), as JSON (``to_dict``) and as a compact ``summary()`` for event payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Snapshot = Mapping[str, Any]

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
_SIGN = {ADDED: "+", REMOVED: "-", CHANGED: "~"}
_COLUMN_FIELDS = ("type", "nullable", "default", "identity", "generated", "collation", "comment")
_SUMMARY_NAMES = 10
_FUNCTION_FIELDS = (
    "result",
    "arguments",
    "returns_set",
    "rows",
    "language",
    "volatility",
    "security_definer",
    "definition_md5",
    "comment",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One difference: ``kind`` is table, view, column, enum, composite, domain, function..."""

    kind: str
    name: str
    action: str
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "details": list(self.details),
        }

    def to_text(self) -> str:
        head = f"{_SIGN[self.action]} {self.kind} {self.name}"
        return head + (": " + "; ".join(self.details) if self.details else "")


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    entries: tuple[Entry, ...]
    old_fingerprint: str | None = None
    new_fingerprint: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.entries

    def of(self, kind: str, action: str | None = None) -> list[Entry]:
        return [
            e for e in self.entries if e.kind == kind and (action is None or e.action == action)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_empty": self.is_empty,
            "old_fingerprint": self.old_fingerprint,
            "new_fingerprint": self.new_fingerprint,
            "entries": [e.to_dict() for e in self.entries],
            "summary": self.summary(),
        }

    def to_text(self) -> str:
        if self.is_empty:
            return "no schema changes\n"
        return "".join(e.to_text() + "\n" for e in self.entries)

    def summary(self) -> dict[str, Any]:
        """Counts by action and kind, and the first few names of each kind and action."""
        counts = {ADDED: 0, REMOVED: 0, CHANGED: 0}
        by_kind: dict[str, dict[str, int]] = {}
        names: dict[str, list[str]] = {}
        for e in self.entries:
            counts[e.action] += 1
            by_kind.setdefault(e.kind, {ADDED: 0, REMOVED: 0, CHANGED: 0})[e.action] += 1
            key = f"{e.kind}s_{e.action}"
            bucket = names.setdefault(key, [])
            if len(bucket) < _SUMMARY_NAMES:
                bucket.append(e.name)
        return {"total": len(self.entries), **counts, "by_kind": by_kind, **names}


def _qualified(item: Mapping[str, Any]) -> str:
    return f"{item['schema']}.{item['name']}"


def _index(
    items: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str]
) -> dict[str, Mapping[str, Any]]:
    return {key(item): item for item in items}


def _show(value: Any) -> str:
    return "null" if value is None else str(value)


def _column_entries(relation: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Entry]:
    out: list[Entry] = []
    old_cols = _index(old.get("columns", []), lambda c: str(c["name"]))
    new_cols = _index(new.get("columns", []), lambda c: str(c["name"]))
    for name, col in new_cols.items():
        if name not in old_cols:
            nullable = "" if col.get("nullable", True) else " not null"
            out.append(
                Entry("column", f"{relation}.{name}", ADDED, (f"{col.get('type')}{nullable}",))
            )
    for name in old_cols:
        if name not in new_cols:
            out.append(Entry("column", f"{relation}.{name}", REMOVED))
    for name, col in new_cols.items():
        before = old_cols.get(name)
        if before is None:
            continue
        details = tuple(
            f"{field}: {_show(before.get(field))} -> {_show(col.get(field))}"
            for field in _COLUMN_FIELDS
            if before.get(field) != col.get(field)
        )
        if details:
            out.append(Entry("column", f"{relation}.{name}", CHANGED, details))
    return out


def _named_set_changes(
    label: str, old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]
) -> list[str]:
    before = {str(x["name"]): x for x in old}
    after = {str(x["name"]): x for x in new}
    details = [f"{label} added: {n}" for n in after if n not in before]
    details += [f"{label} removed: {n}" for n in before if n not in after]
    details += [f"{label} changed: {n}" for n in after if n in before and after[n] != before[n]]
    return details


def _relation_details(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    details = []
    for field in (
        "comment",
        "view_definition",
        "is_updatable",
        "partition_of",
        "partition_bound",
        "rls_enabled",
    ):
        if old.get(field) != new.get(field):
            details.append(f"{field.replace('_', ' ')} changed")
    details += _named_set_changes(
        "constraint", old.get("constraints", []), new.get("constraints", [])
    )
    details += _named_set_changes("index", old.get("indexes", []), new.get("indexes", []))
    old_positions = [c["name"] for c in old.get("columns", [])]
    new_positions = [c["name"] for c in new.get("columns", [])]
    common = set(old_positions) & set(new_positions)
    if [n for n in old_positions if n in common] != [n for n in new_positions if n in common]:
        details.append("column order changed")
    return details


def _objects(
    kind: str, old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]],
    key: Callable[[Mapping[str, Any]], str] = _qualified,
    describe: Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]] | None = None,
) -> list[Entry]:  # fmt: skip
    before = _index(old, key)
    after = _index(new, key)
    out = [Entry(kind, name, ADDED) for name in after if name not in before]
    out += [Entry(kind, name, REMOVED) for name in before if name not in after]
    for name, item in after.items():
        previous = before.get(name)
        if previous is None or previous == item:
            continue
        details = describe(previous, item) if describe else []
        out.append(Entry(kind, name, CHANGED, tuple(details)))
    return out


def _enum_details(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before, after = list(old.get("labels", [])), list(new.get("labels", []))
    details = []
    added = [x for x in after if x not in before]
    removed = [x for x in before if x not in after]
    if added:
        details.append("labels added: " + ", ".join(added))
    if removed:
        details.append("labels removed: " + ", ".join(removed))
    if not added and not removed and before != after:
        details.append("labels reordered")
    if old.get("comment") != new.get("comment"):
        details.append("comment changed")
    return details


def _diff_fields(
    fields: Iterable[str],
) -> Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]:
    def describe(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
        return [
            f"{field}: {_show(old.get(field))} -> {_show(new.get(field))}"
            for field in fields
            if old.get(field) != new.get(field)
        ]

    return describe


def diff_snapshots(old: Snapshot, new: Snapshot) -> SchemaDiff:
    """What changed from ``old`` to ``new``."""
    entries: list[Entry] = []
    entries += _objects(
        "schema",
        old.get("schemas", []),
        new.get("schemas", []),
        key=lambda s: str(s["name"]),
        describe=_diff_fields(("comment",)),
    )

    def relations(kinds: tuple[str, ...], snap: Snapshot) -> list[Mapping[str, Any]]:
        return [r for r in snap.get("relations", []) if r.get("kind") in kinds]

    for kind, kinds in (
        ("table", ("table", "partitioned_table", "foreign_table")),
        ("view", ("view", "materialized_view")),
    ):
        before = _index(relations(kinds, old), _qualified)
        after = _index(relations(kinds, new), _qualified)
        entries += [
            Entry(kind, n, ADDED, (str(after[n]["kind"]),)) for n in after if n not in before
        ]
        entries += [Entry(kind, n, REMOVED) for n in before if n not in after]
        for name, rel in after.items():
            previous = before.get(name)
            if previous is None or previous == rel:
                continue
            column_entries = _column_entries(name, previous, rel)
            details = _relation_details(previous, rel)
            if previous.get("kind") != rel.get("kind"):
                details.insert(0, f"kind: {previous.get('kind')} -> {rel.get('kind')}")
            if details or not column_entries:
                entries.append(Entry(kind, name, CHANGED, tuple(details)))
            entries += column_entries
    entries += _objects("enum", old.get("enums", []), new.get("enums", []), describe=_enum_details)
    entries += _objects(
        "composite",
        old.get("composites", []),
        new.get("composites", []),
        describe=_diff_fields(("attributes", "comment")),
    )
    entries += _objects(
        "domain",
        old.get("domains", []),
        new.get("domains", []),
        describe=_diff_fields(("base_type", "not_null", "default", "checks", "comment")),
    )
    entries += _objects(
        "function",
        old.get("functions", []),
        new.get("functions", []),
        key=lambda f: f"{f['schema']}.{f['name']}({f.get('identity_arguments', '')})",
        describe=_diff_fields(_FUNCTION_FIELDS),
    )
    old_rels = {_rel_key(r) for r in old.get("relationships", [])}
    new_rels = {_rel_key(r) for r in new.get("relationships", [])}
    entries += [Entry("relationship", k, ADDED) for k in sorted(new_rels - old_rels)]
    entries += [Entry("relationship", k, REMOVED) for k in sorted(old_rels - new_rels)]
    from ctas7_panel.schema.snapshot import fingerprint

    return SchemaDiff(tuple(entries), fingerprint(dict(old)), fingerprint(dict(new)))


def _rel_key(r: Any) -> str:
    fk, schema, relation, cols, _one, ref_schema, ref_relation, ref_cols = r
    source = f"{schema}.{relation}({', '.join(cols)})"
    target = f"{ref_schema}.{ref_relation}({', '.join(ref_cols)})"
    return f"{fk}: {source} -> {target}"
