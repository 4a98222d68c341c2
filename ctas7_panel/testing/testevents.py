"""The one shape of test events, whoever produces them (pure: no I/O).

Three producers send test results: the pytest plugin (``--ctas7-telemetry``), ``ctas7 ingest``
(Playwright JSON reports, JUnit XML, a Playwright reporter's spill file) and the Playwright
reporter that ``ctas7 playwright init`` installs (``ctas7_panel/playwright/assets``). They all
send these payloads; ``SHAPES`` is the contract, ``check(event)`` enforces it (``EventError``
naming the field), ``json_schema()`` is the same contract as a JSON Schema (draft 2020-12), kept
equal to ``docs/test-events.schema.json`` by a test; the tests check every producer against both.

``playwright_test_started`` / ``playwright_test_completed``: one pair per attempt. Every producer
sends ``nodeid``, ``browser``, ``project``, ``run_id``, ``retry``, ``worker`` and, when completed,
``outcome``, ``duration_ms`` (all attempts so far), ``message``, ``retries``, ``flaky`` and
``final``. ``final: false`` marks an attempt that failed and will be retried (only the Playwright
reporter sends those); the dashboard counts a test once, at its final attempt, and counts a test
that passed on a retry (``flaky: true``) apart from passed and failed.

``test_run_status``: what a runner says about a run as a whole (``status``, ``message``; the
Playwright reporter sends one when the run begins and a summary when it ends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctas7_panel.errors import EventError
from ctas7_panel.events import JSON_TYPE_CHECKS, Event

STARTED = "playwright_test_started"
COMPLETED = "playwright_test_completed"
RUN_STATUS = "test_run_status"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed")
RUN_STATES = ("running", "finished", "failed", "timedout", "interrupted", "unavailable")
REPORT_FORMATS = ("playwright-json", "junit-xml")
WHEN = ("setup", "call", "teardown")


@dataclass(frozen=True, slots=True)
class Field:
    """One payload field: JSON types, whether every producer must send it, and its rules."""

    types: tuple[str, ...]
    required: bool = False
    doc: str = ""
    enum: tuple[str, ...] | None = None
    minimum: float | None = None


_ATTEMPT: dict[str, Field] = {
    "nodeid": Field(
        ("string",), True, "pytest's node id; Playwright: file::describe::title[project]"
    ),
    "browser": Field(("string", "null"), True, "chromium, firefox, webkit (or the project)"),
    "project": Field(("string", "null"), True, "Playwright project (desktop, mobile, ...)"),
    "run_id": Field(("string",), True, "one test run: every event of the run carries it"),
    "retry": Field(("integer",), True, "the attempt: 0 the first run, 1 the first retry", None, 0),
    "worker": Field(("string", "null"), True, "the worker that ran it (gw0, 1, ...)"),
    "file": Field(("string", "null"), doc="test file, relative to the test root"),
    "line": Field(("integer", "null"), doc="line of the test in its file"),
    "session_id": Field(("string",), doc="pytest plugin: the session (equals run_id)"),
    "report_format": Field(
        ("string",), doc="ctas7 ingest: the report's format", enum=REPORT_FORMATS
    ),
    "report_sha256": Field(("string",), doc="ctas7 ingest: SHA-256 of the report's bytes"),
}

SHAPES: dict[str, dict[str, Field]] = {
    STARTED: dict(_ATTEMPT),
    COMPLETED: {
        **_ATTEMPT,
        "outcome": Field(("string",), True, "the test's outcome", OUTCOMES),
        "duration_ms": Field(("number",), True, "all attempts so far, added up", None, 0),
        "message": Field(("string", "null"), True, "first line of the error or skip reason"),
        "retries": Field(("integer",), True, "attempts beyond the first so far", None, 0),
        "flaky": Field(("boolean",), True, "passed on a retry after failing"),
        "final": Field(("boolean",), True, "false: this attempt failed and will be retried"),
        "when": Field(("string", "null"), doc="pytest plugin: the phase that decided", enum=WHEN),
    },
    RUN_STATUS: {
        "status": Field(("string",), True, "the run's state", RUN_STATES),
        "message": Field(("string",), True, "one line for people (shown on the dashboard)"),
        "run_id": Field(("string",), doc="the run (as on its test events)"),
        "exit_code": Field(("integer", "null"), doc="the runner's exit code, when known"),
        "tests": Field(("integer",), doc="tests the run plans to run", minimum=0),
        "projects": Field(("array",), doc="Playwright projects with tests in the run"),
        "counts": Field(("object",), doc="passed, flaky, failed, skipped, xfailed, did_not_run"),
        "duration_ms": Field(("number",), doc="the run's wall time so far", minimum=0),
    },
}


def is_test_event(event_type: str) -> bool:
    return event_type in SHAPES


def check_payload(event_type: str, payload: Mapping[str, Any]) -> None:
    """Raise ``EventError`` naming the first field that breaks the shape of ``event_type``."""
    shape = SHAPES.get(event_type)
    if shape is None:
        raise EventError(
            f"event_type {event_type!r} is not a test event: expected one of {', '.join(SHAPES)}",
            field="event_type",
        )
    for name, spec in shape.items():
        where = f"payload.{name}"
        if name not in payload:
            if spec.required:
                raise EventError(f"{event_type}: missing field {where!r}", field=where)
            continue
        value = payload[name]
        if not any(JSON_TYPE_CHECKS[t](value) for t in spec.types):
            raise EventError(
                f"{event_type}: field {where!r}: expected {' or '.join(spec.types)}, "
                f"got {type(value).__name__} {value!r:.60}",
                field=where,
            )
        if spec.enum is not None and value is not None and value not in spec.enum:
            raise EventError(
                f"{event_type}: field {where!r}: {value!r:.60} is not one of "
                f"{', '.join(spec.enum)}",
                field=where,
            )
        if spec.minimum is not None and value is not None and value < spec.minimum:
            raise EventError(
                f"{event_type}: field {where!r}: {value!r} is below {spec.minimum:g}", field=where
            )
    unknown = sorted(set(payload) - set(shape))
    if unknown:
        raise EventError(
            f"{event_type}: unexpected field 'payload.{unknown[0]}': the test events' fields are "
            "listed in docs/test-events.schema.json (add new ones there first)",
            field=f"payload.{unknown[0]}",
        )


def check(event: Event) -> Event:
    """``event`` itself when it has the shape of its test event type; else ``EventError``."""
    check_payload(event.event_type, event.payload)
    return event


def json_schema() -> dict[str, Any]:
    """The shapes as a JSON Schema of the event envelope (draft 2020-12)."""
    rules = []
    for event_type, shape in SHAPES.items():
        props: dict[str, Any] = {}
        for name, spec in shape.items():
            prop: dict[str, Any] = {
                "type": list(spec.types) if len(spec.types) > 1 else spec.types[0]
            }
            if spec.enum is not None:
                prop["enum"] = [*spec.enum, *([None] if "null" in spec.types else [])]
            if spec.minimum is not None:
                prop["minimum"] = spec.minimum
            if spec.doc:
                prop["description"] = spec.doc
            props[name] = prop
        rules.append(
            {
                "if": {"properties": {"event_type": {"const": event_type}}},
                "then": {
                    "properties": {
                        "payload": {
                            "type": "object",
                            "required": [n for n, s in shape.items() if s.required],
                            "properties": props,
                            "additionalProperties": False,
                        }
                    }
                },
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ctas7-panel.invalid/test-events.schema.json",
        "title": "ctas7-panel test events",
        "description": (
            "Test events as the pytest plugin, ctas7 ingest and the Playwright reporter send "
            "them. Generated from ctas7_panel/testing/testevents.py (json_schema()); a test "
            "keeps this file equal to the code. The envelope is docs/event.schema.json."
        ),
        "type": "object",
        "required": ["event_id", "event_type", "timestamp", "source_node", "payload"],
        "properties": {
            "event_type": {"enum": list(SHAPES)},
            "payload": {"type": "object"},
        },
        "allOf": rules,
    }
