"""A real Node Playwright suite wired with ``ctas7 playwright init`` (issue 19's "must show").

``@playwright/test`` comes from npm (the root package.json + lock, ``npm ci``; no browser
download: Debian's Chromium through ``launchOptions.executablePath``). The suite is scaffolded
into a temp folder, with the complete ``playwright.config.ts`` the scaffolder writes: the
``CTAS7-SchemaAudit`` setup project, then desktop (Desktop Chrome), mobile (Pixel 7) and tablet
(Galaxy Tab S9), ``CTAS_BASE`` pointing at ``panel serve ctas7_panel/app.py`` itself. Each
project runs four tests: one fetches the dashboard's scripts, one opens it in the device's
browser, one fails on its first attempt and passes on the retry (flaky, on mobile only), one
always fails (on tablet only; the other projects skip those two).

- bridge up: every attempt's started/completed event reaches the bridge (seen in its store)
  before the run ends, and the dashboard's Test Results shows the run per project, flaky apart
  from failed;
- bridge down: same exit code, exactly one warning, and ``ctas7 ingest`` of the spill file adds
  exactly the events that were missing (a second ingest adds nothing);
- database unreachable: the setup project stops the run with the audit's reason; no device
  test runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
from playwright.sync_api import Page, expect

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.cli import main
from ctas7_panel.events import Event
from ctas7_panel.testing import testevents
from tests.browser.conftest import IN_CI, DashboardServer, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
PW_CLI = ROOT / "node_modules" / "@playwright" / "test" / "cli.js"
PROJECTS = ("desktop", "mobile", "tablet")
SETUP = "CTAS7-SchemaAudit"
SPEC = """\
import { test, expect } from '@playwright/test';

test('dashboard serves its scripts', async ({ request }) => {
  expect((await request.get('/static/js/bokeh.min.js')).status()).toBe(200);
});

test('dashboard opens on this device', async ({ page }) => {
  await page.goto('/app', { waitUntil: 'domcontentloaded' });
  await expect(page).toHaveTitle(/CTAS-7/);
});

test('flaky on purpose', async ({}, testInfo) => {
  test.skip(testInfo.project.name !== 'mobile', 'flaky on mobile only');
  expect(testInfo.retry, 'ctas7 flaky: fails on the first attempt').toBeGreaterThan(0);
});

test('fails on purpose', async ({}, testInfo) => {
  test.skip(testInfo.project.name !== 'tablet', 'fails on tablet only');
  expect(1, 'ctas7 deliberate failure').toBe(2);
});
"""
TESTS = (
    "dashboard serves its scripts",
    "dashboard opens on this device",
    "flaky on purpose",
    "fails on purpose",
)
RETRIED = {("mobile", "flaky on purpose"), ("tablet", "fails on purpose")}
SUMMARY = "1 failed"  # Playwright's own summary (then "1 flaky", "4 skipped", "7 passed")
SUMMARY_NOTE = "7 passed, 1 flaky, 1 failed, 4 skipped"
# per project: passed, flaky, failed, skipped
TALLY = {"desktop": (2, 0, 0, 2), "mobile": (2, 1, 0, 1), "tablet": (2, 0, 1, 1)}


@pytest.fixture(scope="module")
def node_playwright() -> Path:
    if shutil.which("node") is None or not PW_CLI.is_file():
        reason = "node or @playwright/test missing: run `npm ci` at the repo root"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return PW_CLI


@pytest.fixture(scope="module")
def audit_db(pg_admin_url: str) -> Iterator[str]:
    with pgtools.temporary_database(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def suite(node_playwright: Path) -> Iterator[Path]:
    """A Playwright project scaffolded by ``ctas7 playwright init`` with a four-test spec."""
    project = Path(tempfile.mkdtemp(prefix="ctas7-pw-suite-"))
    try:
        (project / "node_modules").symlink_to(ROOT / "node_modules")
        assert main(["playwright", "init", str(project)], environ={}) == 0
        (project / "tests").mkdir()
        (project / "tests" / "dashboard.spec.ts").write_text(SPEC)
        yield project
    finally:
        shutil.rmtree(project, ignore_errors=True)


@pytest.fixture(scope="module")
def quiet_server() -> Iterator[DashboardServer]:
    """``panel serve ctas7_panel/app.py`` without demo traffic (no synthetic test results)."""
    home = Path(tempfile.mkdtemp(prefix="ctas7-pw-serve-"))
    server = start_server(home, extra_env={"CTAS7_DEMO_RATE": "0"})
    try:
        yield server
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    ended: float  # when the Playwright process had exited
    seen: dict[str, float] = field(default_factory=dict)  # event_id -> first seen in the store


class StoreWatch:
    """Notes when each event first appears in the bridge's store (a read-only SQLite poll), and
    when a run's final ``test_run_status`` (not ``running``) does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}
        self.final_status = threading.Event()
        self._stop = threading.Event()
        self._seq = 0
        self._before = 0  # rows already there (earlier runs' statuses do not count)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _poll(self) -> None:
        if not self.path.exists():
            return
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
        try:
            rows = conn.execute(
                "SELECT seq, event_id, CASE WHEN event_type = 'test_run_status' THEN payload END "
                "FROM ctas7_events WHERE seq > ? ORDER BY seq",
                (self._seq,),
            ).fetchall()
        except sqlite3.OperationalError:
            return  # locked or not created yet: next time
        finally:
            conn.close()
        now = time.time()
        for seq, event_id, status in rows:
            self.seen.setdefault(event_id, now)
            self._seq = max(self._seq, seq)
            if (
                status is not None
                and seq > self._before
                and json.loads(status).get("status") != "running"
            ):
                self.final_status.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._poll()
            self._stop.wait(0.05)

    def __enter__(self) -> StoreWatch:
        if self.path.exists():
            with contextlib.closing(
                sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
            ) as conn:
                self._before = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM ctas7_events"
                ).fetchone()[0]
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._poll()


