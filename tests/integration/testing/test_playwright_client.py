"""The reporter's JavaScript against real websockets servers (Python ``websockets``) and the real
``ctas7 ingest``: batches and acks, refusals, a bridge lost mid-run (the spill file then holds
exactly what was not acknowledged, and ingesting it completes the set once), a bridge that comes
back, pings, HTTP 401, large frames, the bearer token, and ``withCtas7``'s config rewriting.

Each scenario is a small Node script that requires the shipped ``client.cjs`` / ``index.cjs`` /
``reporter.cjs`` from ``ctas7_panel/playwright/assets`` and prints one JSON line.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from ctas7_panel.cli import main
from ctas7_panel.netutil import free_port

ASSETS = Path(__file__).resolve().parents[3] / "ctas7_panel" / "playwright" / "assets"
IN_CI_MSG = "node is not installed (apt-get install nodejs)"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason=IN_CI_MSG)

# A Node prelude: test events with the shape testevents.py requires.
PRELUDE = f"""
const CLIENT = {json.dumps(str(ASSETS / "client.cjs"))};
const {{ BridgeSender, decodeFrames, encodeFrame }} = require(CLIENT);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function ev(i, extra = {{}}) {{
  return {{
    event_id: `evt_t_${{String(i).padStart(4, '0')}}`,
    event_type: 'playwright_test_started',
    timestamp: 1700000000 + i,
    source_node: 'playwright',
    payload: {{ nodeid: `t${{i}}`, browser: 'chromium', project: 'desktop', run_id: 'r1',
               retry: 0, worker: '0', ...extra }},
  }};
}}
function out(obj) {{ process.stdout.write(JSON.stringify(obj) + '\\n'); }}
"""


def run_node(script: str, tmp_path: Path, timeout: float = 60) -> dict[str, Any]:
    path = tmp_path / "scenario.cjs"
    path.write_text(PRELUDE + script)
    proc = subprocess.run(
        ["node", str(path)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Bridge:
    """A real websockets ingress: answers each frame, records frames, headers, connections."""

    # (frame number, event) -> the answer(s), or None to hang up and stop listening
    reply: Callable[[int, dict[str, Any]], str | list[str] | None]
    port: int = field(default_factory=free_port)
    frames: list[dict[str, Any]] = field(default_factory=list)
    headers: list[str | None] = field(default_factory=list)
    server: Server | None = None
    thread: threading.Thread | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/telemetry_bridge"

    def handle(self, conn: ServerConnection) -> None:
        self.headers.append(conn.request.headers.get("Authorization") if conn.request else None)
        for raw in conn:
            event = json.loads(raw)
            self.frames.append(event)
            answer = self.reply(len(self.frames), event)
            if answer is None:  # drop the line: stop serving
                conn.close()
                threading.Thread(target=self.stop, daemon=True).start()
                return
            for text in [answer] if isinstance(answer, str) else answer:
                conn.send(text)

    def start(self) -> Bridge:
        self.server = serve(self.handle, "127.0.0.1", self.port, **self.kwargs)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None


def ack(_: int, event: dict[str, Any]) -> str:
    return json.dumps({"ack": event["event_id"]})


@pytest.fixture
def bridge() -> Iterator[Callable[..., Bridge]]:
    made: list[Bridge] = []

    def make(
        reply: Callable[[int, dict[str, Any]], str | list[str] | None] = ack, **kwargs: Any
    ) -> Bridge:
        b = Bridge(reply, kwargs=kwargs).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def test_events_go_in_batches_in_order_with_the_bearer_token(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    b = bridge()
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}', token: 'tok-admin-0123456789', batch: 50,
                                spillPath: 'spill.jsonl' }});
  for (let i = 0; i < 120; i++) s.submit(ev(i));
  out(await s.close(10000));
}})();
""",
        tmp_path,
    )
    assert result["delivered"] == 120 and result["undelivered"] == 0 and result["refused"] == 0
    assert result["spillPath"] is None and not (tmp_path / "spill.jsonl").exists()
    assert [f["event_id"] for f in b.frames] == [f"evt_t_{i:04d}" for i in range(120)]
    assert b.headers == ["Bearer tok-admin-0123456789"]  # one connection for all batches


def test_refused_events_are_counted_with_the_first_reason_not_spilled(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    def reply(n: int, event: dict[str, Any]) -> str:
        if event["payload"]["nodeid"] in {"t3", "t7"}:
            return json.dumps({"error": "reserved event type", "field": "event_type"})
        return ack(n, event)

    b = bridge(reply)
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}', spillPath: 'spill.jsonl' }});
  for (let i = 0; i < 10; i++) s.submit(ev(i));
  out(await s.close(10000));
}})();
""",
        tmp_path,
    )
    assert (result["delivered"], result["refused"]) == (8, 2)
    assert result["firstRejection"] == "reserved event type"
    assert result["undelivered"] == 0 and result["spillPath"] is None


def test_a_bridge_that_says_too_much_does_not_break_the_run(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    """Two replies to one frame: a broken protocol is counted, never a crash of the run."""
    b = bridge(lambda n, e: [ack(n, e), json.dumps({"note": "unsolicited"})])
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}', batch: 1 }});
  for (let i = 0; i < 6; i++) {{ s.submit(ev(i)); await sleep(20); }}
  out(await s.close(5000));
}})();
""",
        tmp_path,
    )
    assert result["delivered"] >= 1
    assert result["delivered"] + result["refused"] + result["undelivered"] == 6


