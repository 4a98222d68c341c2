"""Pure decisions of a Legion reload: what an event asks for, and what the node can do after.

``reload_request(event)`` reads both forms of ``schema_updated`` Legion receives: the raw payload
(``new_hash``, ``schema_path``, ...) and the bridge's "For Legion" transform
(``{"action": "reload_database_types", "schema_path", "new_hash", "affected_systems",
"reload_required"}``). ``node_capabilities`` describes the node after a reload.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ctas7_panel.errors import EventError
from ctas7_panel.events import Event
from ctas7_panel.legion.query import OPERATIONS
from ctas7_panel.legion.registry import Dependency, TableRegistry
from ctas7_panel.legion.tasks import CallableSpec

RELOAD_ACTION = "reload_database_types"


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    new_hash: str | None
    schema_path: str | None
    snapshot_path: str | None
    reload_required: bool
    affected_systems: tuple[str, ...] = ()
    impact: Mapping[str, Any] | None = None  # the sync node's impact summary, when sent


def reload_request(event: Event) -> ReloadRequest | None:
    """The reload a ``schema_updated`` event asks for, or None for any other event.

    Raises ``EventError`` naming the field when a present field has the wrong type.
    """
    if event.event_type != "schema_updated":
        return None
    p = event.payload
    action = p.get("action")
    if action is not None and action != RELOAD_ACTION:
        return None
    new_hash = _opt_str(p, "new_hash")
    required = p.get("reload_required", True)
    if not isinstance(required, bool):
        raise EventError(
            "schema_updated: field 'payload.reload_required': expected a boolean, "
            f"got {required!r:.40}",
            field="payload.reload_required",
        )
    systems = p.get("affected_systems") or []
    if not isinstance(systems, list) or not all(isinstance(s, str) for s in systems):
        raise EventError(
            "schema_updated: field 'payload.affected_systems': expected an array of strings",
            field="payload.affected_systems",
        )
    impact = p.get("impact")
    if impact is not None and not isinstance(impact, Mapping):
        raise EventError(
            "schema_updated: field 'payload.impact': expected an object", field="payload.impact"
        )
    return ReloadRequest(
        new_hash=new_hash,
        schema_path=_opt_str(p, "schema_path"),
        snapshot_path=_opt_str(p, "snapshot_path"),
        reload_required=required,
        affected_systems=tuple(systems),
        impact=impact,
    )


def affected_by(impact: Mapping[str, Any] | None, deps: Iterable[Dependency]) -> bool:
    """Whether a task using ``deps`` is affected by a change with this ``impact`` summary.

    Affected: it uses a relation that changed or depends on what changed, or names such a
    column. No summary, or a truncated one, affects every task (the old, safe answer).
    """
    if impact is None or impact.get("truncated"):
        return True
    relations = set(impact.get("relations") or ())
    columns = set(impact.get("columns") or ())
    for dep in deps:
        if dep.table in relations:
            return True
        if any(f"{dep.table}.{c}" in columns for c in dep.columns):
            return True
    return False


def _opt_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None or isinstance(value, str):
        return value or None
    raise EventError(
        f"schema_updated: field 'payload.{name}': expected a string, got {value!r:.40}",
        field=f"payload.{name}",
    )


def node_capabilities(
    node_id: str, registry: TableRegistry, callables: Iterable[CallableSpec]
) -> dict[str, Any]:
    """What this node can run under ``registry``: operations, tables, runnable callables."""
    runnable, blocked = [], {}
    for spec in sorted(callables, key=lambda s: s.name):
        broken = registry.broken(spec.uses)
        if broken is None:
            runnable.append(spec.name)
        else:
            blocked[spec.name] = str(broken)
    kinds = registry.kinds()
    return {
        "node_id": node_id,
        "schema_hash": registry.schema_hash,
        "operations": list(OPERATIONS),
        "relations": kinds,
        "columns": registry.column_count,
        "callables": runnable,
        "blocked_callables": blocked,
    }
