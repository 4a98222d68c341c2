"""The Test Results tally: runs per project, flaky apart from failed, retried attempts counted
once, ``test_run_status`` folded (pure: no bus, no browser)."""

from __future__ import annotations

from typing import Any

from ctas7_panel.bridge.transforms import transform
from ctas7_panel.dashboard.digest import Digest
from ctas7_panel.dashboard.tallies import RunRow, TestTally
from ctas7_panel.events import Event


def started(nodeid: str, project: str | None, run: str = "r1", retry: int = 0) -> Event:
    payload = {"nodeid": nodeid, "browser": "chromium", "project": project, "run_id": run}
    return Event.create(
        "playwright_test_started", {**payload, "retry": retry, "worker": "0"}, source_node="pw"
    )


def completed(
    nodeid: str,
    project: str | None,
    outcome: str,
    *,
    run: str = "r1",
    retry: int = 0,
    **extra: Any,
) -> Event:
    payload = {
        "nodeid": nodeid,
        "browser": "chromium",
        "project": project,
        "run_id": run,
        "retry": retry,
        "worker": "0",
        "outcome": outcome,
        "duration_ms": 10.0,
        "message": "Error: no" if outcome == "failed" else None,
        "retries": retry,
        "flaky": False,
        "final": True,
        **extra,
    }
    return Event.create("playwright_test_completed", payload, source_node="pw")


def status(run: str, state: str, message: str) -> Event:
    payload = {"status": state, "message": message, "run_id": run}
    return Event.create("test_run_status", payload, source_node="pw")


def feed(tally: TestTally, *events: Event) -> None:
    for e in events:
        assert tally.observe(e)


def test_a_retried_test_counts_once_and_flaky_apart_from_failed() -> None:
    t = TestTally()
    feed(
        t,
        status("r1", "running", "running 3 tests"),
        started("a", "mobile"),
        completed("a", "mobile", "failed", final=False),  # retried: not the test's outcome
        started("a", "mobile", retry=1),
        completed("a", "mobile", "passed", retry=1, flaky=True),
        started("b", "tablet"),
        completed("b", "tablet", "failed", final=False),
        started("b", "tablet", retry=1),
        completed("b", "tablet", "failed", retry=1),
        started("c", "desktop"),
        completed("c", "desktop", "passed"),
    )
    assert (t.passed, t.flaky, t.failed, t.skipped, t.running) == (1, 1, 1, 0, 0)
    assert [f.nodeid for f in t.failures] == ["b"]  # the retried attempts are not failures
    assert t.pass_rate == 2 / 3
    assert t.rows() == (
        RunRow("r1", "desktop", 1, 0, 0, 0, 0, "running"),
        RunRow("r1", "mobile", 0, 1, 0, 0, 0, "running"),
        RunRow("r1", "tablet", 0, 0, 1, 0, 0, "running"),
    )
    feed(t, status("r1", "failed", "1 passed, 1 flaky, 1 failed"))
    assert {r.status for r in t.rows()} == {"failed"}
    assert t.note == "failed: 1 passed, 1 flaky, 1 failed"


def test_runs_per_project_newest_first_bounded() -> None:
    t = TestTally(max_runs=2)
    feed(t, started("a", "desktop", run="r1"))
    assert t.rows() == (RunRow("r1", "desktop", 0, 0, 0, 0, 1, "running"),)
    feed(
        t,
        completed("a", "desktop", "passed", run="r1"),
        started("a", "desktop", run="r2"),
        completed("a", "desktop", "skipped", run="r2"),
        started("a", "desktop", run="r3"),
    )
    assert [(r.run_id, r.status) for r in t.rows()] == [("r3", "running"), ("r2", "done")]


def test_events_without_run_or_project_still_count() -> None:
    """The pytest plugin of older versions, the dev stand-in: run from source, project '-'."""
    t = TestTally()
    bare = Event.create(
        "playwright_test_completed",
        {"nodeid": "x", "outcome": "passed", "duration_ms": 1.0},
        source_node="pytest",
    )
    feed(t, bare)
    assert t.rows() == (RunRow("pytest", "-", 1, 0, 0, 0, 0, "done"),)


def test_the_digest_shows_the_same_whether_it_sees_the_raw_event_or_the_dashboards_copy() -> None:
    """The bridge's dashboard transform carries run, project and attempt: folding the target's
    copy first (it may arrive first) gives the same tally."""
    events = [
        started("a", "mobile"),
        completed("a", "mobile", "failed", final=False),
        started("a", "mobile", retry=1),
        completed("a", "mobile", "passed", retry=1, flaky=True),
    ]
    raw, shown = Digest(), Digest()
    for i, e in enumerate(events):
        raw.observe("events", e, float(i))
        shown.observe("target.dashboard", transform("dashboard", e), float(i))
    for d in (raw, shown):
        view = d.tests_view()
        assert (view.passed, view.flaky, view.failed, view.running) == (0, 1, 0, 0)
        assert view.runs == (RunRow("r1", "mobile", 0, 1, 0, 0, 0, "done"),)


def test_run_status_reaches_the_tests_view() -> None:
    d = Digest()
    d.observe("events", status("r9", "unavailable", "pytest is not installed"), 1.0)
    assert d.tests_view().note == "unavailable: pytest is not installed"


def test_a_late_running_status_does_not_hide_the_runs_final_status() -> None:
    """Deliveries can be reordered (a retried batch): the latest status by event time wins."""
    t = TestTally()
    begin = status("r3", "running", "running 2 tests")
    end = status("r3", "failed", "1 passed, 1 failed")
    end = Event.create(end.event_type, end.payload, source_node="pw", timestamp=begin.timestamp + 5)
    feed(t, started("t1", "desktop", run="r3"), end, begin)
    assert [r.status for r in t.rows()] == ["failed"]
    assert t.note == "failed: 1 passed, 1 failed"


def test_a_run_status_seen_first_at_the_dashboard_target_keeps_its_run_and_status() -> None:
    """test_run_status has no dedicated dashboard transform: the generic one wraps the payload
    under ``data``. Whichever sighting comes first (target or raw topic), the run gets its
    status (CI saw 'done'/'running' when the wrapped copy won the race)."""
    from ctas7_panel.bridge.transforms import transform

    begin = started("t1", "desktop", run="r4")
    end = status("r4", "failed", "0 passed, 1 failed")
    d = Digest()
    d.observe("events", begin, 1.0)
    d.observe("target.dashboard", transform("dashboard", end), 2.0)
    d.observe("events", end, 2.1)
    assert [(r.run_id, r.status) for r in d.tests_view().runs] == [("r4", "failed")]
    assert d.tests_view().note == "failed: 0 passed, 1 failed"
