"""One row of the live event stream, and the one-line summary of an event. Pure.

An event may be seen several times by the hub: on the raw ``events`` topic and once per target
it was delivered to (``target.legion``, ``target.dashboard``, ``target.neural_mux``, one per
entry of the target table), always with
the same ``event_id``. A ``Record`` is the first sighting plus the targets it reached since, and
the payload each target received (the bridge's transform), so the payload view shows both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.bridge.transforms import GENERIC
from ctas7_panel.events import PAYLOAD_FIELDS, Event
from ctas7_panel.targetspec import TARGET_PREFIX, get_spec, target_names, target_of, target_topic

RAW_TOPIC = "events"
__all__ = ["TARGET_PREFIX", "target_of"]  # re-exported from the target table


def targets() -> tuple[str, ...]:
    """The targets the dashboard shows (the target table's, ``ctas7_panel/targetspec.py``)."""
    return target_names()


def target_topics() -> tuple[str, ...]:
    """The bus topics the dashboard reads besides the raw one: one per target."""
    return tuple(target_topic(t) for t in target_names())


def label(target: str) -> str:
    """What the dashboard calls ``target`` (its ``TargetSpec.label``)."""
    spec = get_spec(target)
    return spec.label if spec is not None else target


def color(target: str, default: str) -> str:
    """The target's chart color (its ``TargetSpec.color``)."""
    spec = get_spec(target)
    return spec.color if spec is not None else default


TARGETS = targets()  # the built-in targets (targets(): also those registered later)
TARGET_TOPICS = target_topics()


@dataclass(slots=True)
class Record:
    """The stream's view of one event: first sighting, raw payload when known, targets reached."""

    event: Event
    received: float
    raw: bool
    targets: list[str] = field(default_factory=list)
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self.event.event_id

    @property
    def summary(self) -> str:
        return summarize(self.event)

    def detail(self) -> dict[str, Any]:
        """What the payload view shows: the envelope, and each target's delivered payload."""
        out: dict[str, Any] = self.event.to_dict()
        out["payload_origin"] = "raw event" if self.raw else f"as delivered to {self.targets[0]}"
        if self.delivered:
            out["delivered"] = dict(self.delivered)
        return out


def looks_raw(event: Event) -> bool:
    """True when the payload carries the fields its type requires (not a target's transform)."""
    spec = PAYLOAD_FIELDS.get(event.event_type)
    return spec is None or all(name in event.payload for name in spec)


def raw_view(target: str | None, event: Event) -> Event | None:
    """``event`` as its producer sent it, when a sighting on ``target``'s topic shows it (None:
    this sighting cannot tell). The raw topic (``target`` None) shows it as is. A target's
    generic transform (``bridge.transforms.GENERIC``: an event type with no dedicated transform,
    e.g. ``test_run_status`` at the dashboard) carries the whole payload under ``data``: that
    is the raw payload (the wrapper has no ``status`` or ``run_id``, so folding the wrapper
    would lose them). A dedicated transform's output counts as raw when it still carries the
    fields its type requires (``looks_raw``)."""
    if target is None:
        return event
    generic = GENERIC.get(target)
    data = event.payload.get("data")
    if generic is not None and isinstance(data, dict):
        inner = event.with_payload(data)
        if generic(inner) == event.payload:
            return inner
    return event if looks_raw(event) else None


def _short(value: Any, n: int = 8) -> str:
    text = "" if value is None else str(value)
    return text[:n] if text else "none"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def summarize(event: Event) -> str:
    """A short human line for the stream (pure; never raises on odd payloads)."""
    p = event.payload
    t = event.event_type
    if t in {"schema_updated", "schema_nochange"}:
        if "new_hash" in p:
            tables = p.get("table_count")
            old = f"{_short(p.get('old_hash'))} -> " if t == "schema_updated" else ""
            return f"{old}{_short(p.get('new_hash'))} ({tables} tables)"
        if "message" in p:
            return str(p["message"])
    if t == "schema_error":
        return f"{p.get('stage', '?')}: {p.get('error', '?')}"[:160]
    if t == "task_executed":
        ms = _num(p.get("duration_ms"))
        dur = f" in {ms:.0f} ms" if ms is not None else ""
        return f"{p.get('name', p.get('task_id', '?'))} {p.get('status', '?')}{dur}"
    if t == "playwright_test_completed":
        ms = _num(p.get("duration_ms"))
        dur = f" ({ms:.0f} ms)" if ms is not None else ""
        return f"{p.get('outcome', '?')} {p.get('nodeid', '?')}{dur}"[:160]
    if t == "playwright_test_started":
        return f"started {p.get('nodeid', '?')}"[:160]
    if t == "legion_schema_telemetry":
        ms = _num(p.get("reload_ms"))
        dur = f" in {ms:.0f} ms" if ms is not None else ""
        return f"reloaded to {_short(p.get('new_hash'))}{dur}"
    if t == "qa5_validation":
        return f"status {p.get('status', '?')}"
    if t == "bridge_metrics":
        rate = _num(p.get("success_rate"))
        shown = f"{rate * 100:.2f} %" if rate is not None and rate <= 1 else "n/a"
        return f"success {shown}, dead-lettered {p.get('dead_lettered', '?')}"
    if "ui_action" in p:
        return f"{p['ui_action']}: {p.get('message', '')}"[:160]
    if "topic" in p:
        return f"mux {p['topic']}"
    keys = ", ".join(sorted(p)[:4])
    return f"{{{keys}}}" if keys else "{}"
