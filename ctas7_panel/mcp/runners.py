"""Standalone ``ctas7 mcp``: over stdio (what desktop clients spawn) or streamable HTTP.

``run(settings, http=..., port=..., allow_writes=...)`` assembles the server on one event loop:
the live schema of ``CTAS7_DATABASE_URL`` (the embedded database when unset, started for the
server's lifetime), the event store of ``CTAS7_STORE_URL``, and a change feed so subscribers are
told at once: the Redis bus when ``CTAS7_BUS_URL`` names one, else the database itself (LISTEN +
polling, ``live.SchemaWatcher``). Over stdio nothing but protocol goes to stdout; logs go to
stderr. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel.mcp.access import Access
from ctas7_panel.mcp.live import (
    BusFollower,
    CountingBus,
    LegacySubscriptions,
    Live,
    Notifier,
    SchemaWatcher,
    StoreFollower,
)
from ctas7_panel.mcp.sources import SchemaSource, Telemetry, replay_standalone
from ctas7_panel.mcp.tools import Deps

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PORT = 8005


def archive_dir(settings: Settings) -> Path:
    return Path(settings.home) / "mcp" / "snapshots"


def make_deps(
    settings: Settings,
    *,
    db_url: str | None,
    telemetry: Telemetry,
    allow_writes: bool,
) -> Deps:
    """The server's dependencies (a notifier, the schema source) for ``build_server``."""
    source = None
    if db_url is not None:
        from ctas7_panel.schema.artifacts import default_snapshot_path

        source = SchemaSource(db_url, archive_dir=archive_dir(settings))
        source.adopt_record(default_snapshot_path(settings.hash_cache_path))
    notifier = Notifier(CountingBus(), LegacySubscriptions())
    return Deps(
        settings=settings,
        schema=source,
        telemetry=telemetry,
        live=Live(notifier, source),
        access=Access.from_settings(settings),
        allow_writes=allow_writes,
    )


class Tasks:
    """Background tasks of one server, stopped together."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mcp: %s stopped", name)

        self._tasks.append(asyncio.create_task(guarded(), name=f"ctas7-mcp-{name}"))

    async def close(self) -> None:
        self.stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def standalone(
    settings: Settings, db_url: str, *, allow_writes: bool
) -> AsyncIterator[tuple[Any, Deps]]:
    """The server and its feeds, running until the block ends."""
    from ctas7_panel.mcp.server import build_server
    from ctas7_panel.store import open_store

    store = await asyncio.to_thread(open_store, settings.store_url)
    telemetry = Telemetry(store=store, replay=replay_standalone(settings) if allow_writes else None)
    deps = make_deps(settings, db_url=db_url, telemetry=telemetry, allow_writes=allow_writes)
    assert deps.schema is not None
    server = build_server(deps)
    tasks = Tasks()
    bus = None
    try:
        deps.live.notifier.start()
        store_follower = StoreFollower(deps.live, telemetry)
        await store_follower.prime()
        tasks.spawn(store_follower.run(tasks.stop), "store")
        if settings.bus_url.startswith("redis"):
            from ctas7_panel.streams import open_bus

            bus = open_bus(settings.bus_url)
            await bus.start()
            follower = BusFollower(
                bus, deps.live.deliver, topic="events", on_status=deps.live.set_watching
            )
            deps.live.feed = "bus"
            tasks.spawn(follower.run(tasks.stop), "bus")
        else:
            deps.live.feed = "database"
            watcher = SchemaWatcher(deps.live, deps.schema, poll_interval=settings.poll_interval)
            tasks.spawn(watcher.run(tasks.stop), "schema-watch")
        yield server, deps
    finally:
        await tasks.close()
        await deps.live.notifier.close()
        if bus is not None:
            with contextlib.suppress(Exception):
                await bus.close()
        await asyncio.to_thread(deps.schema.close)
        await asyncio.to_thread(store.close)


def run(settings: Settings, *, http: bool, port: int, allow_writes: bool) -> int:
    """``ctas7 mcp``: serve until stdin closes (stdio) or a signal arrives."""
    from ctas7_panel.embedded import database_url

    _quiet_stdout_logging(settings)
    with database_url(settings.database_url, settings.home) as db_url:
        asyncio.run(_serve(settings, db_url, http=http, port=port, allow_writes=allow_writes))
    return 0


async def _serve(
    settings: Settings, db_url: str, *, http: bool, port: int, allow_writes: bool
) -> None:
    async with standalone(settings, db_url, allow_writes=allow_writes) as (server, deps):
        if http:
            await serve_http(server, deps, settings.bind, port)
        else:
            await _stdio(server)


async def _stdio(server: Any) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await server.run_stdio_async()


async def serve_http(server: Any, deps: Deps, bind: str, port: int) -> None:
    """Serve ``http://bind:port/mcp`` with uvicorn on this loop until SIGTERM/SIGINT."""
    import uvicorn

    from ctas7_panel.mcp.http import PATH, http_app

    config = uvicorn.Config(
        http_app(server, deps.access, bind),
        host=bind,
        port=port,
        log_level="warning",
        lifespan="on",
        ws="none",
    )
    web = uvicorn.Server(config)

    async def announce() -> None:
        while not web.started:  # noqa: ASYNC110 (uvicorn offers no event for this)
            await asyncio.sleep(0.02)
        host = f"[{bind}]" if ":" in bind else bind
        print(f"ctas7 mcp: serving http://{host}:{port}{PATH}", file=sys.stderr, flush=True)

    ready = asyncio.create_task(announce())
    # uvicorn stops on SIGTERM/SIGINT, then raises the signal again for the handler it found:
    # let that be a no-op so the caller's clean-up still runs and the exit code is 0
    found = {sig: signal.signal(sig, _already_stopping) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        await web.serve()
    finally:
        ready.cancel()
        for sig, handler in found.items():
            signal.signal(sig, handler)


def _already_stopping(signum: int, frame: object) -> None:
    log.info("mcp: signal %d: stopping", signum)


def _quiet_stdout_logging(settings: Settings) -> None:
    """Logs to stderr only (stdout carries the protocol over stdio)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("mcp", "httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


__all__ = ["DEFAULT_PORT", "Tasks", "make_deps", "run", "serve_http", "standalone"]