def store_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT event_id FROM ctas7_events ORDER BY seq")]


def test_a_bridge_lost_mid_run_leaves_exactly_the_rest_in_the_spill_and_ingest_completes_it(
    bridge: Callable[..., Bridge], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = bridge(lambda n, e: ack(n, e) if n <= 30 else None)  # 30 acks, then gone for good
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{lost.url}', spillPath: 'spill.jsonl', batch: 10,
                                retryMs: 100, spillEveryMs: 50 }});
  for (let i = 0; i < 100; i++) {{ s.submit(ev(i)); if (i % 10 === 9) await sleep(30); }}
  out(await s.close(3000));
}})();
""",
        tmp_path,
    )
    acked = {f["event_id"] for f in lost.frames[:30]}
    assert result["delivered"] == 30 and result["undelivered"] == 70
    assert result["error"] in {"connection refused", "connection closed"} or "closed" in str(
        result["error"]
    )
    spill = tmp_path / "spill.jsonl"
    assert result["spillPath"] == "spill.jsonl"
    spilled = [json.loads(line)["event_id"] for line in spill.read_text().splitlines()]
    everything = {f"evt_t_{i:04d}" for i in range(100)}
    assert set(spilled) == everything - acked and len(spilled) == 70  # exactly the rest

    # afterwards: ctas7 ingest sends the spill to a bridge that is up, and stores it
    back = bridge()
    store = tmp_path / "events.db"
    monkeypatch.setenv("CTAS7_STORE_URL", f"sqlite:///{store}")
    args = ["ingest", str(spill), "--bridge-url", back.url]
    assert main(args) == 0
    assert sorted(f["event_id"] for f in back.frames) == sorted(spilled)
    assert sorted(store_ids(store)) == sorted(spilled)
    assert main(args) == 0  # again: the store keeps one of each
    assert sorted(store_ids(store)) == sorted(spilled)
    assert acked.isdisjoint(store_ids(store)) and acked | set(store_ids(store)) == everything


def test_a_bridge_that_comes_back_gets_everything_and_the_stale_spill_goes(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/telemetry_bridge"
    b = Bridge(ack, port=port)
    script = f"""
(async () => {{
  const fs = require('node:fs');
  const s = new BridgeSender({{ url: '{url}', spillPath: 'spill.jsonl', retryMs: 100,
                                spillEveryMs: 10 }});
  for (let i = 0; i < 5; i++) s.submit(ev(i));
  const spilled = () =>
    fs.existsSync('spill.jsonl') ? fs.readFileSync('spill.jsonl', 'utf8') : '';
  for (const t = Date.now(); Date.now() - t < 10000; await sleep(20)) {{  // until all 5 wait there
    if (spilled().trim().split('\\n').filter(Boolean).length >= 5) break;
  }}
  const during = spilled();
  process.stderr.write('DOWN\\n');
  await new Promise((r) => process.stdin.once('data', r));  // the bridge is up now
  for (let i = 5; i < 8; i++) s.submit(ev(i));
  const summary = await s.close(10000);
  const after = fs.existsSync('spill.jsonl');
  out({{ ...summary, during: during.trim().split('\\n').length, after }});
}})();
"""
    path = tmp_path / "scenario.cjs"
    path.write_text(PRELUDE + script)
    proc = subprocess.Popen(
        ["node", str(path)],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdin is not None
        assert proc.stderr.readline().strip() == "DOWN"
        b.start()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        b.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["during"] == 5  # while down, the spill file held what was waiting
    assert result["delivered"] == 8 and result["undelivered"] == 0
    assert result["after"] is False and result["spillPath"] is None
    assert [f["event_id"] for f in b.frames] == [f"evt_t_{i:04d}" for i in range(8)]


def test_pings_are_answered_so_a_long_quiet_run_keeps_its_connection(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    b = bridge(ping_interval=0.2, ping_timeout=0.6)
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}' }});
  s.submit(ev(1));
  await sleep(1500);  // several pings; unanswered, the server would close after 0.6 s
  s.submit(ev(2));
  out(await s.close(5000));
}})();
""",
        tmp_path,
    )
    assert result["delivered"] == 2
    assert len(b.headers) == 1  # the same connection throughout


def test_a_refused_handshake_names_the_http_status(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    def process_request(conn: ServerConnection, request: Any) -> Any:
        return conn.respond(401, "missing or wrong token: send Authorization: Bearer <token>\n")

    b = bridge(process_request=process_request)
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}', spillPath: 'spill.jsonl' }});
  s.submit(ev(1));
  out(await s.close(3000));
}})();
""",
        tmp_path,
    )
    assert result["undelivered"] == 1
    assert result["error"].startswith("HTTP 401")
    assert "missing or wrong token" in result["error"]


def test_frames_of_every_length_class_round_trip(
    bridge: Callable[..., Bridge], tmp_path: Path
) -> None:
    b = bridge()
    result = run_node(
        f"""
