"""Test reports from other runners become the same events the pytest plugin sends (pure).

The events' shape is ``ctas7_panel.testing.testevents`` (one schema for every producer).

``parse_report(data)`` reads a Playwright JSON report (``npx playwright test --reporter=json``)
or a JUnit XML file (``pytest --junitxml``, Playwright's ``junit`` reporter, most CI tools) into
``TestRecord``s; ``to_events(report)`` turns each into ``playwright_test_started`` and
``playwright_test_completed`` (nodeid, outcome, duration_ms, browser, ...). Event ids are derived
from the report's bytes, so ingesting the same file twice stores and delivers nothing new.

A spill file (format ``ctas7-events``: one test event per line, written by the Playwright
reporter of ``ctas7 playwright init`` when the bridge was down) is read as it is: each line is
checked against the test events' shape (``testevents``) and keeps its event id.

Outcomes: ``passed``, ``failed``, ``error`` (JUnit ``<error>``: setup/teardown), ``skipped``,
``xfailed`` (an expected failure). A Playwright test that failed and then passed on a retry is
``passed`` with ``flaky: true``; ``retries`` counts the extra attempts, ``duration_ms`` adds
them all up. Malformed input raises ``UsageError`` saying what is wrong.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from ctas7_panel.errors import EventError, UsageError
from ctas7_panel.events import DEFAULT_MAX_EVENT_BYTES, Event
from ctas7_panel.testing import testevents
from ctas7_panel.testing.testevents import COMPLETED, STARTED

Format = Literal["playwright-json", "junit-xml", "ctas7-events"]
FORMATS: tuple[Format, ...] = ("playwright-json", "junit-xml", "ctas7-events")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_BROWSERS = {"chromium": "chromium", "firefox": "firefox", "webkit": "webkit"}
_BROWSER_HINTS = (
    ("chrom", "chromium"),
    ("edge", "chromium"),
    ("firefox", "firefox"),
    ("webkit", "webkit"),
    ("safari", "webkit"),
)
MAX_MESSAGE = 500


@dataclass(frozen=True, slots=True)
class TestRecord:
    """One test's result as the dashboard sees it."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str
    duration_ms: float
    started_at: float | None = None
    browser: str | None = None
    project: str | None = None
    retries: int = 0
    flaky: bool = False
    message: str | None = None
    file: str | None = None
    line: int | None = None
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    format: Format
    records: tuple[TestRecord, ...]
    started_at: float | None = None
    digest: str = ""  # SHA-256 of the report's bytes (event ids derive from it)
    counts: dict[str, int] = field(default_factory=dict)  # final outcomes (tests)
    events: tuple[Event, ...] = ()  # ctas7-events: the file's own events, sent as they are

    @property
    def tests(self) -> int:
        return sum(self.counts.values())


# --- helpers -----------------------------------------------------------------------------------


def _clean(text: Any) -> str | None:
    if text is None:
        return None
    plain = _ANSI.sub("", str(text)).strip()
    if not plain:
        return None
    return plain.splitlines()[0].strip()[:MAX_MESSAGE]


