"""Neural Mux topics: names, pattern matching, and the message a topic carries. Pure.

A topic is dot-separated segments (``ctas7.schema.update``); each segment is letters, digits,
``_``, ``-`` or ``:``. Patterns follow AMQP topic exchanges: ``*`` matches exactly one segment,
``#`` zero or more (``ctas7.schema.*``, ``ctas7.#``, ``#``).

``message_from_event`` reads what arrives on bus topic ``target.neural_mux``: the bridge's
"For Neural Mux" payload ``{"topic", "data", "routing_key"}``; a raw event (no ``topic``) is
given the bridge's own transform when the bridge package is installed, else
``ctas7.event.<event_type>`` with the payload as data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson

from ctas7_panel.errors import EventError, UsageError
from ctas7_panel.events import Event

MAX_TOPIC_LENGTH = 128
_SEGMENT = r"[A-Za-z0-9_:\-]+"
_TOPIC_RE = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*$")
_PATTERN_SEGMENT = re.compile(rf"^({_SEGMENT}|\*|#)$")

TOPIC_SCHEMA_UPDATE = "ctas7.schema.update"
TOPIC_TASK_EXECUTED = "ctas7.task.executed"
TOPIC_TEST_COMPLETED = "ctas7.test.completed"


def check_topic(topic: Any, *, field: str = "payload.topic") -> str:
    """Return ``topic`` if valid, else ``EventError`` naming ``field`` and the accepted form."""
    if not isinstance(topic, str) or len(topic) > MAX_TOPIC_LENGTH or not _TOPIC_RE.match(topic):
        raise EventError(
            f"field {field!r}: {topic!r:.60} is not a topic: use dot-separated segments of "
            f"letters, digits, '_', '-' or ':' (at most {MAX_TOPIC_LENGTH} characters), "
            "e.g. 'ctas7.schema.update'",
            field=field,
        )
    return topic


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> tuple[str, ...]:
    parts = tuple(pattern.split("."))
    if not pattern or not all(_PATTERN_SEGMENT.match(p) for p in parts):
        raise UsageError(
            f"topic pattern {pattern!r} is invalid: use segments, '*' (one segment) or "
            "'#' (any number), e.g. 'ctas7.schema.*' or 'ctas7.#'"
        )
    return parts


def check_pattern(pattern: str) -> str:
    _compile(pattern)
    return pattern


def topic_matches(pattern: str, topic: str) -> bool:
    """Does ``topic`` match ``pattern`` (``*`` one segment, ``#`` zero or more)?"""
    return _match(_compile(pattern), tuple(topic.split(".")))


def _match(pat: tuple[str, ...], segs: tuple[str, ...]) -> bool:
    if not pat:
        return not segs
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_match(rest, segs[i:]) for i in range(len(segs) + 1))
    if not segs:
        return False
    return (head == "*" or head == segs[0]) and _match(rest, segs[1:])


@dataclass(frozen=True, slots=True)
class MuxMessage:
    """One message on a Neural Mux topic (what ``/mux_events`` clients receive)."""

    topic: str
    data: Mapping[str, Any]
    routing_key: str | None = None
    event_id: str = ""
    event_type: str = ""
    timestamp: float = 0.0
    source_node: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "data": dict(self.data),
            "routing_key": self.routing_key,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
            "source_node": self.source_node,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS)


def message_from_event(event: Event) -> MuxMessage:
    """The mux message an event delivered on ``target.neural_mux`` carries (see module doc)."""
    payload: Mapping[str, Any] = event.payload
    if "topic" not in payload:
        payload = _bridge_transform(event)
    topic = check_topic(payload.get("topic"))
    data = payload.get("data", {})
    if not isinstance(data, Mapping):
        raise EventError(
            f"field 'payload.data': expected an object, got {type(data).__name__}",
            field="payload.data",
        )
    routing_key = payload.get("routing_key")
    if routing_key is not None and not isinstance(routing_key, str):
        raise EventError(
            f"field 'payload.routing_key': expected a string, got {routing_key!r:.40}",
            field="payload.routing_key",
        )
    return MuxMessage(
        topic=topic,
        data=data,
        routing_key=routing_key,
        event_id=event.event_id,
        event_type=event.event_type,
        timestamp=event.timestamp,
        source_node=event.source_node,
    )


def _bridge_transform(event: Event) -> Mapping[str, Any]:
    try:
        from ctas7_panel.bridge.transforms import NEURAL_MUX, transform
    except ImportError:
        return _generic(event)
    try:
        return transform(NEURAL_MUX, event).payload
    except (KeyError, TypeError, ValueError):
        return _generic(event)


def _generic(event: Event) -> dict[str, Any]:
    return {
        "topic": f"ctas7.event.{event.event_type}",
        "data": event.payload,
        "routing_key": "event_telemetry",
    }
