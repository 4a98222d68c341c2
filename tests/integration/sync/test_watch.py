"""``SchemaSyncNode.watch`` on real PostgreSQL: LISTEN via the event trigger and ``pgrst``,
polling, debounce, artifact restore, an outage of a real server, the advisory-lock leader.

No fixed waits: "nothing more comes" is checked after the passes, retries or reconnects that
could have brought it are seen to happen (``passes``, a generator that counts its runs, the
watcher's log), readiness of the artifact watcher by its inotify watch."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctas7_panel import pgtools
from ctas7_panel.embedded import EmbeddedPostgres
from ctas7_panel.schema import trigger
from ctas7_panel.schema.sync import SchemaSyncNode
from tests.waiting import inotify_watches

LONG_POLL = 60.0  # an event seen within the test's timeout cannot have come from polling


def is_update(e: Any) -> bool:
    return bool(e.event_type == "schema_updated")


async def test_trigger_install_is_idempotent_and_uninstalls(core_db_url: str) -> None:
    assert not trigger.installed(core_db_url)
    trigger.install(core_db_url)
    trigger.install(core_db_url)
    assert trigger.installed(core_db_url)
    with pgtools.connect(core_db_url) as conn:
        schemas = conn.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = 'notify_schema_change'"
        ).fetchall()
    assert schemas == [("ctas7_meta",)]  # outside the default typegen schemas
    trigger.uninstall(core_db_url)
    trigger.uninstall(core_db_url)
    assert not trigger.installed(core_db_url)


async def test_trigger_does_not_change_the_types(core_db_url: str, paths: Any) -> None:
    async with SchemaSyncNode(paths.config(core_db_url)) as node:
        first = await node.sync()
        trigger.install(core_db_url)
        assert (await node.sync()).payload["new_hash"] == first.payload["new_hash"]


async def test_ddl_with_the_trigger_is_seen_through_notify(
    core_db_url: str, paths: Any, recorder: Any, sql: Callable[..., None], watch_running: Any
) -> None:
    trigger.install(core_db_url)
    node = SchemaSyncNode(paths.config(core_db_url, poll_interval=LONG_POLL), on_event=recorder)
    async with node, watch_running(node):
        hello = await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        assert hello.event_type == "schema_updated"  # first ever sync of this database
        mark = len(recorder.events)
        await asyncio.to_thread(sql, core_db_url, "ALTER TABLE public.nodes ADD COLUMN zone text")
        update = await recorder.wait_for(is_update, after=mark, timeout=5)
    assert update.payload["trigger"] == "notify"
    assert update.payload["old_hash"] == hello.payload["new_hash"]
    assert "zone" in paths.types.read_text()
    states = [e.payload["state"] for e in recorder.of("schema_watcher")]
    assert states == ["active", "stopped"]


async def test_without_the_trigger_polling_finds_the_change(
    core_db_url: str,
    paths: Any,
    recorder: Any,
    sql: Callable[..., None],
    watch_running: Any,
    passes: Any,
) -> None:
    node = SchemaSyncNode(paths.config(core_db_url, poll_interval=0.3), on_event=recorder)
    ran = passes(node)
    async with node, watch_running(node):
        await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        mark = len(recorder.events)
        await asyncio.to_thread(sql, core_db_url, "ALTER TABLE public.nodes ADD COLUMN zone text")
        update = await recorder.wait_for(is_update, after=mark, timeout=5)
        seen = time.monotonic()
        # three more polls: they find nothing new and stay quiet
        await ran.wait_for(lambda p: p.trigger == "poll" and p.started > seen, count=3)
    assert update.payload["trigger"] == "poll"
    assert len(recorder.of("schema_updated", "schema_nochange")) == 2


async def test_pgrst_notifications_trigger_a_sync(
    core_db_url: str, paths: Any, recorder: Any, sql: Callable[..., None], watch_running: Any
) -> None:
    node = SchemaSyncNode(paths.config(core_db_url, poll_interval=LONG_POLL), on_event=recorder)
    async with node, watch_running(node):
        await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        mark = len(recorder.events)
        # what Supabase's own event trigger does after DDL
        await asyncio.to_thread(
            sql,
            core_db_url,
            "ALTER TABLE public.nodes ADD COLUMN zone text",
            "NOTIFY pgrst, 'reload schema'",
        )
        update = await recorder.wait_for(is_update, after=mark, timeout=5)
    assert update.payload["trigger"] == "notify"


async def _burst(
    url: str,
    paths: Any,
    recorder: Any,
    watch_running: Any,
    passes: Any,
    statements: list[str],
    one_tx: bool,
) -> tuple[list[Any], str]:
    trigger.install(url)
    node = SchemaSyncNode(paths.config(url, poll_interval=LONG_POLL), on_event=recorder)
    ran = passes(node)
    async with node, watch_running(node):
        await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        mark = len(recorder.events)
        if one_tx:
            await asyncio.to_thread(pgtools.apply_sql, url, ";\n".join(statements))
        else:
            with pgtools.connect(url) as conn:  # 50 transactions, back to back
                for s in statements:
                    await asyncio.to_thread(conn.execute, s.encode())
        await recorder.wait_for(lambda e: "col_49" in str(e.payload.get("changes")), after=mark)
        # a notification of our own, after the burst's: the pass it brings (debounced with any
        # of the burst's still unread) runs after the last DDL; whatever it finds is emitted
        # before it is recorded here
        sent = time.monotonic()
        await asyncio.to_thread(sql_notify, url)
        await ran.wait_for(lambda p: p.trigger == "notify" and p.started > sent)
        updates = [e for e in recorder.events[mark:] if is_update(e)]
        final = await SchemaSyncNode(paths.config(url)).sync()
    return updates, final.payload["new_hash"]


def sql_notify(url: str) -> None:
    with pgtools.connect(url) as conn:
        conn.execute(f"NOTIFY {trigger.CHANNEL}".encode())


BURST = [f"ALTER TABLE public.tasks ADD COLUMN col_{i} integer" for i in range(50)]


async def test_burst_of_50_ddl_in_one_transaction_gives_one_event(
    core_db_url: str, paths: Any, recorder: Any, watch_running: Any, passes: Any
) -> None:
    updates, final_hash = await _burst(
        core_db_url, paths, recorder, watch_running, passes, BURST, one_tx=True
    )
    assert len(updates) == 1
    assert updates[0].payload["new_hash"] == final_hash
    assert paths.cache.read_text() == final_hash


async def test_burst_of_50_ddl_transactions_gives_few_events(
    core_db_url: str, paths: Any, recorder: Any, watch_running: Any, passes: Any
) -> None:
    updates, final_hash = await _burst(
        core_db_url, paths, recorder, watch_running, passes, BURST, one_tx=False
    )
    assert 1 <= len(updates) <= 3
    assert updates[-1].payload["new_hash"] == final_hash
    assert paths.cache.read_text() == final_hash


async def test_artifacts_edited_or_deleted_by_hand_are_restored(
    core_db_url: str, paths: Any, recorder: Any, watch_running: Any, until: Any
) -> None:
    node = SchemaSyncNode(paths.config(core_db_url, poll_interval=LONG_POLL), on_event=recorder)
    async with node, watch_running(node):
        await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
        good = {p: p.read_bytes() for p in (paths.types, paths.cache, paths.snapshot)}
        await until(
            lambda: inotify_watches(paths.types.parent) and inotify_watches(paths.root),
            "the artifact watcher watches both directories",
        )
        mark = len(recorder.events)
        await asyncio.to_thread(paths.types.write_text, "// hand edit\n")
        edited = await recorder.wait_for(
            lambda e: e.event_type == "schema_artifact_modified", after=mark
        )
        mark = len(recorder.events)
        await asyncio.to_thread(paths.types.unlink)
        deleted = await recorder.wait_for(
            lambda e: e.event_type == "schema_artifact_modified", after=mark
        )
        mark = len(recorder.events)
        await asyncio.to_thread(paths.cache.write_text, "0" * 64)
        cache = await recorder.wait_for(
            lambda e: e.event_type == "schema_artifact_modified", after=mark
        )
        await until(
            lambda: {p: p.read_bytes() if p.exists() else None for p in good} == good,
            "every artifact back as the last pass wrote it",
        )
    assert (edited.payload["change"], edited.payload["restored"]) == ("modified", True)
    assert (deleted.payload["change"], deleted.payload["restored"]) == ("deleted", True)
    assert cache.payload["path"] == str(paths.cache.resolve())
    assert not recorder.of("schema_updated")[1:]  # restoring is not a schema update


async def test_database_outage_one_error_then_recovery(
    tmp_path: Path,
    paths: Any,
    recorder: Any,
    watch_running: Any,
    until: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real server stopped during watch: one schema_error, no crash, back with a sync."""
    caplog.set_level(logging.INFO, logger="ctas7_panel")
    server = EmbeddedPostgres(tmp_path / "pg", database="ctas7")
    url = await asyncio.to_thread(server.start)
    try:
        trigger.install(url)
        cfg = paths.config(url, poll_interval=0.3, retry_initial=0.1, retry_max=0.4)
        node = SchemaSyncNode(cfg, on_event=recorder)
        async with node, watch_running(node):
            await recorder.wait_for(lambda e: e.payload.get("trigger") == "connect")
            mark = len(recorder.events)
            await asyncio.to_thread(server.stop)
            error = await recorder.wait_for(lambda e: e.event_type == "schema_error", after=mark)
            await until(  # several reconnect attempts fail (0.1-0.4 s apart)
                lambda: _count(caplog, "database still unreachable") >= 3,
                "3 failed reconnects logged",
            )
            assert len(recorder.of("schema_error")) == 1  # one per outage, not a flood
            mark = len(recorder.events)
            await asyncio.to_thread(server.start, migrate=False)
            back = await recorder.wait_for(
                lambda e: e.payload.get("trigger") == "connect", after=mark, timeout=15
            )
            assert back.event_type == "schema_nochange"
            mark = len(recorder.events)
            await asyncio.to_thread(
                pgtools.apply_sql, url, "ALTER TABLE public.nodes ADD COLUMN zone text"
            )
            update = await recorder.wait_for(is_update, after=mark)
        assert error.payload["stage"] == "connect"
        assert 0 < error.payload["retry_in_s"] <= 0.5
        assert update.payload["trigger"] == "notify"
        states = [e.payload["state"] for e in recorder.of("schema_watcher")]
        assert states == ["active", "active", "stopped"]
    finally:
        await asyncio.to_thread(server.stop)
        shutil.rmtree(tmp_path / "pg", ignore_errors=True)