def store_events(path: Path, run_id: str | None = None) -> list[Event]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute(
            "SELECT event_id, event_type, timestamp, source_node, payload FROM ctas7_events "
            "ORDER BY seq"
        ).fetchall()
    out = [Event(eid, et, ts, src, json.loads(payload)) for eid, et, ts, src, payload in rows]
    return [e for e in out if run_id is None or e.payload.get("run_id") == run_id]


def run_suite(
    suite: Path, server: DashboardServer, db_url: str, *, retries: int = 1, **env: str
) -> tuple[Run, dict[str, str]]:
    port = server.url.split(":")[2].split("/")[0]
    full = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CTAS_BASE": f"http://127.0.0.1:{port}",
        "CTAS7_BRIDGE_URL": f"{server.ingest_url}telemetry_bridge",
        "CTAS7_DATABASE_URL": db_url,
        "CTAS7_HOME": str(suite / ".ctas7"),
        "CTAS7_STORE_URL": f"sqlite:///{suite / 'audit-events.db'}",
        "CTAS_SCHEMA_PATH": str(suite / "database" / "supabase_schema.ts"),
        "CTAS_HASH_CACHE_PATH": str(suite / ".last_schema_hash"),
        **env,
    }
    full.pop("CTAS7_CHROMIUM", None)
    began = time.time()
    with StoreWatch(server.home / "events.db") as watch:
        proc = subprocess.run(
            ["node", str(PW_CLI), "test", f"--retries={retries}", "--workers=2"],
            cwd=suite,
            env=full,
            capture_output=True,
            text=True,
            timeout=180,
        )
        ended = time.time()
        print(f"playwright run: {ended - began:.1f} s, exit {proc.returncode}")
        if full["CTAS7_BRIDGE_URL"] == f"{server.ingest_url}telemetry_bridge":
            # the reporter's last event is the run's final status: once the store has it, it
            # has the rest (a run that sends none is left to the assertions that follow)
            watch.final_status.wait(15)
    return Run(proc.returncode, proc.stdout, proc.stderr, ended, dict(watch.seen)), full


def check_shape(events: list[Event]) -> None:
    """Every event: the envelope's schema and the test events' one (both sides of the code)."""
    envelope = jsonschema.Draft202012Validator(ev.json_schema())
    shapes = jsonschema.Draft202012Validator(
        json.loads((ROOT / "docs" / "test-events.schema.json").read_text())
    )
    for e in events:
        envelope.validate(e.to_dict())
        shapes.validate(e.to_dict())
        testevents.check(e)


def the_run_id(events: list[Event]) -> str:
    ids = {e.payload["run_id"] for e in events if e.source_node == "playwright"}
    assert len(ids) == 1, ids
    return ids.pop()


def attempts(events: list[Event]) -> Counter[tuple[str, str, str, int]]:
    """(event type, project, test title, retry) of every test event."""
    out: Counter[tuple[str, str, str, int]] = Counter()
    for e in events:
        if e.event_type in {testevents.STARTED, testevents.COMPLETED}:
            title = e.payload["nodeid"].split("::")[-1].rsplit("[", 1)[0]
            out[(e.event_type, e.payload["project"], title, e.payload["retry"])] += 1
    return out


