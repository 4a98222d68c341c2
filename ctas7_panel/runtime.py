"""Everything in one process: the database, bus, store, Schema Sync watcher, Telemetry Bridge,
websocket gateway, Legion, Neural Mux and (optionally) the demo activity.

``Services`` is the async core: ``async with Services(settings) as s: await s.wait()`` — used by
``ctas7 serve``. ``Runtime`` runs the same services on their own event loop in a background
thread, so a Panel server or a notebook stays responsive; ``get_runtime(settings)`` returns the
one runtime of the process (started on first use, stopped at exit).

Start order matters and is fixed: every consumer subscribes (bridge, Legion, Neural Mux) before
any producer (watcher, demo) can publish, so nothing is published into the void. Stop order is
the reverse. With nothing configured: embedded PostgreSQL in ``CTAS7_HOME/pg``, the memory bus,
the SQLite store in ``CTAS7_HOME``, the artifacts where every command looks for them (the seed's
``./database/supabase_schema.ts`` and ``./.last_schema_hash``, relative to the working
directory), and the demo on.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ctas7_panel.errors import ConfigError, Ctas7Error
from ctas7_panel.events import Event
from ctas7_panel.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_GRACE_S = 5.0  # how long the producers get to finish their current step at a stop


@dataclass
class Status:
    """What is up, since when (unix s) — shown in the dashboard's status bar."""

    components: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, name: str, up: bool, detail: str = "") -> None:
        prev = self.components.get(name)
        since = prev["since"] if prev and prev["up"] == up else time.time()
        self.components[name] = {"up": up, "since": since, "detail": detail}


