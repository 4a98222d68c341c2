"""The ctas7 Playwright reporter in a real ``@playwright/test`` run (no browser, no audit) next to
Playwright's own JSON reporter: the events it streams have the one shape, and ``ctas7 ingest``
of the JSON report of the same run says the same thing about every test (node id, outcome,
flaky, retries, project, message). Outcomes covered: passed, failed, flaky (retried), expected
to fail (xfailed), fixme (skipped with its reason), timed out; nested describes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.sync.server import ServerConnection, serve

from ctas7_panel import events as ev
from ctas7_panel.cli import main
from ctas7_panel.events import Event
from ctas7_panel.netutil import free_port
from ctas7_panel.testing import testevents
from ctas7_panel.testing.ingest import parse_report, to_events

ROOT = Path(__file__).resolve().parents[3]
PW_CLI = ROOT / "node_modules" / "@playwright" / "test" / "cli.js"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

CONFIG = """\
const { withCtas7 } = require('./ctas7/index.cjs');
module.exports = withCtas7(
  {
    testDir: './tests',
    retries: 1,
    workers: 1,
    reporter: [['json', { outputFile: 'report.json' }]],
    projects: [{ name: 'api' }, { name: 'api-too' }],
  },
  { audit: false },
);
"""
SPEC = """\
const { test, expect } = require('@playwright/test');

test('passes', async () => { expect(1).toBe(1); });

test.describe('outer', () => {
  test.describe('inner', () => {
    test('nested passes', async () => {});
  });
  test('flaky', async ({}, info) => {
    test.skip(info.project.name !== 'api', 'only on api');
    expect(info.retry, 'first attempt fails').toBe(1);
  });
});

test('fails', async ({}, info) => {
  test.skip(info.project.name !== 'api', 'only on api');
  throw new Error('\\u001b[31mred\\u001b[39m failure\\nsecond line');
});

test('expected to fail', async () => {
  test.fail();
  expect(1).toBe(2);
});

test.fixme('not written yet', async () => {});

test('times out', async ({}, info) => {
  test.skip(info.project.name !== 'api', 'only on api');
  test.setTimeout(300);
  await new Promise((r) => setTimeout(r, 5000));
});
"""


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    if shutil.which("node") is None or not PW_CLI.is_file():
        reason = "node or @playwright/test missing: run `npm ci` at the repo root"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    config = tmp_path / "playwright.config.cjs"
    config.write_text("module.exports = { testDir: './tests' };\n")
    assert main(["playwright", "init", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Add these two lines to playwright.config.cjs" in out  # its own config is kept
    assert "playwright.config.ts" not in out and not (tmp_path / "playwright.config.ts").exists()
    config.write_text(CONFIG)  # ... with the two lines in it
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "all.spec.cjs").write_text(SPEC)
    return tmp_path


@pytest.fixture
def bridge() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    frames: list[dict[str, Any]] = []

    def handle(conn: ServerConnection) -> None:
        for raw in conn:
            event = json.loads(raw)
            frames.append(event)
            conn.send(json.dumps({"ack": event["event_id"]}))

    port = free_port()
    server = serve(handle, "127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{port}/telemetry_bridge", frames
    finally:
        server.shutdown()


def test_the_reporter_and_ingest_of_the_json_report_agree(
    project: Path, bridge: tuple[str, list[dict[str, Any]]]
) -> None:
    url, frames = bridge
    env = {**os.environ, "CTAS7_BRIDGE_URL": url, "CTAS7_HOME": str(project / ".ctas7")}
    proc = subprocess.run(
        ["node", str(PW_CLI), "test"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "warning" not in proc.stderr, proc.stderr
    assert not (project / ".ctas7" / "spill").exists()

    events = [Event.from_dict(f) for f in frames]
    envelope = jsonschema.Draft202012Validator(ev.json_schema())
    shapes = jsonschema.Draft202012Validator(
        json.loads((ROOT / "docs" / "test-events.schema.json").read_text())
    )
    for e in events:
        envelope.validate(e.to_dict())
        shapes.validate(e.to_dict())
        testevents.check(e)
    assert len({e.event_id for e in events}) == len(events)
    assert len({e.payload["run_id"] for e in events}) == 1
    assert events[0].payload["status"] == "running" and events[-1].payload["status"] == "failed"

    live = {
        e.payload["nodeid"]: e.payload
        for e in events
        if e.event_type == testevents.COMPLETED and e.payload["final"]
    }
    report = parse_report((project / "report.json").read_bytes())
    ingested = {
        e.payload["nodeid"]: e.payload
        for e in to_events(report, source_node="playwright", default_start=0.0)
        if e.event_type == testevents.COMPLETED
    }
    assert set(live) == set(ingested) and len(live) == 14  # 7 tests x 2 projects
    same = ("outcome", "flaky", "retries", "project", "message", "file", "line")
    for nodeid, payload in live.items():
        assert {k: payload[k] for k in same} == {k: ingested[nodeid][k] for k in same}, nodeid

    api = {n.split("::")[-1].removesuffix("[api]"): p for n, p in live.items() if "[api]" in n}
    assert "all.spec.cjs::outer::inner::nested passes[api]" in live
    assert (api["flaky"]["outcome"], api["flaky"]["flaky"]) == ("passed", True)
    assert api["fails"]["message"] == "Error: red failure"  # ANSI stripped, first line
    assert api["expected to fail"]["outcome"] == "xfailed"
    assert (api["not written yet"]["outcome"], api["not written yet"]["message"]) == (
        "skipped",
        None,
    )
    assert live["all.spec.cjs::fails[api-too]"]["message"] == "only on api"
    assert api["times out"]["outcome"] == "failed"
    assert api["times out"]["message"].startswith("Test timeout of 300ms exceeded")
    retried = [
        e.payload for e in events if e.event_type == testevents.COMPLETED and not e.payload["final"]
    ]
    assert sorted(p["nodeid"].split("::")[-1] for p in retried) == [
        "fails[api]",
        "flaky[api]",
        "times out[api]",
    ]
    assert all(p["outcome"] == "failed" and p["retry"] == 0 for p in retried)
    summary = events[-1].payload
    assert summary["counts"] == {
        "passed": 4,
        "flaky": 1,
        "failed": 2,
        "skipped": 5,
        "xfailed": 2,
        "did_not_run": 0,
    }
