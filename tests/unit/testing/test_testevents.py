"""The one shape of test events: the code, its JSON Schema file, and every producer against both.

The Playwright reporter is checked against the same two in tests/integration/testing/
test_playwright_reporter.py and tests/browser/test_playwright_node.py; the pytest plugin in
test_plugin_telemetry.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ctas7_panel.errors import EventError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.testing import testevents
from ctas7_panel.testing.ingest import detect_format, parse_report, to_events

ROOT = Path(__file__).resolve().parents[3]
REPORTS = ROOT / "tests" / "fixtures" / "reports"
SCHEMA = ROOT / "docs" / "test-events.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))


def both(event: Event) -> None:
    validator().validate(event.to_dict())
    testevents.check(event)


def attempt(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "nodeid": "a.spec.ts::t[desktop]",
        "browser": "chromium",
        "project": "desktop",
        "run_id": "pw-1",
        "retry": 0,
        "worker": "0",
    }
    payload.update(over)
    return payload


def completed(**over: Any) -> dict[str, Any]:
    payload = attempt(
        outcome="passed", duration_ms=12.5, message=None, retries=0, flaky=False, final=True
    )
    payload.update(over)
    return payload


def test_the_schema_file_is_the_code() -> None:
    on_disk = json.loads(SCHEMA.read_text())
    assert on_disk == testevents.json_schema(), "regenerate docs/test-events.schema.json"
    jsonschema.Draft202012Validator.check_schema(on_disk)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        (testevents.STARTED, attempt()),
        (testevents.STARTED, attempt(file="a.spec.ts", line=3, worker=None, project=None)),
        (testevents.COMPLETED, completed()),
        (
            testevents.COMPLETED,
            completed(outcome="failed", final=False, message="Error: boom", retry=0),
        ),
        (testevents.COMPLETED, completed(outcome="passed", flaky=True, retries=1, retry=1)),
        (testevents.COMPLETED, completed(when="call", session_id="abc")),
        (testevents.RUN_STATUS, {"status": "running", "message": "running 4 tests"}),
        (
            testevents.RUN_STATUS,
            {
                "status": "failed",
                "message": "1 failed",
                "run_id": "pw-1",
                "exit_code": None,
                "tests": 4,
                "projects": ["desktop"],
                "counts": {"failed": 1},
                "duration_ms": 10,
            },
        ),
    ],
)
def test_valid_events_pass_both_checks(event_type: str, payload: dict[str, Any]) -> None:
    both(Event.create(event_type, payload, source_node="playwright"))


@pytest.mark.parametrize(
    ("event_type", "payload", "field"),
    [
        (testevents.STARTED, {k: v for k, v in attempt().items() if k != "run_id"}, "run_id"),
        (testevents.STARTED, attempt(retry=-1), "retry"),
        (testevents.STARTED, attempt(retry=True), "retry"),
        (testevents.STARTED, attempt(worker=3), "worker"),
        (testevents.STARTED, attempt(colour="red"), "colour"),
        (testevents.COMPLETED, completed(outcome="exploded"), "outcome"),
        (testevents.COMPLETED, completed(duration_ms="12"), "duration_ms"),
        (testevents.COMPLETED, completed(duration_ms=-1), "duration_ms"),
        (testevents.COMPLETED, {k: v for k, v in completed().items() if k != "final"}, "final"),
        (testevents.COMPLETED, completed(when="lunch"), "when"),
        (testevents.RUN_STATUS, {"status": "done", "message": "x"}, "status"),
        (testevents.RUN_STATUS, {"status": "running"}, "message"),
    ],
)
def test_a_broken_event_is_refused_by_both_naming_the_field(
    event_type: str, payload: dict[str, Any], field: str
) -> None:
    event = Event("evt_1", event_type, 1.0, "playwright", payload)  # as it came, unchecked
    with pytest.raises(EventError, match=field) as info:
        testevents.check(event)
    assert info.value.field == f"payload.{field}"
    assert list(validator().iter_errors(event.to_dict())), "the JSON Schema must refuse it too"


def test_other_event_types_are_not_test_events() -> None:
    e = Event.create("qa5_validation", {"status": "ok"}, source_node="x")
    with pytest.raises(EventError, match="not a test event"):
        testevents.check(e)


@pytest.mark.parametrize(
    "name", ["playwright-report.json", "playwright-junit.xml", "pytest-junit.xml"]
)
def test_ingest_sends_the_shape(name: str) -> None:
    report = parse_report((REPORTS / name).read_bytes())
    events = to_events(report, source_node="x", default_start=1.0)
    assert events
    for e in events:
        both(e)
    assert len({e.payload["run_id"] for e in events}) == 1
    assert all(e.payload["final"] for e in events if e.event_type == testevents.COMPLETED)


def test_ingest_keeps_the_playwright_worker_and_retry() -> None:
    report = parse_report((REPORTS / "playwright-report.json").read_bytes())
    events = to_events(report, source_node="playwright", default_start=1.0)
    flaky = next(
        e for e in events if e.event_type == testevents.COMPLETED and e.payload["flaky"] is True
    )
    assert flaky.payload["retry"] == flaky.payload["retries"] == 1
    assert flaky.payload["worker"] is not None and flaky.payload["worker"].isdigit()


# --- a reporter's spill file -----------------------------------------------------------------


def spill_lines(n: int = 3) -> list[Event]:
    out = [
        Event.create(testevents.RUN_STATUS, {"status": "running", "message": "m"}, source_node="p")
    ]
    for i in range(n):
        out.append(
            Event.create(testevents.STARTED, attempt(nodeid=f"t{i}"), source_node="playwright")
        )
        out.append(
            Event.create(
                testevents.COMPLETED,
                completed(nodeid=f"t{i}", outcome="failed" if i == 0 else "passed"),
                source_node="playwright",
            )
        )
    return out


def test_a_spill_file_is_ingested_as_it_is() -> None:
    events = spill_lines()
    data = b"\n".join(e.to_json() for e in events) + b"\n"
    assert detect_format(data) == "ctas7-events"
    report = parse_report(data)
    assert report.format == "ctas7-events"
    assert report.counts == {"failed": 1, "passed": 2} and report.tests == 3
    assert to_events(report, source_node="ignored", default_start=0.0) == events  # ids kept


def test_a_spill_file_counts_flaky_apart_and_skips_non_final_attempts() -> None:
    events = [
        Event.create(
            testevents.COMPLETED, completed(final=False, outcome="failed"), source_node="p"
        ),
        Event.create(
            testevents.COMPLETED, completed(retry=1, retries=1, flaky=True), source_node="p"
        ),
    ]
    report = parse_report(b"\n".join(e.to_json() for e in events))
    assert report.counts == {"flaky": 1}


def test_a_spill_file_with_a_line_twice_sends_it_once() -> None:
    events = spill_lines(1)
    data = b"\n".join(e.to_json() for e in [*events, events[1]])
    assert len(parse_report(data).events) == len(events)


def test_a_pretty_printed_json_report_is_not_taken_for_a_spill_file() -> None:
    assert detect_format((REPORTS / "playwright-report.json").read_bytes()) == "playwright-json"
    assert detect_format(b'{"suites": [], "config": {}}') == "playwright-json"


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (b'{"event_id": "e1", "event_type": "playwright_test_started"}', "line 2: missing field"),
        (b"not json", "line 2: event is not valid JSON"),
        (
            Event.create("qa5_validation", {"status": "ok"}, source_node="x").to_json(),
            "line 2: event_type 'qa5_validation' is not a test event",
        ),
        (
            Event.create(testevents.STARTED, {"nodeid": "x"}, source_node="x").to_json(),
            "line 2: playwright_test_started: missing field 'payload.browser'",
        ),
    ],
)
def test_a_broken_spill_line_is_named(bad: bytes, expected: str) -> None:
    good = spill_lines(1)[0].to_json()
    with pytest.raises(UsageError, match=expected):
        parse_report(good + b"\n" + bad + b"\n", "ctas7-events")