async def test_failing_generator_reports_once_and_retries(
    core_db_url: str, paths: Any, recorder: Any, watch_running: Any, tmp_path: Path, until: Any
) -> None:
    flag = tmp_path / "broken"
    flag.write_text("yes")
    runs = tmp_path / "runs"  # a line per run of the generator
    script = tmp_path / "gen.py"
    script.write_text(
        "import pathlib, sys\n"
        f"with open({str(runs)!r}, 'a') as f: f.write('run\\n')\n"
        f"if pathlib.Path({str(flag)!r}).exists(): sys.exit('generator is down')\n"
        "print('export type Ok = true')\n"
    )
    import sys

    cfg = paths.config(
        core_db_url,
        poll_interval=LONG_POLL,
        typegen_command=f"{sys.executable} {script}",
        retry_initial=0.1,
        retry_max=0.3,
    )
    node = SchemaSyncNode(cfg, on_event=recorder)
    async with node, watch_running(node):
        error = await recorder.wait_for(lambda e: e.event_type == "schema_error")
        # several retries (0.1-0.3 s apart), the same error: reported once
        await until(lambda: _lines(runs) >= 4, "the generator run 4 times")
        assert len(recorder.of("schema_error")) == 1
        await asyncio.to_thread(flag.unlink)
        ok = await recorder.wait_for(is_update)
    assert error.payload["stage"] == "typegen"
    assert error.payload["stderr_tail"] == "generator is down\n"
    assert ok.payload["trigger"] == "retry"
    assert paths.types.read_text() == "export type Ok = true\n"


def _count(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0
