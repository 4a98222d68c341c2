"""Report ingestion on reports produced by real runs (tests/fixtures/reports, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctas7_panel.errors import UsageError
from ctas7_panel.events import Event
from ctas7_panel.testing.ingest import (
    browser_from_project,
    detect_format,
    parse_report,
    to_events,
)

REPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "reports"


def load(name: str) -> bytes:
    return (REPORTS / name).read_bytes()


def test_playwright_json_outcomes_retries_flaky_and_browser() -> None:
    report = parse_report(load("playwright-report.json"))
    assert report.format == "playwright-json"
    assert report.counts == {"passed": 3, "failed": 1, "skipped": 1}
    recs = {r.nodeid: r for r in report.records}
    assert set(recs) == {
        "dashboard.spec.ts::telemetry status::shows the schema indicator[chromium]",
        "dashboard.spec.ts::telemetry status::lists a schema_updated event[chromium]",
        "dashboard.spec.ts::reports a wrong hash (fails on purpose)[chromium]",
        "dashboard.spec.ts::dioxus panel not built yet[chromium]",
        "dashboard.spec.ts::flaky on the first attempt[chromium]",
    }
    failed = recs["dashboard.spec.ts::reports a wrong hash (fails on purpose)[chromium]"]
    assert failed.outcome == "failed" and failed.retries == 1 and not failed.flaky
    assert failed.message == "Error: expect(locator).toContainText(expected) failed"
    assert "\x1b" not in (failed.message or "")  # ANSI colours stripped
    assert failed.duration_ms == 1312 + 1465  # both attempts
    flaky = recs["dashboard.spec.ts::flaky on the first attempt[chromium]"]
    assert (flaky.outcome, flaky.flaky, flaky.retries) == ("passed", True, 1)
    skipped = recs["dashboard.spec.ts::dioxus panel not built yet[chromium]"]
    assert skipped.outcome == "skipped"
    assert skipped.message == "the Dioxus panel is not part of this build"
    assert {r.browser for r in report.records} == {"chromium"}
    assert all(r.started_at is not None for r in report.records)


def test_playwright_junit_from_the_same_run() -> None:
    report = parse_report(load("playwright-junit.xml"))
    assert report.format == "junit-xml"
    assert report.counts == {"passed": 3, "failed": 1, "skipped": 1}
    recs = {r.nodeid: r for r in report.records}
    wrong = recs["dashboard.spec.ts::reports a wrong hash (fails on purpose)"]
    assert wrong.outcome == "failed" and wrong.duration_ms == 2777.0
    assert {r.browser for r in report.records} == {"chromium"}  # hostname = project


def test_pytest_junit_error_xfail_skip_and_classes() -> None:
    report = parse_report(load("pytest-junit.xml"))
    assert report.counts == {"passed": 4, "failed": 1, "error": 1, "skipped": 1, "xfailed": 1}
    recs = {r.nodeid: r for r in report.records}
    assert recs["test_schema_checks::test_wrong_table_count"].message == (
        "AssertionError: expected 8 tables"
    )
    assert recs["test_schema_checks::test_needs_database"].outcome == "error"
    assert recs["test_schema_checks::test_known_gap"].outcome == "xfailed"
    assert recs["test_schema_checks::test_dioxus_panel"].message == "dioxus panel not built"
    assert "test_schema_checks.TestEvents::test_event_type_pattern" in recs
    assert "test_schema_checks::test_table_named[nodes]" in recs
    assert all(r.browser is None for r in report.records)  # hostname is a machine
    starts = [r.started_at for r in report.records]
    assert starts == sorted(starts)  # suite timestamp plus the time of the tests before


@pytest.mark.parametrize(
    "name", ["playwright-report.json", "playwright-junit.xml", "pytest-junit.xml"]
)
def test_events_are_valid_paired_and_deterministic(name: str) -> None:
    report = parse_report(load(name))
    events = to_events(report, source_node="playwright", default_start=0.0)
    assert len(events) == 2 * len(report.records)
    for e in events:  # every event survives the wire validation
        assert Event.from_json(e.to_json()) == e
    started, completed = events[0::2], events[1::2]
    assert {e.event_type for e in started} == {"playwright_test_started"}
    assert {e.event_type for e in completed} == {"playwright_test_completed"}
    for s, c, r in zip(started, completed, report.records, strict=True):
        assert s.payload["nodeid"] == c.payload["nodeid"] == r.nodeid
        assert c.payload["outcome"] == r.outcome
        assert c.timestamp == pytest.approx(s.timestamp + r.duration_ms / 1000)
    again = to_events(parse_report(load(name)), source_node="playwright", default_start=99.0)
    assert [e.event_id for e in again] == [e.event_id for e in events]
    assert len({e.event_id for e in events}) == len(events)


def test_a_different_report_gets_different_ids() -> None:
    a = to_events(parse_report(load("pytest-junit.xml")), source_node="x", default_start=0)
    b = to_events(parse_report(load("pytest-junit.xml") + b"\n"), source_node="x", default_start=0)
    assert not {e.event_id for e in a} & {e.event_id for e in b}


def test_report_without_times_uses_the_default_start() -> None:
    xml = b'<testsuite name="s"><testcase classname="c" name="t" time="0.5"/></testsuite>'
    report = parse_report(xml)
    events = to_events(report, source_node="junit", default_start=1000.0)
    assert [e.timestamp for e in events] == [1000.0, 1000.5]
    assert events[1].payload["duration_ms"] == 500.0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "neither JSON nor XML"),
        (b"hello", "neither JSON nor XML"),
        (b"{not json", "not valid JSON"),
        (b'{"stats": {}}', "no 'suites' list"),
        (b'{"suites": [1]}', "'suites' must hold objects"),
        (b"<testsuite><testcase", "not well-formed XML"),
        (b"<html><body/></html>", "root is <html>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><testsuite/>',
            "DTD or entities",
        ),
    ],
)
def test_bad_reports_say_what_is_wrong(data: bytes, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace("[", r"\[")):
        parse_report(data)


def test_detect_format_and_browser_names() -> None:
    assert detect_format(b'  {"suites": []}') == "playwright-json"
    assert detect_format(b"\n<testsuites/>") == "junit-xml"
    assert browser_from_project("Mobile Chrome") == "chromium"
    assert browser_from_project("Desktop Safari") == "webkit"
    assert browser_from_project("firefox") == "firefox"
    assert browser_from_project("api") == "api"
    assert browser_from_project(None) is None
