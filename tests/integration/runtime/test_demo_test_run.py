"""The demo's pytest run reports its results, or says why it could not (never silently 0/0/0).

Real pytest subprocesses on the real demo suite against a real database; the events they lead
to are collected from the demo's ``publish`` (what the runtime puts on the bus) and the store.
"""

from __future__ import annotations

from pathlib import Path

from ctas7_panel import demo as demo_module
from ctas7_panel.demo import DemoActivity
from ctas7_panel.events import Event
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.store import open_store
from ctas7_panel.testing import testevents

DEMO_TESTS = 8  # ctas7_panel/demo_suite/test_demo_suite.py
SUITE = Path(demo_module.__file__).with_name("demo_suite")


def package_files() -> set[Path]:
    """What the installed demo suite folder holds (a run writes nothing there: its working
    directory is a temporary folder, so no stray ``.ctas7/events.db`` or cache)."""
    return set(SUITE.rglob("*"))


def collector() -> tuple[list[Event], object]:
    seen: list[Event] = []

    async def publish(event: Event) -> None:
        seen.append(event)

    return seen, publish


async def test_without_a_bridge_the_results_come_from_a_junit_report(
    fresh_db_url: str, tmp_path: Path, bridge_url: str
) -> None:
    """``ctas7 demo --no-gateway``: no ingress, so no telemetry plugin (whose default would be
    another app's port): the JUnit report's events go on the bus."""
    apply_migrations(fresh_db_url)
    seen, publish = collector()
    demo = DemoActivity(
        fresh_db_url,
        test_env={"CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}"},
        publish=publish,  # type: ignore[arg-type]
    )
    before = package_files()
    code = await demo.run_test_suite()
    assert package_files() == before
    assert code in (0, 1)  # 1: the deliberately flaky check failed this time
    done = [e for e in seen if e.event_type == "playwright_test_completed"]
    assert len(done) == DEMO_TESTS, [e.payload for e in seen]
    assert {e.payload["outcome"] for e in done} >= {"passed", "skipped"}
    for e in seen:
        testevents.check(e)  # the one shape of test events
    assert not [e for e in seen if e.event_type == testevents.RUN_STATUS]
    assert not (tmp_path / "events.db").exists()  # the plugin did not run


async def test_undelivered_plugin_events_are_reported_with_the_reason(
    fresh_db_url: str, tmp_path: Path, bridge_url: str
) -> None:
    """With an ingress that refuses, the tests still run (their events are in the store) but
    the panel would show nothing: the demo publishes why."""
    apply_migrations(fresh_db_url)
    seen, publish = collector()
    store_url = f"sqlite:///{tmp_path / 'events.db'}"
    demo = DemoActivity(
        fresh_db_url,
        test_env={"CTAS7_STORE_URL": store_url, "CTAS7_BRIDGE_URL": bridge_url},
        publish=publish,  # type: ignore[arg-type]
    )
    before = package_files()
    assert await demo.run_test_suite() in (0, 1)
    assert package_files() == before  # the plugin's default store is not in the package
    assert len(seen) == 1, [e.payload for e in seen]
    status = testevents.check(seen[0])
    assert status.event_type == "test_run_status" and status.payload["status"] == "failed"
    payload = status.payload
    assert "connection refused" in payload["message"] and bridge_url in payload["message"]
    store = open_store(store_url)
    try:
        stored = [e for _, e in store.fetch() if e.event_type == "playwright_test_completed"]
    finally:
        store.close()
    assert len(stored) == DEMO_TESTS


async def test_a_broken_run_says_what_pytest_said(tmp_path: Path) -> None:
    """A database that is not there: the suite's fixture errors are test errors (exit 1), but an
    unusable environment (here a bus URL the plugin rejects: a usage error) is named."""
    seen, publish = collector()
    demo = DemoActivity(
        "postgresql://nobody@127.0.0.1:1/none",
        test_env={"CTAS7_BUS_URL": "kafka://nowhere", "CTAS7_STORE_URL": "sqlite:///x.db"},
        publish=publish,  # type: ignore[arg-type]
    )
    code = await demo.run_test_suite()
    assert code == 4
    assert len(seen) == 1
    status = testevents.check(seen[0])
    assert status.payload["status"] == "failed" and status.payload["exit_code"] == 4
    message = status.payload["message"]
    assert message.startswith("the demo's test run did not report: pytest was called wrongly")
    assert "CTAS7_BUS_URL" in message
