"""Two watchers on one database: exactly one active (advisory lock); when it goes, the other
takes over. The kill test uses real ``ctas7 schema watch`` processes. How long the handover
takes (within one poll interval) is measured by ``benchmarks/sync.py``, not asserted here."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.schema.sync import SchemaSyncNode

from .conftest import wait_for_lock_tries

POLL = 0.4


def state_of(recorder: Any) -> str | None:
    states = recorder.of("schema_watcher")
    return states[-1].payload["state"] if states else None


async def test_two_watchers_in_one_process_one_active_then_handover(
    core_db_url: str, paths: Any, new_recorder: Callable[[], Any], watch_running: Any
) -> None:
    rec_a, rec_b = new_recorder(), new_recorder()
    node_a = SchemaSyncNode(paths.config(core_db_url, poll_interval=POLL), on_event=rec_a)
    node_b = SchemaSyncNode(paths.config(core_db_url, poll_interval=POLL), on_event=rec_b)
    async with node_a, node_b, watch_running(node_a) as stop_a:
        await rec_a.wait_for(lambda e: e.payload.get("state") == "active")
        async with watch_running(node_b):
            await rec_b.wait_for(lambda e: e.payload.get("state") == "standby")
            # b keeps standing by while a holds the lock: three more tries, all refused
            await asyncio.to_thread(wait_for_lock_tries, core_db_url, 3)
            assert state_of(rec_b) == "standby"
            assert not rec_b.of("schema_updated", "schema_nochange")
            stop_a.set()  # a's session ends and its lock with it
            took_over = await rec_b.wait_for(lambda e: e.payload.get("state") == "active")
            synced = await rec_b.wait_for(lambda e: e.payload.get("trigger") == "connect")
    assert took_over.payload["watcher_id"] != rec_a.of("schema_watcher")[0].payload["watcher_id"]
    assert synced.event_type == "schema_nochange"
    assert state_of(rec_a) == "stopped"


class WatchProcess:
    """A ``ctas7 schema watch --json`` subprocess whose stdout lines are read by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ctas7_panel", "schema", "watch", "--json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(orjson.loads(raw))

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        for e in self.seen:
            if predicate(e):
                return e
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                err = self.proc.stderr.read1().decode() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
                raise AssertionError(f"no matching line within {timeout} s: {self.seen} {err}")
            try:
                e = self.lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            self.seen.append(e)
            if predicate(e):
                return e

    def state(self) -> str | None:
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        states = [e["payload"]["state"] for e in self.seen if e["event_type"] == "schema_watcher"]
        return states[-1] if states else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def _state(want: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["event_type"] == "schema_watcher" and e["payload"]["state"] == want


def test_killed_leader_process_is_replaced_and_sigterm_stops_cleanly(
    core_db_url: str, paths: Any, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "CTAS7_DATABASE_URL": core_db_url,
        "CTAS_SCHEMA_PATH": str(paths.types),
        "CTAS_HASH_CACHE_PATH": str(paths.cache),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "CTAS7_BUS_URL": "memory://",
        "CTAS7_POLL_INTERVAL": str(POLL),
    }
    first = WatchProcess([], env)
    second: WatchProcess | None = None
    try:
        first.wait_for(_state("active"))
        first.wait_for(lambda e: e["payload"].get("trigger") == "connect")
        second = WatchProcess([], env)
        second.wait_for(_state("standby"))
        wait_for_lock_tries(core_db_url, 3)  # the second keeps trying, refused
        assert (first.state(), second.state()) == ("active", "standby")

        first.proc.send_signal(signal.SIGKILL)  # no goodbye: the server notices the dead session
        first.proc.wait(10)
        second.wait_for(_state("active"))
        hello = second.wait_for(lambda e: e["payload"].get("trigger") == "connect")
        assert hello["event_type"] == "schema_nochange"

        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(15) == 0
        second.wait_for(_state("stopped"), timeout=5)
    finally:
        first.stop()
        if second is not None:
            second.stop()
