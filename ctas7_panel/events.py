"""The event envelope: the one message every part of ctas7-panel exchanges.

``{"event_id": str, "event_type": str, "timestamp": float (unix s), "source_node": str,
"payload": object}``, JSON on the wire (orjson on the hot path). ``Event.from_json`` validates
and raises one ``EventError`` naming the field and what was expected; input larger than the size
limit (default 256 KiB, ``CTAS7_MAX_EVENT_BYTES``) is refused before it is parsed. For the seed's
event types the payload's required fields are checked too (``PAYLOAD_FIELDS``); other event types
are accepted with any object payload (the bridge routes them to the dashboard as unrouted).

The limits are checked here, once, at the edge (the gateway's ingress and every in-process
producer go through ``from_dict``), and are exactly what every sink can take (``docs/events.md``,
"Limits"):

- nesting: at most ``MAX_DEPTH`` levels for the whole event (the envelope object is level 1, the
  payload object level 2): the shallowest sink is orjson's writer (``SINK_MAX_DEPTH``, used for the
  bus, the feeds and both stores), less the ``WRAP_DEPTH`` levels the pipeline may put around an
  event (a dead letter of an invalid event);
- numbers: finite; integers within orjson's 64-bit range (from the wire orjson already reads a
  larger integer as a float);
- ``timestamp``: unix seconds in ``[MIN_TIMESTAMP, MAX_TIMESTAMP)`` (1970 to 2100: pandas,
  ``time.localtime`` and every browser can show it);
- text: valid Unicode (no lone surrogates); ``event_id`` and ``source_node`` without ``\\u0000``
  (PostgreSQL ``text`` cannot hold it). Payload strings may hold ``\\u0000``: both stores keep the
  payload as JSON text, losslessly.

``json_schema()`` is the JSON Schema of the envelope; ``docs/event.schema.json`` is kept equal to
it by a test. Everything here is pure: no I/O.
"""

from __future__ import annotations

import math
import re
import reprlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ctas7_panel.errors import EventError
from ctas7_panel.limits import DEFAULT_MAX_EVENT_BYTES as DEFAULT_MAX_EVENT_BYTES

MAX_ID_LENGTH = 128
MAX_TYPE_LENGTH = 64
MAX_SOURCE_LENGTH = 128
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_.:-]{0,63}$"
SINK_MAX_DEPTH = 254  # orjson.dumps refuses a 255th level (pinned by a test)
WRAP_DEPTH = 2  # a dead letter of an invalid event: {"payload": {"event": <the event>}}
MAX_DEPTH = SINK_MAX_DEPTH - WRAP_DEPTH  # levels of a whole event; the envelope is level 1
MIN_TIMESTAMP = 0.0
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01T00:00:00Z (exclusive)
MIN_INT = -(2**63)  # what orjson writes
MAX_INT = 2**64 - 1
_EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)
NO_NUL_PATTERN = r"^[^\x00]*$"  # event_id, source_node (PostgreSQL text cannot hold NUL)
ENVELOPE_FIELDS = ("event_id", "event_type", "timestamp", "source_node", "payload")

# The seed's event types (and the project's own) with the payload fields they must carry.
# field -> accepted JSON types ("string", "integer", "number", "boolean", "object", "array",
# "null"); a field not listed may still be present.
PAYLOAD_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "schema_updated": {
        "status": ("string",),
        "new_hash": ("string",),
        "old_hash": ("string", "null"),
        "schema_path": ("string",),
        "table_count": ("integer",),
    },
    "schema_nochange": {
        "status": ("string",),
        "new_hash": ("string",),
        "old_hash": ("string", "null"),
        "schema_path": ("string",),
        "table_count": ("integer",),
    },
    "schema_error": {"error": ("string",), "stage": ("string",)},
    "schema_artifact_modified": {"path": ("string",), "change": ("string",)},
    "task_executed": {
        "task_id": ("string",),
        "name": ("string",),
        "status": ("string",),
        "duration_ms": ("number",),
    },
    "playwright_test_started": {"nodeid": ("string",)},
    "playwright_test_completed": {
        "nodeid": ("string",),
        "outcome": ("string",),
        "duration_ms": ("number",),
    },
    "qa5_validation": {"status": ("string",)},
    "legion_schema_telemetry": {
        "old_hash": ("string", "null"),
        "new_hash": ("string",),
        "reload_ms": ("number",),
    },
}