def _iso(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def browser_from_project(name: str | None) -> str | None:
    """``chromium``/``firefox``/``webkit`` when the project's name says so, else the name."""
    if not name:
        return None
    low = name.lower()
    for hint, browser in _BROWSER_HINTS:
        if hint in low:
            return browser
    return name


def detect_format(data: bytes) -> Format:
    head = data.lstrip()[:1]
    if head == b"{":
        return "ctas7-events" if is_event_lines(data) else "playwright-json"
    if head == b"<":
        return "junit-xml"
    raise UsageError(
        "report is neither JSON nor XML: give a Playwright JSON report (--reporter=json), "
        "a JUnit XML file or a ctas7 reporter's spill file (JSON lines)"
    )


def parse_report(data: bytes, fmt: Format | None = None) -> Report:
    """Parse a report (format detected from its first line unless given)."""
    fmt = fmt or detect_format(data)
    digest = hashlib.sha256(data).hexdigest()
    counts: dict[str, int] = {}
    if fmt == "ctas7-events":
        events = parse_event_lines(data)
        for e in events:
            if e.event_type == COMPLETED and e.payload.get("final", True):
                key = "flaky" if e.payload.get("flaky") else str(e.payload["outcome"])
                counts[key] = counts.get(key, 0) + 1
        first = min((e.timestamp for e in events), default=None)
        return Report(fmt, (), first, digest, counts, tuple(events))
    records = parse_playwright_json(data) if fmt == "playwright-json" else parse_junit_xml(data)
    started = min((r.started_at for r in records if r.started_at is not None), default=None)
    for r in records:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return Report(fmt, tuple(records), started, digest, counts)


# --- Playwright JSON ---------------------------------------------------------------------------


def _pw_specs(
    suite: dict[str, Any], titles: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for spec in suite.get("specs") or ():
        yield titles, spec
    for child in suite.get("suites") or ():
        yield from _pw_specs(child, (*titles, str(child.get("title", ""))))


def _pw_outcome(test: dict[str, Any], results: list[dict[str, Any]]) -> tuple[str, bool]:
    status = test.get("status")
    last = str(results[-1].get("status")) if results else "skipped"
    if status == "flaky":
        return "passed", True
    if status == "skipped" or last == "skipped":
        return "skipped", False
    if status == "expected":
        return ("xfailed", False) if test.get("expectedStatus") == "failed" else ("passed", False)
    if status == "unexpected":
        return "failed", False
    # no status (older reports): the last attempt decides
    return ("passed" if last == "passed" else "failed"), False


def parse_playwright_json(data: bytes) -> list[TestRecord]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"report is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("suites"), list):
        raise UsageError(
            "JSON report has no 'suites' list: give the output of "
            "`npx playwright test --reporter=json`"
        )
    records = []
    for top in doc["suites"]:
        if not isinstance(top, dict):
            raise UsageError("JSON report: 'suites' must hold objects")
        for titles, spec in _pw_specs(top, ()):
            file = str(spec.get("file") or top.get("file") or top.get("title") or "?")
            for test in spec.get("tests") or ():
                results = [r for r in test.get("results") or () if isinstance(r, dict)]
                outcome, flaky = _pw_outcome(test, results)
                project = test.get("projectName") or test.get("projectId") or None
                path = "::".join([file, *[t for t in titles if t], str(spec.get("title", "?"))])
                nodeid = f"{path}[{project}]" if project else path
                message = None
                if outcome in {"failed", "xfailed"} or flaky:
                    failing = [r for r in results if r.get("status") != "passed"]
                    if failing:
                        err = failing[-1].get("error") or {}
                        message = _clean(err.get("message")) or _clean(failing[-1].get("status"))
                elif outcome == "skipped":
                    notes = [
                        a
                        for a in test.get("annotations") or ()
                        if a.get("type") in {"skip", "fixme"}
                    ]
                    message = _clean(notes[0].get("description")) if notes else None
                records.append(
                    TestRecord(
                        nodeid=nodeid,
                        outcome=outcome,
                        duration_ms=float(sum(float(r.get("duration") or 0) for r in results)),
                        started_at=_iso(results[0].get("startTime")) if results else None,
                        browser=browser_from_project(project),
                        project=project,
                        retries=max(0, len(results) - 1),
                        flaky=flaky,
                        message=message,
                        file=file,
                        line=spec.get("line") if isinstance(spec.get("line"), int) else None,
                        worker=_worker(results[-1].get("workerIndex")) if results else None,
                    )
                )
    return records


def _worker(index: Any) -> str | None:
    return (
        str(index)
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0
        else None
    )


# --- JUnit XML ---------------------------------------------------------------------------------


def parse_junit_xml(data: bytes) -> list[TestRecord]:
    import xml.etree.ElementTree as ET

    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UsageError("refusing an XML report with a DTD or entities: JUnit XML needs neither")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise UsageError(f"report is not well-formed XML: {exc}") from exc
    if root.tag not in {"testsuites", "testsuite"}:
        raise UsageError(
            f"XML report's root is <{root.tag}>: a JUnit report has <testsuites> or <testsuite>"
        )
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    records = []
    for suite in suites:
        clock = _iso(suite.get("timestamp"))
        host = suite.get("hostname")
        browser = _BROWSERS.get((host or "").lower())
        for case in suite.findall("testcase"):
            classname = case.get("classname") or ""
            name = case.get("name") or "?"
            nodeid = f"{classname}::{name}" if classname else name
            try:
                seconds = float(case.get("time") or 0)
            except ValueError:
                seconds = 0.0
            outcome, message = "passed", None
            for child in case:
                tag = child.tag
                text = child.get("message") or child.text
                if tag == "failure":
                    outcome, message = "failed", _clean(text)
                elif tag == "error":
                    outcome, message = "error", _clean(text)
                elif tag == "skipped" and outcome == "passed":
                    xfail = (child.get("type") or "").endswith("xfail")
                    outcome, message = ("xfailed" if xfail else "skipped"), _clean(text)
            line = case.get("line")
            records.append(
                TestRecord(
                    nodeid=nodeid,
                    outcome=outcome,
                    duration_ms=round(seconds * 1000, 3),
                    started_at=clock,
                    browser=browser,
                    project=host if browser else None,
                    message=message,
                    file=case.get("file"),
                    line=int(line) if line and line.isdigit() else None,
                )
            )
            if clock is not None:
                clock += seconds
    return records


# --- events ------------------------------------------------------------------------------------


def _event_id(digest: str, index: int, kind: str) -> str:
    h = hashlib.sha256(f"{digest}|{index}|{kind}".encode()).hexdigest()[:24]
    return f"evt_ingest_{h}"


def to_events(report: Report, *, source_node: str, default_start: float) -> list[Event]:
    """``playwright_test_started`` + ``playwright_test_completed`` per test, in report order.

    Times come from the report (its start times plus durations); a report without them is
    placed at ``default_start``. A spill file's events are returned as they are (their ids
    were made by the reporter, so a second ingest stores nothing twice).
    """
    if report.events:
        return list(report.events)
    out: list[Event] = []
    run_id = f"ingest-{report.digest[:16]}"
    for i, r in enumerate(report.records):
        start = r.started_at if r.started_at is not None else default_start
        common: dict[str, Any] = {
            "nodeid": r.nodeid,
            "browser": r.browser,
            "project": r.project,
            "run_id": run_id,
            "retry": 0,
            "worker": r.worker,
            "report_format": report.format,
            "report_sha256": report.digest,
        }
        if r.file:
            common["file"] = r.file
        if r.line is not None:
            common["line"] = r.line
        completed = {
            **common,
            "retry": r.retries,
            "outcome": r.outcome,
            "duration_ms": r.duration_ms,
            "message": r.message,
            "retries": r.retries,
            "flaky": r.flaky,
            "final": True,
        }
        out.append(
            Event.create(
                STARTED,
                common,
                source_node=source_node,
                event_id=_event_id(report.digest, i, "started"),
                timestamp=start,
            )
        )
        out.append(
            Event.create(
                COMPLETED,
                completed,
                source_node=source_node,
                event_id=_event_id(report.digest, i, "completed"),
                timestamp=start + r.duration_ms / 1000,
            )
        )
    return out


# --- a reporter's spill file (JSON lines of test events) ----------------------------------------


def is_event_lines(data: bytes) -> bool:
    """Is the first line one event envelope (a spill file), not the start of a JSON report?"""
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        obj = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "event_type" in obj and "event_id" in obj


def parse_event_lines(data: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> list[Event]:
    """The events of a spill file (the Playwright reporter's, when the bridge was down): one
    test event per line, ids kept, each checked against the test events' shape."""
    events: list[Event] = []
    seen: set[str] = set()
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = testevents.check(Event.from_json(line, max_bytes=max_bytes))
        except EventError as exc:
            raise UsageError(f"line {number}: {exc}") from exc
        if event.event_id not in seen:  # a file may hold one twice: send it once
            seen.add(event.event_id)
            events.append(event)
    if not events:
        raise UsageError("no events in the file: a spill file holds one event per line")
    return events
