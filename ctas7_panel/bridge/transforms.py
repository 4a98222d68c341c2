"""One pure transform per (target, event type): the payload each target system receives.

``transform(target, event) -> Event`` returns the same envelope (same ``event_id``,
``event_type``, ``timestamp``, ``source_node``) with the target's payload. For
``schema_updated`` the three payloads are exactly the seed's "For Legion", "For Dioxus" and
"For Neural Mux" examples; the others follow the same shape per target:

- legion: ``{"action": ..., ...}`` (what the execution engine should do)
- dashboard: ``{"ui_action": ..., "notification_type": ..., "message": ..., ...}``
- neural_mux: ``{"topic": "ctas7.<area>.<what>", "data": {...}, "routing_key": "<area>_telemetry"}``

A (target, event type) pair with no dedicated transform gets that target's generic transform
(``GENERIC``: each target's ``TargetSpec.transform``), which carries the whole payload under
``data``. Every transform is documented with an example in ``docs/events.md``; a test checks the
examples against this code.

A transform raises ``KeyError``/``TypeError`` on a payload missing a field it needs; the bridge
turns that into a dead letter naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ctas7_panel.events import Event
from ctas7_panel.targetspec import BUILTIN, DASHBOARD, LEGION, NEURAL_MUX, TargetSpec, get_spec

Transform = Callable[[Event], dict[str, Any]]

_PASSED = frozenset({"passed", "pass", "ok", "success", "succeeded", "valid"})
_FAILED = frozenset({"failed", "fail", "error", "errored", "invalid"})


def _ts(event: Event) -> int:
    return int(event.timestamp)


def _outcome_notification(status: str) -> str:
    low = status.lower()
    if low in _PASSED:
        return "success"
    if low in _FAILED:
        return "error"
    return "warning"


# --- schema_updated: the seed's three examples, exactly -------------------------------------


def legion_schema_updated(event: Event) -> dict[str, Any]:
    p = event.payload
    out = {
        "action": "reload_database_types",
        "schema_path": p["schema_path"],
        "new_hash": p["new_hash"],
        "affected_systems": ["LegionExecutionEngine", "SlotGraphQueryEngine"],
        "reload_required": True,
    }
    if p.get("impact") is not None:  # Legion's affected tasks come from it (issue 18)
        out["impact"] = p["impact"]
    return out


def dashboard_schema_updated(event: Event) -> dict[str, Any]:
    return {
        "ui_action": "display_schema_update_notification",
        "notification_type": "success",
        "message": "Database schema updated successfully",
        "auto_dismiss": 5000,
    }


def mux_schema_updated(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.schema.update",
        "data": {
            "schema_hash": p["new_hash"],
            "table_count": p["table_count"],
            "update_timestamp": _ts(event),
        },
        "routing_key": "schema_telemetry",
    }


# --- schema_nochange / schema_error ---------------------------------------------------------


def dashboard_schema_nochange(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "ui_action": "update_schema_status",
        "notification_type": "info",
        "message": "Database schema unchanged",
        "schema_hash": p["new_hash"],
        "table_count": p["table_count"],
        "checked_at": _ts(event),
    }


def dashboard_schema_error(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "ui_action": "display_schema_error_notification",
        "notification_type": "error",
        "message": f"Schema sync failed during {p['stage']}: {p['error']}",
        "stage": p["stage"],
        "retry_in_s": p.get("retry_in_s"),
        "auto_dismiss": None,
    }


def mux_schema_error(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.schema.error",
        "data": {
            "stage": p["stage"],
            "error": p["error"],
            "retry_in_s": p.get("retry_in_s"),
            "error_timestamp": _ts(event),
        },
        "routing_key": "schema_telemetry",
    }


# --- task_executed --------------------------------------------------------------------------


def legion_task_executed(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "action": "record_task_completion",
        "task_id": p["task_id"],
        "name": p["name"],
        "status": p["status"],
        "duration_ms": p["duration_ms"],
        "rows": p.get("rows"),
        "schema_hash": p.get("schema_hash"),
    }


def mux_task_executed(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.task.executed",
        "data": {
            "task_id": p["task_id"],
            "name": p["name"],
            "status": p["status"],
            "duration_ms": p["duration_ms"],
            "rows": p.get("rows"),
            "completed_timestamp": _ts(event),
        },
        "routing_key": "task_telemetry",
    }


# --- playwright_test_* ----------------------------------------------------------------------


# Carried to the dashboard when the event has them (testing/testevents.py): the Test Results
# view groups by run and project and counts a test once, at its final attempt.
_TEST_CONTEXT = ("project", "run_id", "retry", "worker", "retries", "flaky", "final")


def _test_context(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in _TEST_CONTEXT if k in p}


def dashboard_test_started(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "ui_action": "display_test_started",
        "notification_type": "info",
        "message": f"Test started: {p['nodeid']}",
        "nodeid": p["nodeid"],
        "browser": p.get("browser"),
        **_test_context(p),
    }


def mux_test_started(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.test.started",
        "data": {
            "nodeid": p["nodeid"],
            "browser": p.get("browser"),
            "start_timestamp": _ts(event),
        },
        "routing_key": "test_telemetry",
    }


def dashboard_test_completed(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "ui_action": "update_test_results",
        "notification_type": _outcome_notification(p["outcome"]),
        "message": f"Test {p['outcome']}: {p['nodeid']} ({p['duration_ms']:.0f} ms)",
        "nodeid": p["nodeid"],
        "outcome": p["outcome"],
        "duration_ms": p["duration_ms"],
        "browser": p.get("browser"),
        **_test_context(p),
    }


def mux_test_completed(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.test.completed",
        "data": {
            "nodeid": p["nodeid"],
            "outcome": p["outcome"],
            "passed": p["outcome"].lower() in _PASSED,
            "duration_ms": p["duration_ms"],
            "browser": p.get("browser"),
            "completed_timestamp": _ts(event),
        },
        "routing_key": "test_telemetry",
    }


def dashboard_test_other(event: Event) -> dict[str, Any]:
    """Any other ``playwright_test_*`` type (e.g. ``playwright_test_skipped``)."""
    return {
        "ui_action": "display_test_event",
        "notification_type": "info",
        "message": f"{event.event_type} from {event.source_node}",
        "event_type": event.event_type,
        "data": event.payload,
    }


def mux_test_other(event: Event) -> dict[str, Any]:
    suffix = event.event_type.removeprefix("playwright_test_") or "event"
    return {
        "topic": f"ctas7.test.{suffix}",
        "data": {**event.payload, "event_timestamp": _ts(event)},
        "routing_key": "test_telemetry",
    }


# --- qa5_validation -------------------------------------------------------------------------


def legion_qa5_validation(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "action": "update_validation_state",
        "status": p["status"],
        "validated_by": event.source_node,
        "details": {k: v for k, v in p.items() if k != "status"},
    }


def dashboard_qa5_validation(event: Event) -> dict[str, Any]:
    status = event.payload["status"]
    return {
        "ui_action": "display_validation_status",
        "notification_type": _outcome_notification(status),
        "message": f"QA5 validation {status}",
        "status": status,
        "auto_dismiss": 5000,
    }


def mux_qa5_validation(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.qa5.validation",
        "data": {**p, "validation_timestamp": _ts(event)},
        "routing_key": "validation_telemetry",
    }


# --- legion_schema_telemetry ----------------------------------------------------------------


def dashboard_legion_telemetry(event: Event) -> dict[str, Any]:
    p = event.payload
    tasks = p.get("affected_tasks") or []
    return {
        "ui_action": "update_legion_status",
        "notification_type": "success",
        "message": f"Legion reloaded database types in {p['reload_ms']:.0f} ms",
        "schema_hash": p["new_hash"],
        "previous_hash": p["old_hash"],
        "reload_ms": p["reload_ms"],
        "affected_tasks": list(tasks),
    }


def mux_legion_telemetry(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.legion.schema_reload",
        "data": {
            "old_hash": p["old_hash"],
            "new_hash": p["new_hash"],
            "reload_ms": p["reload_ms"],
            "affected_task_count": len(p.get("affected_tasks") or []),
            "reload_timestamp": _ts(event),
        },
        "routing_key": "legion_telemetry",
    }


# --- bridge_metrics (the bridge's own health, see ctas7_panel.bridge.metrics) ---------------


def dashboard_bridge_metrics(event: Event) -> dict[str, Any]:
    p = event.payload
    rate = p["success_rate"]
    return {
        "ui_action": "update_bridge_health",
        "notification_type": "success" if rate is None or rate >= 0.995 else "warning",
        "message": (
            "no deliveries yet"
            if rate is None
            else f"routing success {rate * 100:.2f} %, {p['dead_lettered']} dead-lettered"
        ),
        "worker": p["worker"],
        "success_rate": rate,
        "consumed": p["consumed"],
        "unrouted": p["unrouted"],
        "dead_lettered": p["dead_lettered"],
        "in_flight": p["in_flight"],
        "targets": p["targets"],
    }


def mux_bridge_metrics(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "topic": "ctas7.bridge.metrics",
        "data": {
            "worker": p["worker"],
            "success_rate": p["success_rate"],
            "consumed": p["consumed"],
            "dead_lettered": p["dead_lettered"],
            "p99_ms": {name: t["p99_ms"] for name, t in p["targets"].items()},
            "metrics_timestamp": _ts(event),
        },
        "routing_key": "bridge_telemetry",
    }


# --- generic: a target with no dedicated transform for this type ----------------------------


def legion_generic(event: Event) -> dict[str, Any]:
    return {"action": "handle_event", "event_type": event.event_type, "data": event.payload}


def dashboard_generic(event: Event) -> dict[str, Any]:
    return {
        "ui_action": "display_event",
        "notification_type": "info",
        "message": f"{event.event_type} from {event.source_node}",
        "event_type": event.event_type,
        "data": event.payload,
    }


def mux_generic(event: Event) -> dict[str, Any]:
    return {
        "topic": f"ctas7.event.{event.event_type}",
        "data": event.payload,
        "routing_key": "event_telemetry",
    }


def passthrough(event: Event) -> dict[str, Any]:
    """For a target this module does not know: the payload unchanged."""
    return dict(event.payload)


TRANSFORMS: dict[tuple[str, str], Transform] = {
    (LEGION, "schema_updated"): legion_schema_updated,
    (DASHBOARD, "schema_updated"): dashboard_schema_updated,
    (NEURAL_MUX, "schema_updated"): mux_schema_updated,
    (DASHBOARD, "schema_nochange"): dashboard_schema_nochange,
    (DASHBOARD, "schema_error"): dashboard_schema_error,
    (NEURAL_MUX, "schema_error"): mux_schema_error,
    (LEGION, "task_executed"): legion_task_executed,
    (NEURAL_MUX, "task_executed"): mux_task_executed,
    (DASHBOARD, "playwright_test_started"): dashboard_test_started,
    (NEURAL_MUX, "playwright_test_started"): mux_test_started,
    (DASHBOARD, "playwright_test_completed"): dashboard_test_completed,
    (NEURAL_MUX, "playwright_test_completed"): mux_test_completed,
    (LEGION, "qa5_validation"): legion_qa5_validation,
    (DASHBOARD, "qa5_validation"): dashboard_qa5_validation,
    (NEURAL_MUX, "qa5_validation"): mux_qa5_validation,
    (DASHBOARD, "legion_schema_telemetry"): dashboard_legion_telemetry,
    (NEURAL_MUX, "legion_schema_telemetry"): mux_legion_telemetry,
    (DASHBOARD, "bridge_metrics"): dashboard_bridge_metrics,
    (NEURAL_MUX, "bridge_metrics"): mux_bridge_metrics,
}

# Prefix families: any other playwright_test_* type.
PREFIX_TRANSFORMS: dict[tuple[str, str], Transform] = {
    (DASHBOARD, "playwright_test_"): dashboard_test_other,
    (NEURAL_MUX, "playwright_test_"): mux_test_other,
}


def generic(target: str) -> Transform:
    """The target's own transform for an event type the tables above do not name: its
    ``TargetSpec.transform`` (``ctas7_panel/targetspec.py``), else the payload unchanged."""
    spec = get_spec(target)
    if spec is None:
        return passthrough
    fn = _resolved.get(spec)
    if fn is None:
        fn = _resolved[spec] = spec.resolve_transform()
    return fn


_resolved: dict[TargetSpec, Transform] = {}

# the built-in targets' generic transforms, as named by their specs
GENERIC: Mapping[str, Transform] = {s.name: generic(s.name) for s in BUILTIN}


def transform_for(target: str, event_type: str) -> Transform:
    """The transform used for ``event_type`` at ``target``."""
    fn = TRANSFORMS.get((target, event_type))
    if fn is not None:
        return fn
    for (t, prefix), pfn in PREFIX_TRANSFORMS.items():
        if t == target and event_type.startswith(prefix):
            return pfn
    return generic(target)


def transform(target: str, event: Event) -> Event:
    """``event`` as ``target`` receives it (same envelope, the target's payload)."""
    return apply(transform_for(target, event.event_type), event)


def apply(fn: Transform, event: Event) -> Event:
    """``event``'s envelope with ``fn(event)`` as its payload (every transform returns a new
    dict, so it is not copied again: this is the bridge's hot path)."""
    return Event(event.event_id, event.event_type, event.timestamp, event.source_node, fn(event))
