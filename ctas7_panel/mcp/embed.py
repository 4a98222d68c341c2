"""``/mcp`` inside ``ctas7 serve``: the MCP server on the dashboard's port.

Panel serves through Tornado; the SDK's streamable HTTP transport is an ASGI app. ``AsgiHandler``
is a small Tornado handler that runs that app for requests to ``/mcp`` on Tornado's own asyncio
loop (the body in one message, the response streamed chunk by chunk, a closed connection turned
into ``http.disconnect``), so Server-Sent Event streams and ``subscriptions/listen`` work as over
uvicorn. The same token gate and DNS-rebinding protection apply (``ctas7_panel.mcp.http``).

The answers come from the runtime's services, which live on the runtime's own loop in another
thread: the store (thread-safe), the database URL, the bridge's metrics and replay (called on the
runtime's loop), and the bus, followed on the runtime's loop in a consumer group of its own, each
event handed over with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import tornado.web

from ctas7_panel.mcp.http import PATH, http_app
from ctas7_panel.mcp.live import BusFollower, StoreFollower
from ctas7_panel.mcp.runners import Tasks, make_deps
from ctas7_panel.mcp.sources import Telemetry

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.runtime import Runtime
    from ctas7_panel.store_writer import StoreHealth

log = logging.getLogger(__name__)


class AsgiHandler(tornado.web.RequestHandler):
    """Runs an ASGI app for this request (HTTP only; no websockets)."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE", "OPTIONS", "HEAD")

    def initialize(self, app: Any) -> None:
        self.app = app
        self._gone = asyncio.Event()

    def on_connection_close(self) -> None:
        self._gone.set()

    async def _run(self) -> None:
        self._transforms = []  # no gzip: SSE chunks must leave as they are written
        req = self.request
        path = req.path
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in req.headers.get_all()
        ]
        host, _, port = (req.host or "").rpartition(":")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": req.version.split("/")[-1] if req.version else "1.1",
            "method": req.method,
            "scheme": req.protocol,
            "path": path,
            "raw_path": path.encode("latin-1"),
            "root_path": "",
            "query_string": (req.query or "").encode("latin-1"),
            "headers": headers,
            "client": (req.remote_ip, 0),
            "server": (host or req.host, int(port) if port.isdigit() else 0),
        }
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": req.body or b"", "more_body": False}
            await self._gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.set_status(int(message["status"]))
                self.clear_header("Content-Type")
                for name, value in message.get("headers", ()):
                    self.add_header(name.decode("latin-1"), value.decode("latin-1"))
            elif message["type"] == "http.response.body":
                if self._gone.is_set():
                    return
                chunk = message.get("body", b"")
                if chunk:
                    self.write(chunk)
                if message.get("more_body", False):
                    with contextlib.suppress(tornado.iostream.StreamClosedError):
                        await self.flush()

        await self.app(scope, receive, send)
        if not self._finished:
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                self.finish()

    async def get(self) -> None:
        await self._run()

    async def post(self) -> None:
        await self._run()

    async def delete(self) -> None:
        await self._run()

    async def options(self) -> None:
        await self._run()

    async def head(self) -> None:
        await self._run()


class EmbeddedMcp:
    """The MCP server of a ``Runtime``, for Panel's Tornado server (``patterns``, ``start``,
    ``stop`` on Tornado's loop)."""

    def __init__(self, runtime: Runtime, *, bind: str, allow_writes: bool = False) -> None:
        from ctas7_panel.mcp.server import build_server

        svc = runtime.services
        assert svc is not None and svc.store is not None, "start the runtime first"
        self.runtime = runtime
        telemetry = Telemetry(
            store=svc.store,
            metrics=self._metrics,
            components=lambda: {k: dict(v) for k, v in svc.status.components.items()},
            replay=self._replay if allow_writes else None,
            mode="serve",
            store_health=self._store_health,
        )
        self.deps = make_deps(
            runtime.settings,
            db_url=svc.database_url,
            telemetry=telemetry,
            allow_writes=allow_writes,
        )
        self.server = build_server(self.deps)
        self.app = http_app(self.server, self.deps.access, bind)
        self.patterns = [(PATH, AsgiHandler, {"app": self.app})]
        self._tasks = Tasks()
        self._runtime_stop: asyncio.Event | None = None
        self._ready = asyncio.Event()

    def _metrics(self) -> dict[str, Any] | None:
        """The bridge's snapshot, taken on the runtime's loop (called from a worker thread)."""
        svc = self.runtime.services
        bridge = svc.bridge if svc is not None else None
        if bridge is None:
            return None

        async def snap() -> dict[str, Any]:
            return bridge.metrics_snapshot()

        return self.runtime.call(snap()).result(5)

    def _store_health(self) -> StoreHealth | None:
        """The bridge's store writer (what the dashboard's store chip shows); its fields are
        plain numbers and strings, read as they are from a worker thread."""
        svc = self.runtime.services
        bridge = None if svc is None else svc.bridge
        return None if bridge is None else bridge.store_health

    async def _replay(self, ids: Sequence[int] | None) -> int:
        svc = self.runtime.services
        assert svc is not None and svc.bridge is not None
        return int(
            await asyncio.wrap_future(
                self.runtime.call(
                    svc.bridge.replay_dead_letters(None if ids is None else list(ids))
                )
            )
        )

    async def start(self) -> None:
        """On Tornado's loop: the SDK's session manager, the notifier, the feeds."""
        live = self.deps.live
        live.notifier.start()
        self._tasks.spawn(self._sessions(), "sessions")
        store_follower = StoreFollower(live, self.deps.telemetry)
        await store_follower.prime()
        self._tasks.spawn(store_follower.run(self._tasks.stop), "store")
        loop = asyncio.get_running_loop()
        svc = self.runtime.services
        assert svc is not None

        def hand_over(event: Event) -> None:  # on the runtime's loop
            loop.call_soon_threadsafe(live.deliver, event)

        bus, _ = svc.running()
        follower = BusFollower(bus, hand_over, on_status=live.set_watching)

        async def follow() -> None:
            self._runtime_stop = asyncio.Event()
            await follower.run(self._runtime_stop)

        self._follow = self.runtime.call(follow())
        live.feed = "bus"
        await self._ready.wait()

    async def _sessions(self) -> None:
        async with self.server.session_manager.run():
            self._ready.set()
            await self._tasks.stop.wait()

    async def stop(self) -> None:
        self.deps.live.watching = False
        if self._runtime_stop is not None and not self.runtime.loop.is_closed():
            self.runtime.loop.call_soon_threadsafe(self._runtime_stop.set)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(self._follow), 5)
        await self._tasks.close()
        await self.deps.live.notifier.close()
        if self.deps.schema is not None:
            await asyncio.to_thread(self.deps.schema.close)


__all__ = ["AsgiHandler", "EmbeddedMcp"]