def expected_attempts() -> Counter[tuple[str, str, str, int]]:
    out: Counter[tuple[str, str, str, int]] = Counter()
    for kind in (testevents.STARTED, testevents.COMPLETED):
        out[(kind, SETUP, "ctas7 schema audit", 0)] = 1
        for project in PROJECTS:
            for title in TESTS:
                for retry in range(2 if (project, title) in RETRIED else 1):
                    out[(kind, project, title, retry)] = 1
    return out


def new_events_since(path: Path, before: set[str]) -> list[Event]:
    """Test events stored since ``before`` (the server's own bridge_metrics left out)."""
    return [
        e
        for e in store_events(path)
        if e.event_id not in before and testevents.is_test_event(e.event_type)
    ]


def test_results_stream_live_to_the_bridge_and_the_dashboard(
    page: Page, suite: Path, quiet_server: DashboardServer, audit_db: str
) -> None:
    run, _ = run_suite(suite, quiet_server, audit_db)
    assert run.code == 1, run.stdout[-3000:] + run.stderr[-2000:]  # 'fails on purpose'
    assert "ctas7: warning" not in run.stderr, run.stderr
    assert SUMMARY in run.stdout, run.stdout[-1500:]

    store = quiet_server.home / "events.db"
    events = store_events(store)
    run_id = the_run_id(events)
    mine = [e for e in events if e.payload.get("run_id") == run_id]
    check_shape(mine)
    assert attempts(mine) == expected_attempts()

    # live: the bridge had stored every attempt's events before the run was over, except the
    # attempts still running when the run's last attempt began (the run's tail: they end with
    # it, within scheduling noise, and this server is also serving the tests' page loads)
    end = next(
        e for e in mine if e.event_type == "test_run_status" and e.payload["status"] != "running"
    )
    tests = [e for e in mine if e.event_type != "test_run_status"]
    tail_from = max(e.timestamp for e in tests if e.event_type == testevents.STARTED)
    ended_at = {
        (e.payload["nodeid"], e.payload["retry"]): e.timestamp
        for e in tests
        if e.event_type == testevents.COMPLETED
    }
    before_tail = [
        e for e in tests if ended_at[(e.payload["nodeid"], e.payload["retry"])] < tail_from
    ]
    late = [
        (e.event_type, e.payload["nodeid"], round(run.seen[e.event_id] - end.timestamp, 3))
        for e in before_tail
        if run.seen[e.event_id] >= end.timestamp
    ]
    assert not late, f"stored after the run's end: {late}"
    assert len(before_tail) >= len(tests) - 4, (len(before_tail), len(tests))  # <= 2 workers
    in_time = sum(run.seen[e.event_id] < end.timestamp for e in tests)
    lag = sorted(run.seen[e.event_id] - e.timestamp for e in tests)
    print(
        f"{in_time}/{len(tests)} test events stored before the run's end; store arrival - event "
        f"time: median {lag[len(lag) // 2]:.3f} s, max {lag[-1]:.3f} s; load {os.getloadavg()}"
    )

    # the outcomes, as every producer writes them
    finals = {
        (e.payload["project"], e.payload["nodeid"].split("::")[-1].rsplit("[", 1)[0]): e.payload
        for e in mine
        if e.event_type == testevents.COMPLETED and e.payload["final"]
    }
    flaky = finals[("mobile", "flaky on purpose")]
    assert (flaky["outcome"], flaky["flaky"], flaky["retries"]) == ("passed", True, 1)
    failed = finals[("tablet", "fails on purpose")]
    assert (failed["outcome"], failed["flaky"], failed["retries"]) == ("failed", False, 1)
    assert "ctas7 deliberate failure" in failed["message"]
    assert finals[("desktop", "fails on purpose")]["message"] == "fails on tablet only"
    for project in PROJECTS:
        assert finals[(project, "dashboard opens on this device")]["browser"] == "chromium"
    (retried,) = [
        e.payload
        for e in mine
        if e.event_type == testevents.COMPLETED
        and not e.payload["final"]
        and e.payload["project"] == "mobile"
    ]
    assert (retried["outcome"], retried["retry"]) == ("failed", 0)
    assert end.payload["status"] == "failed"
    assert end.payload["counts"] == {
        "passed": 7,
        "flaky": 1,
        "failed": 1,
        "skipped": 4,
        "xfailed": 0,
        "did_not_run": 0,
    }

    # the dashboard's Test Results: one row per project of this run, flaky apart from failed
    page.goto(quiet_server.url)
    table = page.locator("[data-component=test-runs]")
    rows = [(SETUP, (1, 0, 0, 0)), *TALLY.items()]
    for project, counts in rows:
        row = table.locator(f'tr[data-run="{run_id}"][data-project="{project}"]')
        for col, value in zip(("passed", "flaky", "failed", "skipped"), counts, strict=True):
            expect(row.locator(f"td[data-col={col}]")).to_have_text(str(value), timeout=30_000)
        expect(row.locator("td[data-col=running]")).to_have_text("0", timeout=30_000)
        # the run's last word (test_run_status) comes at onEnd, after the last test event
        expect(row.locator("td[data-col=status]")).to_have_text("failed", timeout=30_000)
    expect(page.locator("[data-metric=flaky] .value")).to_have_text("1", timeout=30_000)
    expect(page.locator("[data-metric=test-note]")).to_contain_text(SUMMARY_NOTE, timeout=30_000)