(async () => {{
  const s = new BridgeSender({{ url: '{b.url}' }});
  for (const n of [0, 100, 2000, 70000]) s.submit(ev(n, {{ message: 'x'.repeat(n) }}));
  const summary = await s.close(10000);
  // the decoder also reads what the encoder writes, split at every byte
  const f = encodeFrame(1, Buffer.from('y'.repeat(70000)));
  let [frames, rest] = decodeFrames(f.subarray(0, 9));
  const partial = frames.length;
  [frames, rest] = decodeFrames(f);
  out({{ ...summary, partial, decoded: frames[0].payload.length, rest: rest.length }});
}})();
""",
        tmp_path,
    )
    assert result["delivered"] == 4
    assert [len(f["payload"]["message"]) for f in b.frames] == [0, 100, 2000, 70000]
    assert (result["partial"], result["decoded"], result["rest"]) == (0, 70000, 0)


def test_an_unwritable_spill_is_said_in_the_one_warning(tmp_path: Path) -> None:
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{refusing.getsockname()[1]}/telemetry_bridge?token=secret-x"
        (tmp_path / "afile").write_text("")
        result = run_node(
            f"""
const {{ warningOf }} = require({json.dumps(str(ASSETS / "reporter.cjs"))});
(async () => {{
  const s = new BridgeSender({{ url: '{url}', spillPath: 'afile/spill.jsonl' }});
  s.submit(ev(1));
  const summary = await s.close(3000);
  out({{ ...summary, warning: warningOf(summary, '{url}') }});
}})();
""",
            tmp_path,
        )
    assert result["undelivered"] == 1 and result["spillPath"] is None
    warning = result["warning"]
    assert warning.startswith("ctas7: warning: bridge ws://127.0.0.1:")
    assert "connection refused" in warning and "could not be saved either" in warning
    assert "secret-x" not in warning and "token=***" in warning


def test_the_reporter_sends_the_admin_token_when_there_is_one(tmp_path: Path) -> None:
    script = f"""
const Reporter = require({json.dumps(str(ASSETS / "reporter.cjs"))});
const tokens = [];
const read = {{ CTAS7_TOKEN: 'read-token-0123456' }};
for (const env of [{{}}, read, {{ ...read, CTAS7_ADMIN_TOKEN: 'admin-token-01234' }}]) {{
  delete process.env.CTAS7_TOKEN; delete process.env.CTAS7_ADMIN_TOKEN;
  Object.assign(process.env, env);
  tokens.push(new Reporter().token);
}}
const option = new Reporter({{ bridgeUrl: 'ws://x/y' }}).bridgeUrl;
out({{ tokens, url: new Reporter().bridgeUrl, option }});
"""
    result = run_node(script, tmp_path)
    assert result["tokens"] == [None, "read-token-0123456", "admin-token-01234"]
    assert result["option"] == "ws://x/y"


def test_with_ctas7_adds_the_reporter_and_the_setup_project_once(tmp_path: Path) -> None:
    script = f"""
const {{ withCtas7, SETUP_PROJECT, REPORTER }} = require({json.dumps(str(ASSETS / "index.cjs"))});
const base = {{ reporter: 'html', projects: [
  {{ name: 'desktop' }}, {{ name: 'mobile', dependencies: ['db'] }}, {{ name: 'db' }} ] }};
const once = withCtas7(base);
const twice = withCtas7(once);
const bare = withCtas7({{}});
const reporters = [['list'], ['json', {{ outputFile: 'r.json' }}]];
const off = withCtas7({{ reporter: reporters }}, {{ audit: false }});
out({{ SETUP_PROJECT, REPORTER, once, twice, bare, off, base }});
"""
    r = run_node(script, tmp_path)
    setup, reporter = r["SETUP_PROJECT"], r["REPORTER"]
    assert setup == "CTAS7-SchemaAudit"
    once = r["once"]
    assert once["reporter"] == [["html"], [reporter, {}]]
    assert [p["name"] for p in once["projects"]] == [setup, "desktop", "mobile", "db"]
    assert once["projects"][0]["retries"] == 0
    assert [p["dependencies"] for p in once["projects"][1:]] == [
        [setup],
        ["db", setup],
        [setup],
    ]
    assert r["twice"]["reporter"] == once["reporter"]
    assert [p.get("dependencies") for p in r["twice"]["projects"]] == [
        p.get("dependencies") for p in once["projects"]
    ]
    assert r["base"]["projects"][0] == {"name": "desktop"}  # the caller's config is not mutated
    assert [p.get("dependencies") for p in r["bare"]["projects"]] == [None, [setup]]
    assert r["off"]["reporter"][:2] == [["list"], ["json", {"outputFile": "r.json"}]]
    assert "projects" not in r["off"]