class Services:
    """The assembled system on the current event loop. ``async with`` starts and stops it."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool | None = None,
        gateway: bool = True,
        demo_config: Any = None,
        run_test_suite: bool = True,
        forward: dict[str, str] | None = None,
        retry: Any = None,
        metrics_interval: float = 5.0,
        gateway_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.demo_enabled = settings.database_url is None if demo is None else demo
        self.gateway_enabled = gateway
        self.demo_config = demo_config
        self.run_test_suite = run_test_suite
        self.forward = forward  # target -> ws:// URL of a remote system (see build_targets)
        self.retry = retry  # the bridge's RetryPolicy (None: its defaults)
        self.metrics_interval = metrics_interval  # seconds between bridge_metrics events
        # all endpoints on one port (0: any free one); default CTAS7_GATEWAY_PORT
        self.gateway_port = settings.gateway_port if gateway_port is None else gateway_port
        self.status = Status()
        self.database_url: str | None = None
        self.embedded: Any = None
        self.store: Any = None
        self.bus: Any = None
        self.bridge: Any = None
        self.gateway: Any = None
        self.legion: Any = None
        self.mux: Any = None
        self.sync_node: Any = None
        self.demo: Any = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._closers: list[Callable[[], Awaitable[None] | None]] = []
        self._dependents: list[Callable[[], Awaitable[None]]] = []

    async def __aenter__(self) -> Services:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        from ctas7_panel.embedded import resolve_database
        from ctas7_panel.store import open_store
        from ctas7_panel.streams import open_bus

        s = self.settings
        self.database_url, self.embedded = await asyncio.to_thread(
            resolve_database, s.database_url, s.home
        )
        if self.embedded is not None:
            self._closers.append(lambda: asyncio.to_thread(self.embedded.stop))
        self.status.set("database", True, "embedded" if self.embedded else "configured")

        self.store = await asyncio.to_thread(open_store, s.store_url)
        self._closers.append(lambda: asyncio.to_thread(self.store.close))
        self.status.set("store", True, s.store_url.split("://", 1)[0])

        self.bus = open_bus(s.bus_url, overflow_sink=self.keep_dead_letter)
        await self.bus.start()
        self._closers.append(self.bus.close)
        self.status.set("bus", True, s.bus_url.split("://", 1)[0])

        await self._start_consumers()
        await self._start_producers()

    async def keep_dead_letter(self, event: Event, target: str, reason: str) -> None:
        """A dead letter in the store (bus overflow, a consumer's rejected event)."""
        await asyncio.to_thread(self.store.add_dead_letter, event, target, reason)

    async def _start_consumers(self) -> None:
        from ctas7_panel.bridge.bridge import TelemetryBridge
        from ctas7_panel.bridge.routes import load_routes
        from ctas7_panel.bridge.targets import build_targets
        from ctas7_panel.graph.target import register_graph
        from ctas7_panel.mux.service import NeuralMux

        s = self.settings
        targets = build_targets(s, self.bus, forward=self.forward)
        routes = register_graph(
            s, targets, load_routes(s.routes_path), database_url=self.database_url
        )  # CTAS_DB_URL: the schema graph's SurrealDB mirror (issue 18)
        self.bridge = TelemetryBridge(
            self.bus,
            self.store,
            targets=targets,
            routes=routes,
            retry=self.retry,
            metrics_interval=self.metrics_interval,
        )
        await self.bridge.start()
        self._closers.append(self.bridge.close)
        self.status.set("bridge", True)

        self.mux = NeuralMux(settings=s, bus=self.bus, dead_letter=self.keep_dead_letter)
        await self.mux.start()
        self._closers.append(self.mux.close)
        self.status.set("neural_mux", True)

        if self.gateway_enabled:
            from ctas7_panel.streams.gateway import Gateway, GatewayConfig

            config = GatewayConfig.from_settings(s, single_port=self.gateway_port)
            self.gateway = Gateway(
                s,
                self.bus,
                store=self.store,
                metrics=self.bridge.metrics_text,
                config=config,
                store_health=self.bridge.store_health,
            )
            try:
                await self.gateway.start()
            except ConfigError as exc:
                # its ports are taken: typically a sibling process (panel serve --num-procs, or
                # several dashboards on one Redis bus) already serves them; run without it
                await self.gateway.close()
                self.gateway = None
                log.warning("runtime: no websocket gateway in this process: %s", exc)
                self.status.set("gateway", False, str(exc))
            else:
                self._closers.append(self.gateway.close)
                self.status.set("gateway", True)

    async def _start_producers(self) -> None:
        from ctas7_panel.legion import LegionExecutionEngine
        from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig

        s = self.settings
        assert self.database_url is not None
        await asyncio.to_thread(self._install_trigger)
        self.sync_node = SchemaSyncNode(
            SyncConfig.from_settings(s, self.database_url), bus=self.bus, store=None
        )
        self._closers.append(self.sync_node.close)
        # one pass before Legion starts, so it loads a snapshot that exists
        first = await self.sync_node.sync(trigger="startup")
        self.status.set("schema_sync", first.event_type != "schema_error", first.event_type)
        self._spawn(self.sync_node.watch(self._stop), "schema-watch")

        self.legion = LegionExecutionEngine(self.database_url, settings=s, bus=self.bus)
        await self.legion.start()
        self._closers.append(self.legion.close)
        self.status.set("legion", True)

        if self.demo_enabled:
            from ctas7_panel.demo import DemoActivity, DemoConfig

            test_env = None
            if self.run_test_suite:
                store = s.store_path  # the test run has its own working directory
                test_env = {
                    "CTAS7_STORE_URL": f"sqlite:///{store.resolve()}" if store else s.store_url,
                    "CTAS7_BUS_URL": s.bus_url,
                }
                if self.gateway is not None:
                    test_env["CTAS7_BRIDGE_URL"] = self.gateway.url("telemetry_bridge")
            bus = self.bus

            async def publish(event: Event) -> None:
                await bus.publish(event, topic="events")

            self.demo = DemoActivity(
                self.database_url,
                legion=self.legion,
                config=self.demo_config or DemoConfig(),
                test_env=test_env,
                publish=publish,
            )
            self._spawn(self.demo.run(self._stop), "demo")
            self.status.set("demo", True)

    def _install_trigger(self) -> None:
        """Install the DDL event trigger (instant change detection); needs superuser rights.
        Without them the watcher still polls every ``CTAS7_POLL_INTERVAL`` seconds."""
        from ctas7_panel.schema import trigger

        assert self.database_url is not None
        try:
            trigger.install(self.database_url)
            self.status.set("ddl_trigger", True, "installed")
        except Ctas7Error as exc:
            log.warning("runtime: DDL trigger not installed (%s); polling instead", exc)
            self.status.set("ddl_trigger", False, f"polling: {exc}")

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a component died: say so, keep the rest running
                log.exception("runtime: %s stopped: %s", name, exc)
                self.status.set(name, False, str(exc))

        self._tasks.append(asyncio.create_task(guarded(), name=f"ctas7-{name}"))

    async def wait(self) -> None:
        """Until ``stop()`` is called."""
        await self._stop.wait()

    def stop(self) -> None:
        self._stop.set()

    def add_dependent(self, close: Callable[[], Awaitable[None]]) -> None:
        """Something running on these services (the dashboard hub reads the bus and the
        store): ``close()`` is awaited first when the services stop, so it never reads a
        closed store."""
        self._dependents.append(close)

    async def close(self) -> None:
        """Stop what depends on the services, then everything, producers first, in reverse
        start order."""
        self._stop.set()
        while self._dependents:
            try:
                await self._dependents.pop()()
            except Exception as exc:  # keep closing the rest
                log.warning("runtime: error while stopping: %s", exc)
        if self._tasks:  # the watcher and the demo stop on _stop; a grace, then cancel
            _, running = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for task in running:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        while self._closers:
            closer = self._closers.pop()
            try:
                result = closer()
                if result is not None:
                    await result
            except Exception as exc:  # keep closing the rest
                log.warning("runtime: error while stopping: %s", exc)


class Runtime:
    """``Services`` on a dedicated event loop in a daemon thread (for Panel and notebooks)."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.settings = settings
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.services: Services | None = None
        self._thread = threading.Thread(target=self._run, name="ctas7-runtime", daemon=True)
        self._ready: Future[Services] = Future()
        self._stopped = threading.Event()

    def start(self, timeout: float = 120.0) -> Runtime:
        """Start the services; return when they are up (or raise what stopped them)."""
        self._thread.start()
        self.services = self._ready.result(timeout)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()
            self._stopped.set()

    async def _main(self) -> None:
        try:
            services = Services(self.settings, **self.options)
            await services.start()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await services.close()
            self._ready.set_exception(exc)
            return
        self._ready.set_result(services)
        try:
            await services.wait()
        finally:
            await services.close()

    def call(self, coro: Awaitable[T]) -> Future[T]:
        """Run a coroutine on the runtime's loop; returns a concurrent Future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def stop(self, timeout: float = 30.0) -> None:
        if self.services is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.services.stop)
        self._stopped.wait(timeout)

    @property
    def bus(self) -> Any:
        return self.services.bus if self.services else None

    @property
    def store(self) -> Any:
        return self.services.store if self.services else None