# JSON-schema type name -> its check on a decoded value (shared with testing.testevents)
JSON_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def new_event_id(now: float | None = None) -> str:
    """A unique, roughly time-ordered id: ``evt_<unix ms>_<8 hex>``."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"evt_{ms}_{secrets.token_hex(4)}"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True, slots=True)
class Event:
    """One validated event. Build with ``Event.create(...)`` or ``Event.from_json(...)``."""

    event_id: str
    event_type: str
    timestamp: float
    source_node: str
    payload: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        source_node: str,
        event_id: str | None = None,
        timestamp: float | None = None,
    ) -> Event:
        """A new event, validated like one read from the wire."""
        ts = time.time() if timestamp is None else timestamp
        return cls.from_dict(
            {
                "event_id": event_id or new_event_id(ts),
                "event_type": event_type,
                "timestamp": ts,
                "source_node": source_node,
                "payload": dict(payload or {}),
            }
        )

    @classmethod
    def from_json(
        cls,
        data: bytes | bytearray | memoryview | str,
        *,
        max_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        fill_defaults: bool = False,
        default_source: str = "external",
        check_payload: bool = True,
    ) -> Event:
        """Parse and validate one event; raise ``EventError`` on anything wrong.

        With ``fill_defaults`` a missing ``event_id``, ``timestamp`` or ``source_node`` is filled
        in (for hand-written events fed to ``ctas7 emit``); ``event_type`` and ``payload`` are
        always required. ``check_payload=False`` checks the envelope only (for events whose
        payload a bridge transform has replaced, on the ``target.*`` topics).
        """
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        if len(raw) > max_bytes:
            raise EventError(
                f"event is {len(raw):,} bytes, over the limit of {max_bytes:,} bytes "
                "(send a smaller payload or raise CTAS7_MAX_EVENT_BYTES)"
            )
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"event is not valid JSON: {exc}") from exc
        return cls.from_dict(
            obj,
            fill_defaults=fill_defaults,
            default_source=default_source,
            check_payload=check_payload,
            wire=True,
        )

    @classmethod
    def from_dict(
        cls,
        obj: Any,
        *,
        fill_defaults: bool = False,
        default_source: str = "external",
        check_payload: bool = True,
        wire: bool = False,
    ) -> Event:
        """Validate an already-decoded envelope.

        ``wire=True`` when ``obj`` was just parsed from JSON by orjson, whose parser already
        guarantees valid text and 64-bit integers (those checks are then skipped).
        """
        if not isinstance(obj, dict):
            raise EventError(f"event must be a JSON object, got {_describe(obj)}")
        _check_event_type(obj)
        unknown = sorted(set(obj) - set(ENVELOPE_FIELDS))
        if unknown:
            raise EventError(
                f"unexpected field {unknown[0]!r}: an event has only "
                f"{', '.join(ENVELOPE_FIELDS)} (put extra data inside payload)",
                field=unknown[0],
            )
        if fill_defaults and "timestamp" not in obj:
            timestamp = time.time()
        else:
            timestamp = _check_timestamp(_required(obj, "timestamp"))
        if fill_defaults and "event_id" not in obj:
            event_id = new_event_id(timestamp)
        else:
            event_id = _check_name(_required(obj, "event_id"), "event_id", MAX_ID_LENGTH, wire)
        if fill_defaults and "source_node" not in obj:
            source = default_source
        else:
            source = _check_name(
                _required(obj, "source_node"), "source_node", MAX_SOURCE_LENGTH, wire
            )
        payload = _required(obj, "payload")
        if not isinstance(payload, dict):
            raise EventError(
                f"field 'payload': expected a JSON object, got {_describe(payload)}",
                field="payload",
            )
        check_values(payload, wire=wire)
        if check_payload:
            _check_payload(obj["event_type"], payload)
        return cls(event_id, obj["event_type"], float(timestamp), source, payload)

    @classmethod
    def decode(cls, data: bytes | str, *, max_bytes: int = 16 << 20) -> Event:
        """An event written by ctas7-panel itself (a bus entry, a stored dead letter): only the
        envelope's types are checked, none of the edge's limits, so that whatever got in can
        always be read back and handled (dead-lettered, listed). ``EventError`` otherwise."""
        if len(data) > max_bytes:
            raise EventError(f"stored event is {len(data):,} bytes, over {max_bytes:,}")
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"stored event is not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise EventError("stored event is not a JSON object")
        try:
            eid, etype, ts, src, payload = (obj[k] for k in ENVELOPE_FIELDS)
        except KeyError as exc:
            raise EventError(
                f"stored event misses field {exc.args[0]!r}", field=exc.args[0]
            ) from exc
        if not (
            isinstance(eid, str)
            and isinstance(etype, str)
            and isinstance(ts, int | float)
            and not isinstance(ts, bool)
            and isinstance(src, str)
            and isinstance(payload, dict)
        ):
            raise EventError("stored event has a field of the wrong type")
        return cls(eid, etype, float(ts), src, payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
            "source_node": self.source_node,
            "payload": self.payload,
        }

    def to_json(self) -> bytes:
        """The wire form (compact JSON, UTF-8)."""
        try:
            return orjson.dumps(self.to_dict())
        except TypeError as exc:
            raise EventError(f"payload of {self.event_id} is not JSON-serialisable: {exc}") from exc

    def with_payload(self, payload: Mapping[str, Any]) -> Event:
        """The same envelope (same id, type, time, source) with another payload."""
        return Event(
            self.event_id, self.event_type, self.timestamp, self.source_node, dict(payload)
        )


_PREVIEW = reprlib.Repr()
_PREVIEW.maxlevel, _PREVIEW.maxstring, _PREVIEW.maxother = 12, 400, 400
_PREVIEW.maxdict = _PREVIEW.maxlist = 40


def preview(value: Any, limit: int = 4096) -> str:
    """At most ``limit`` characters showing ``value``, whatever it is (too deep, not JSON):
    for dead letters of events that cannot be written as they are."""
    text = _PREVIEW.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _required(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj:
        raise EventError(f"missing field {name!r}", field=name)
    return obj[name]


def _check_timestamp(value: Any) -> float | int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_TIMESTAMP <= value < MAX_TIMESTAMP
    ):
        raise EventError(
            "field 'timestamp': expected unix seconds as a non-negative number before "
            f"{MAX_TIMESTAMP:.0f} (2100-01-01), got {_describe(value)}",
            field="timestamp",
        )
    return value


def _check_name(value: Any, name: str, limit: int, wire: bool) -> str:
    """``event_id`` / ``source_node``: 1 to ``limit`` characters, no NUL, valid text."""
    if not isinstance(value, str) or not (0 < len(value) <= limit):
        raise EventError(
            f"field {name!r}: expected a non-empty string of at most {limit} characters, "
            f"got {_describe(value)}",
            field=name,
        )
    if "\x00" in value:
        raise EventError(
            f"field {name!r}: contains the NUL character (\\u0000), which the PostgreSQL "
            "history cannot hold in an identifier; remove it",
            field=name,
        )
    if not wire:
        _check_text(value, name)
    return value


def _check_text(value: str, where: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EventError(
                f"field {_shown(where)!r}: is not valid Unicode text ({exc.reason} at "
                f"position {exc.start}); send UTF-8 text",
                field=where,
            ) from exc


def _shown(path: str) -> str:
    return path if len(path) <= 80 else path[:77] + "..."


def check_values(payload: Mapping[str, Any], *, wire: bool = False) -> None:
    """Raise ``EventError`` unless every value of ``payload`` is one every sink can take: JSON
    types only, at most ``MAX_DEPTH`` levels (counting the envelope), finite numbers, integers
    in orjson's 64-bit range, valid text, string keys (the last three are guaranteed by orjson's
    parser, so skipped on ``wire``). One pass, no recursion."""
    stack: list[tuple[Any, int, str]] = [(payload, 2, "payload")]
    pop, push = stack.pop, stack.append
    while stack:
        container, depth, path = pop()
        if depth > MAX_DEPTH:
            raise EventError(
                f"field 'payload': nested more than {MAX_DEPTH} levels deep (counting the "
                "envelope); flatten it",
                field="payload",
            )
        if isinstance(container, dict):
            for key, value in container.items():
                if not wire:
                    _check_key(key, path)
                _check_value(value, depth, f"{path}.{key}", push, wire)
        else:
            for i, value in enumerate(container):
                _check_value(value, depth, f"{path}[{i}]", push, wire)


def _check_key(key: Any, path: str) -> None:
    if not isinstance(key, str):
        raise EventError(
            f"field {_shown(path)!r}: key {key!r} is not a string (JSON object keys are strings)",
            field=path,
        )
    _check_text(key, path)


def _check_value(value: Any, depth: int, path: str, push: Any, wire: bool) -> None:
    if isinstance(value, str):
        if not wire:
            _check_text(value, path)
    elif isinstance(value, dict | list):
        push((value, depth + 1, path))
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise EventError(
                f"field {_shown(path)!r}: {value!r} is not a finite number (JSON has no NaN or "
                "Infinity); send null or a string",
                field=path,
            )
    elif isinstance(value, int):
        if not wire and not MIN_INT <= value <= MAX_INT:
            raise EventError(
                f"field {_shown(path)!r}: the integer {value} is outside [{MIN_INT}, {MAX_INT}]; "
                "send it as a string",
                field=path,
            )
    else:
        raise EventError(
            f"field {_shown(path)!r}: {type(value).__name__} is not a JSON value (use objects, "
            "arrays, strings, numbers, booleans or null)",
            field=path,
        )


def _check_event_type(obj: Mapping[str, Any]) -> None:
    value = _required(obj, "event_type")
    if not isinstance(value, str) or not _EVENT_TYPE_RE.match(value):
        raise EventError(
            "field 'event_type': expected a string of lowercase letters, digits, '_', '.', ':' "
            f"or '-', starting with a letter, at most {MAX_TYPE_LENGTH} long, "
            f"got {_describe(value)}",
            field="event_type",
        )


def _check_payload(event_type: str, payload: Mapping[str, Any]) -> None:
    spec = PAYLOAD_FIELDS.get(event_type)
    if not spec:
        return
    for name, types in spec.items():
        where = f"payload.{name}"
        if name not in payload:
            raise EventError(f"{event_type}: missing field {where!r}", field=where)
        value = payload[name]
        if not any(JSON_TYPE_CHECKS[t](value) for t in types):
            raise EventError(
                f"{event_type}: field {where!r}: expected {' or '.join(types)}, "
                f"got {_describe(value)}",
                field=where,
            )


def loads_many(lines: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> list[Event]:
    """Parse a JSON array of events or JSON lines (one event per line)."""
    stripped = lines.strip()
    if stripped.startswith(b"["):
        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"events are not valid JSON: {exc}") from exc
        return [Event.from_dict(item) for item in items]
    return [Event.from_json(line, max_bytes=max_bytes) for line in stripped.splitlines() if line]


# --- constructors for the seed's event types ------------------------------------------------


def schema_updated(
    *,
    new_hash: str,
    old_hash: str | None,
    schema_path: str,
    table_count: int,
    source_node: str = "schema_sync",
    **extra: Any,
) -> Event:
    """The seed's ``schema_updated`` (``status: "updated"``) plus the project's extra fields."""
    payload = {
        "status": "updated",
        "new_hash": new_hash,
        "old_hash": old_hash,
        "schema_path": schema_path,
        "table_count": table_count,
        **extra,
    }
    return Event.create("schema_updated", payload, source_node=source_node)


def schema_nochange(
    *,
    current_hash: str,
    schema_path: str,
    table_count: int,
    source_node: str = "schema_sync",
    **extra: Any,
) -> Event:
    """``schema_nochange``: the fingerprint equals the cached one (``status: "unchanged"``)."""
    payload = {
        "status": "unchanged",
        "new_hash": current_hash,
        "old_hash": current_hash,
        "schema_path": schema_path,
        "table_count": table_count,
        **extra,
    }
    return Event.create("schema_nochange", payload, source_node=source_node)


def schema_error(
    *,
    error: str,
    stage: str,
    retry_in_s: float | None = None,
    source_node: str = "schema_sync",
    **extra: Any,
) -> Event:
    """``schema_error``: what failed (``stage``), why, and when the next try is."""
    payload = {"error": error, "stage": stage, "retry_in_s": retry_in_s, **extra}
    return Event.create("schema_error", payload, source_node=source_node)


def task_executed(
    *,
    task_id: str,
    name: str,
    status: str,
    duration_ms: float,
    rows: int | None = None,
    schema_hash: str | None = None,
    source_node: str = "legion",
    **extra: Any,
) -> Event:
    payload = {
        "task_id": task_id,
        "name": name,
        "status": status,
        "duration_ms": duration_ms,
        "rows": rows,
        "schema_hash": schema_hash,
        **extra,
    }
    return Event.create("task_executed", payload, source_node=source_node)


def playwright_test_started(
    *, nodeid: str, browser: str | None = None, source_node: str = "pytest", **extra: Any
) -> Event:
    payload = {"nodeid": nodeid, "browser": browser, **extra}
    return Event.create("playwright_test_started", payload, source_node=source_node)


def playwright_test_completed(
    *,
    nodeid: str,
    outcome: str,
    duration_ms: float,
    browser: str | None = None,
    source_node: str = "pytest",
    **extra: Any,
) -> Event:
    payload = {
        "nodeid": nodeid,
        "outcome": outcome,
        "duration_ms": duration_ms,
        "browser": browser,
        **extra,
    }
    return Event.create("playwright_test_completed", payload, source_node=source_node)


def qa5_validation(*, status: str, source_node: str = "qa5", **extra: Any) -> Event:
    return Event.create("qa5_validation", {"status": status, **extra}, source_node=source_node)


def legion_schema_telemetry(
    *,
    old_hash: str | None,
    new_hash: str,
    reload_ms: float,
    affected_tasks: list[str] | None = None,
    source_node: str = "legion",
    **extra: Any,
) -> Event:
    payload = {
        "old_hash": old_hash,
        "new_hash": new_hash,
        "reload_ms": reload_ms,
        "affected_tasks": list(affected_tasks or []),
        **extra,
    }
    return Event.create("legion_schema_telemetry", payload, source_node=source_node)


# --- JSON Schema -----------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the envelope, derived from the constants above."""
    payload_rules = []
    for event_type, spec in PAYLOAD_FIELDS.items():
        props = {
            name: {"type": list(types) if len(types) > 1 else types[0]}
            for name, types in spec.items()
        }
        payload_rules.append(
            {
                "if": {"properties": {"event_type": {"const": event_type}}},
                "then": {"properties": {"payload": {"required": list(spec), "properties": props}}},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ctas7-panel.invalid/event.schema.json",
        "title": "ctas7-panel event envelope",
        "description": (
            "Every message exchanged by ctas7-panel. Generated from ctas7_panel/events.py "
            "(json_schema()); a test keeps this file equal to the code. Events larger than "
            f"{DEFAULT_MAX_EVENT_BYTES} bytes (default, CTAS7_MAX_EVENT_BYTES), nested more "
            f"than {MAX_DEPTH} levels (the envelope is level 1), holding NaN, Infinity or "
            "integers outside the 64-bit range, or with a NUL character in event_id or "
            "source_node are refused."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": list(ENVELOPE_FIELDS),
        "properties": {
            "event_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_ID_LENGTH,
                "pattern": NO_NUL_PATTERN,
            },
            "event_type": {"type": "string", "pattern": EVENT_TYPE_PATTERN},
            "timestamp": {
                "type": "number",
                "minimum": MIN_TIMESTAMP,
                "exclusiveMaximum": MAX_TIMESTAMP,
                "description": "unix seconds (1970-01-01 to 2100-01-01 UTC)",
            },
            "source_node": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_SOURCE_LENGTH,
                "pattern": NO_NUL_PATTERN,
            },
            "payload": {"type": "object"},
        },
        "allOf": payload_rules,
    }