def test_bridge_down_same_exit_code_one_warning_and_ingest_adds_the_missing_events(
    suite: Path, quiet_server: DashboardServer, audit_db: str
) -> None:
    store = quiet_server.home / "events.db"
    with socket.socket() as refusing:  # bound, never listening: every connection is refused
        refusing.bind(("127.0.0.1", 0))
        down = f"ws://127.0.0.1:{refusing.getsockname()[1]}/telemetry_bridge"
        before = {e.event_id for e in store_events(store)}
        run, env = run_suite(suite, quiet_server, audit_db, CTAS7_BRIDGE_URL=down)
    assert run.code == 1, run.stdout[-3000:] + run.stderr[-2000:]  # as with the bridge up
    assert SUMMARY in run.stdout
    warnings = [
        line for line in (run.stdout + run.stderr).splitlines() if "warning" in line.lower()
    ]
    assert len(warnings) == 1, warnings
    assert "connection refused" in warnings[0] and "ctas7 ingest " in warnings[0]
    assert not new_events_since(store, before)  # nothing reached the bridge

    spills = list((suite / ".ctas7" / "spill").glob("playwright-*.jsonl"))
    spill = next(p for p in spills if str(p) in warnings[0])
    spilled = [Event.from_json(line) for line in spill.read_bytes().splitlines()]
    check_shape(spilled)
    run_id = the_run_id(spilled)
    assert attempts(spilled) == expected_attempts()  # every attempt's pair, once
    assert len({e.event_id for e in spilled}) == len(spilled)

    ingest = [
        sys.executable,
        "-m",
        "ctas7_panel",
        "ingest",
        str(spill),
        "--bridge-url",
        f"{quiet_server.ingest_url}telemetry_bridge",
    ]
    env = {**env, "CTAS7_STORE_URL": f"sqlite:///{store}"}
    done = subprocess.run(ingest, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "[ctas7-events]" in done.stdout and "warning" not in done.stderr
    added = new_events_since(store, before)
    assert sorted(e.event_id for e in added) == sorted(e.event_id for e in spilled)
    assert {e.payload.get("run_id") for e in added} == {run_id}

    assert main(ingest[3:], environ=env) == 0  # the same command again, in this process
    assert len(new_events_since(store, before)) == len(spilled)  # nothing twice


def test_the_setup_project_stops_the_run_with_the_audits_reason(
    suite: Path, quiet_server: DashboardServer
) -> None:
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        dead_db = f"postgresql://postgres@127.0.0.1:{refusing.getsockname()[1]}/postgres"
        store = quiet_server.home / "events.db"
        before = {e.event_id for e in store_events(store)}
        run, _ = run_suite(suite, quiet_server, dead_db, retries=0)
    out = run.stdout + run.stderr
    assert run.code == 1, out[-3000:]
    assert "ctas7 schema audit FAILED (connect):" in out, out[-3000:]
    assert "12 did not run" in out, out[-3000:]  # 4 tests x 3 projects
    mine = [e for e in new_events_since(store, before) if e.source_node == "playwright"]
    check_shape(mine)
    projects = {e.payload.get("project") for e in mine if e.event_type != "test_run_status"}
    assert projects == {SETUP}  # no device test started
    (audit,) = [e for e in mine if e.event_type == testevents.COMPLETED]
    assert audit.payload["outcome"] == "failed"
    reason = audit.payload["message"]  # Playwright's "Error: " + the audit's one line
    assert "ctas7 schema audit FAILED (connect): cannot connect to postgresql://" in reason
    assert dead_db.rsplit("/", 1)[0].split("@")[1] in reason  # the host:port it tried
    summary = [e for e in mine if e.payload.get("status") not in {None, "running"}]
    assert summary and "12 did not run" in summary[-1].payload["message"]
