"""Test reports from other runners become the same events the pytest plugin sends (pure).

``parse_report(data)`` reads a Playwright JSON report (``npx playwright test --reporter=json``)
or a JUnit XML file (``pytest --junitxml``, Playwright's ``junit`` reporter, most CI tools) into
``TestRecord``s; ``to_events(report)`` turns each into ``playwright_test_started`` and
``playwright_test_completed`` (nodeid, outcome, duration_ms, browser, ...). Event ids are derived
from the report's bytes, so ingesting the same file twice stores and delivers nothing new.

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

from ctas7_panel.errors import UsageError
from ctas7_panel.events import Event

Format = Literal["playwright-json", "junit-xml"]
FORMATS: tuple[Format, ...] = ("playwright-json", "junit-xml")
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


@dataclass(frozen=True, slots=True)
class Report:
    format: Format
    records: tuple[TestRecord, ...]
    started_at: float | None = None
    digest: str = ""  # SHA-256 of the report's bytes (event ids derive from it)
    counts: dict[str, int] = field(default_factory=dict)


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
        return "playwright-json"
    if head == b"<":
        return "junit-xml"
    raise UsageError(
        "report is neither JSON nor XML: give a Playwright JSON report (--reporter=json) "
        "or a JUnit XML file"
    )


def parse_report(data: bytes, fmt: Format | None = None) -> Report:
    """Parse a report (format detected from the first byte unless given)."""
    fmt = fmt or detect_format(data)
    records = parse_playwright_json(data) if fmt == "playwright-json" else parse_junit_xml(data)
    started = min((r.started_at for r in records if r.started_at is not None), default=None)
    counts: dict[str, int] = {}
    for r in records:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    digest = hashlib.sha256(data).hexdigest()
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
                    notes = [a for a in test.get("annotations") or () if a.get("type") == "skip"]
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
                    )
                )
    return records


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
    placed at ``default_start``.
    """
    out: list[Event] = []
    for i, r in enumerate(report.records):
        start = r.started_at if r.started_at is not None else default_start
        extra: dict[str, Any] = {"report_format": report.format, "report_sha256": report.digest}
        if r.project:
            extra["project"] = r.project
        if r.file:
            extra["file"] = r.file
        if r.line is not None:
            extra["line"] = r.line
        started = {"nodeid": r.nodeid, "browser": r.browser, **extra}
        completed = {
            "nodeid": r.nodeid,
            "outcome": r.outcome,
            "duration_ms": r.duration_ms,
            "browser": r.browser,
            "message": r.message,
            "retries": r.retries,
            "flaky": r.flaky,
            **extra,
        }
        out.append(
            Event.create(
                "playwright_test_started",
                started,
                source_node=source_node,
                event_id=_event_id(report.digest, i, "started"),
                timestamp=start,
            )
        )
        out.append(
            Event.create(
                "playwright_test_completed",
                completed,
                source_node=source_node,
                event_id=_event_id(report.digest, i, "completed"),
                timestamp=start + r.duration_ms / 1000,
            )
        )
    return out
