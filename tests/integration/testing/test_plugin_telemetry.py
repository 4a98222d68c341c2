"""The pytest plugin's test telemetry, driven by pytester: real store, real bridge, real Redis.

Each test runs an inner pytest session (the plugin is loaded through its ``pytest11`` entry
point, as in any project that installs ctas7-panel) and then reads what arrived.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest

from ctas7_panel.events import Event
from ctas7_panel.netutil import free_port
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig
from ctas7_panel.testing import testevents

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[3]

SUITE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture could not connect")

def test_ok():
    pass

def test_fails():
    assert 1 == 2, "numbers differ"

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known gap")
def test_xfail():
    assert False
"""

PASSING = """
def test_one():
    pass

def test_two():
    pass
"""


def stored(path: Path) -> list[Event]:
    store = open_store(f"sqlite:///{path}")
    try:
        return [e for _, e in store.fetch()]
    finally:
        store.close()


def completed(events: list[Event]) -> dict[str, dict[str, object]]:
    return {
        e.payload["nodeid"]: e.payload
        for e in events
        if e.event_type == "playwright_test_completed"
    }


@pytest.fixture
def env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bridge_url: str
) -> Path:
    """A clean ctas7 environment for the inner run (a bridge URL of its own, refusing); returns
    the event store's file."""
    for var in ("CTAS7_BUS_URL", "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CTAS7_BRIDGE_URL", bridge_url)
    db = tmp_path / "events.db"
    monkeypatch.setenv("CTAS7_STORE_URL", f"sqlite:///{db}")
    return db


# In-process inner runs share this interpreter with the outer session: leave out the plugins
# that keep process-wide state (pytest-playwright's soft assertions, pytest-asyncio's loop).
INNER = ("-p", "no:cacheprovider", "-p", "no:playwright", "-p", "no:asyncio")


def dead_bridge() -> str:
    return f"ws://127.0.0.1:{free_port()}/telemetry_bridge"


def test_plugin_is_inactive_unless_enabled(pytester: pytest.Pytester, env: Path) -> None:
    pytester.makepyfile(PASSING)
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "ctas7 schema audit" not in out and "Ctas7TelemetryWarning" not in out
    assert not env.exists()  # nothing was stored: no store was even opened
    assert not (pytester.path / "schema_audit_report.md").exists()


def test_outcomes_durations_and_messages(pytester: pytest.Pytester, env: Path) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*INNER, "--ctas7-telemetry", "--ctas7-bridge-url", dead_bridge())
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=1, xfailed=1)
    events = stored(env)
    starts = [e for e in events if e.event_type == "playwright_test_started"]
    done = completed(events)
    assert len(starts) == 5 and len(done) == 5
    assert {e.source_node for e in events} == {"pytest"}
    assert len({e.payload["session_id"] for e in events}) == 1
    schema = jsonschema.Draft202012Validator(
        json.loads((ROOT / "docs" / "test-events.schema.json").read_text())
    )
    for e in events:  # the one shape every producer sends (testing/testevents.py)
        testevents.check(e)
        schema.validate(e.to_dict())
    assert {e.payload["run_id"] for e in events} == {events[0].payload["session_id"]}
    outcomes = {nodeid.split("::")[1]: p["outcome"] for nodeid, p in done.items()}
    assert outcomes == {
        "test_ok": "passed",
        "test_fails": "failed",
        "test_setup_error": "error",
        "test_skipped": "skipped",
        "test_xfail": "xfailed",
    }
    by_name = {nodeid.split("::")[1]: p for nodeid, p in done.items()}
    assert by_name["test_fails"]["message"] == "AssertionError: numbers differ"
    assert by_name["test_fails"]["when"] == "call"
    assert by_name["test_setup_error"]["message"] == "RuntimeError: fixture could not connect"
    assert by_name["test_setup_error"]["when"] == "setup"
    assert by_name["test_skipped"]["message"] == "not today"
    assert all(isinstance(p["duration_ms"], float) and p["duration_ms"] >= 0 for p in done.values())
    assert all(p["browser"] is None for p in done.values())
    # each test's started event comes before its completed event
    order = [(e.event_type, e.payload["nodeid"]) for e in events]
    for nodeid in done:
        assert order.index(("playwright_test_started", nodeid)) < order.index(
            ("playwright_test_completed", nodeid)
        )


def test_bridge_down_tests_pass_with_exactly_one_warning(
    pytester: pytest.Pytester, env: Path
) -> None:
    pytester.makepyfile(PASSING)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")  # a strict project: still passes
    bridge = dead_bridge()
    result = pytester.runpytest(*INNER, "--ctas7-telemetry", "--ctas7-bridge-url", bridge)
    assert result.ret == 0
    out = result.stdout.str()
    assert re.search(r"2 passed, 1 warning in", out), out
    assert out.count("Ctas7TelemetryWarning") == 1
    assert f"bridge {bridge}: 4 event(s) not delivered: connection refused" in out
    assert "(all of them are in the event store)" in out
    assert len(stored(env)) == 4  # nothing lost