_lock = threading.Lock()
_runtime: Runtime | None = None


def stop_before_thread_pools_end(stop: Callable[[], None]) -> None:
    """Call ``stop`` at interpreter exit *before* the thread pools' workers end.

    Closing the services hands blocking work (the store's last writes, the sync node's
    connection, the embedded server's stop) to the loop's thread pool. At exit Python first
    tells every pool worker to finish (``concurrent.futures`` registers that with
    ``threading._register_atexit``, which runs before ``atexit``), and a pool whose workers have
    finished refuses new work ("cannot schedule new futures after shutdown"). So the runtime
    registers its stop the same way, later, which makes it run first (those hooks run last
    registered, first called). ``atexit`` is the fallback where that hook does not exist.
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(stop)
        return
    try:
        register(stop)
    except RuntimeError:  # already shutting down
        atexit.register(stop)


def get_runtime(settings: Settings | None = None, **options: Any) -> Runtime:
    """The process's one runtime, started on first call (later calls return it)."""
    global _runtime
    with _lock:
        if _runtime is None:
            if settings is None:
                import os

                settings = Settings.from_env(os.environ)
            runtime = Runtime(settings, **options)
            runtime.start()
            stop_before_thread_pools_end(runtime.stop)
            _runtime = runtime
        return _runtime


__all__ = ["Runtime", "Services", "Status", "get_runtime"]