def test_ini_enables_telemetry(pytester: pytest.Pytester, env: Path) -> None:
    pytester.makepyfile(PASSING)
    pytester.makeini(f"[pytest]\nctas7_telemetry = true\nctas7_bridge_url = {dead_bridge()}\n")
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=2, warnings=1)
    assert len(stored(env)) == 4


async def test_events_reach_a_real_bridge_gateway(pytester: pytest.Pytester, env: Path) -> None:
    """Through the websocket ingress onto topic ``events``, no warning."""
    pytester.makepyfile(PASSING)
    bus = MemoryBus()
    config = GatewayConfig(ports=dict.fromkeys(DEFAULT_PORTS, 0), ping_interval=None)
    async with bus, Gateway(None, bus, config=config) as gw:
        sub = await bus.subscribe("bridge", topic="events", start="earliest")
        result = await asyncio.to_thread(
            pytester.runpytest_subprocess,
            "-p",
            "no:cacheprovider",
            "--ctas7-telemetry",
            "--ctas7-bridge-url",
            gw.url("telemetry_bridge"),
        )
        assert result.ret == 0
        assert "warning" not in result.stdout.str().splitlines()[-1]
        msgs = await sub.get(10, timeout=5)
        await sub.ack(*msgs)
        await sub.close()
    got = [m.event for m in msgs]
    assert sorted((e.event_type, e.payload["nodeid"].split("::")[1]) for e in got) == [
        ("playwright_test_completed", "test_one"),
        ("playwright_test_completed", "test_two"),
        ("playwright_test_started", "test_one"),
        ("playwright_test_started", "test_two"),
    ]
    assert gw.stats.accepted == 4 and gw.stats.rejected == 0
    assert {e.event_id for e in got} == {e.event_id for e in stored(env)}


@pytest.mark.redis
async def test_redis_bus_gets_the_events(
    pytester: pytest.Pytester, env: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctas7_panel.streams.redis_bus import RedisStreamsBus

    monkeypatch.setenv("CTAS7_BUS_URL", redis_url)
    pytester.makepyfile(PASSING)
    result = await asyncio.to_thread(
        pytester.runpytest_subprocess, "-p", "no:cacheprovider", "--ctas7-telemetry"
    )
    assert result.ret == 0
    assert "warning" not in result.stdout.str().splitlines()[-1]
    async with RedisStreamsBus(redis_url) as bus:
        sub = await bus.subscribe("check", topic="events", start="earliest")
        msgs = await sub.get(10, timeout=2)
        await sub.ack(*msgs)
        await sub.close()
    assert (
        sorted(m.event.event_type for m in msgs)
        == ["playwright_test_completed"] * 2 + ["playwright_test_started"] * 2
    )


def test_xdist_controller_sends_each_event_once(pytester: pytest.Pytester, env: Path) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        "import pytest\n@pytest.mark.parametrize('i', range(6))\ndef test_n(i):\n    pass\n"
    )
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--ctas7-telemetry",
        "--ctas7-bridge-url",
        dead_bridge(),
    )
    assert result.ret == 0
    events = stored(env)
    assert len(events) == 12
    done = completed(events)
    assert len(done) == 6
    assert {p["worker"] for p in done.values()} <= {"gw0", "gw1"}
    assert all(p["outcome"] == "passed" for p in done.values())
    assert result.stdout.str().count("Ctas7TelemetryWarning") == 1


@pytest.mark.browser
def test_browser_is_reported_for_playwright_tests(pytester: pytest.Pytester, env: Path) -> None:
    """A real pytest-playwright test on Debian's Chromium: its events say ``chromium``."""
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("CI=true but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("/usr/bin/chromium is missing")
    pytester.makeconftest(
        """
import pytest

@pytest.fixture(scope="session")
def base_url():
    return None

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": ["--no-sandbox", "--disable-gpu", "--no-first-run"]}
"""
    )
    pytester.makepyfile(
        """
def test_page(page):
    page.set_content("<p data-component='schema-indicator'>Schema: a1b2c3d4</p>")
    assert "a1b2c3d4" in page.inner_text("p")

def test_no_browser():
    pass
"""
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--ctas7-telemetry", "--ctas7-bridge-url", dead_bridge()
    )
    assert result.ret == 0, result.stdout.str()
    done = completed(stored(env))
    browsers = {nodeid.split("::")[1]: p["browser"] for nodeid, p in done.items()}
    assert browsers == {"test_page[chromium]": "chromium", "test_no_browser": None}
