"""Everything in one process: the database, bus, store, Schema Sync watcher, Telemetry Bridge,
websocket gateway, Legion, Neural Mux and (optionally) the demo activity.

``build_services(settings, parts)`` is the composition root: every process assembles the system
there (``ctas7 serve`` and ``ctas7 demo``, ``ctas7 bridge``, ``ctas7 schema sync|watch``, the
dashboard's development stand-in, the notebooks), choosing its ``Parts``. ``Services`` is the
async core: ``async with build_services(settings) as s: await s.wait()``. ``Runtime`` runs the
same services on their own event loop in a background thread, so a Panel server or a notebook
stays responsive; ``get_runtime(settings, parts=...)`` returns the one runtime of the process
(started on first use, stopped at exit).

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
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from ctas7_panel.errors import ConfigError, Ctas7Error
from ctas7_panel.events import Event
from ctas7_panel.settings import Settings

if TYPE_CHECKING:
    from ctas7_panel.bridge.bridge import TelemetryBridge
    from ctas7_panel.bridge.delivery import RetryPolicy
    from ctas7_panel.demo import DemoActivity, DemoConfig
    from ctas7_panel.embedded import EmbeddedPostgres
    from ctas7_panel.legion import LegionExecutionEngine
    from ctas7_panel.mux.service import NeuralMux
    from ctas7_panel.schema.sync import SchemaSyncNode
    from ctas7_panel.store import EventStore
    from ctas7_panel.streams.bus import Bus
    from ctas7_panel.streams.gateway import Gateway

log = logging.getLogger(__name__)
T = TypeVar("T")
STOP_GRACE_S = 5.0  # how long the producers get to finish their current step at a stop


class ComponentState(TypedDict):
    """One component's state in ``Status``."""

    up: bool
    since: float  # unix s: since when it is in this state
    detail: str


@dataclass
class Status:
    """What is up, since when (unix s) — shown in the dashboard's status bar."""

    components: dict[str, ComponentState] = field(default_factory=dict)

    def set(self, name: str, up: bool, detail: str = "") -> None:
        prev = self.components.get(name)
        since = prev["since"] if prev and prev["up"] == up else time.time()
        self.components[name] = {"up": up, "since": since, "detail": detail}


@dataclass(frozen=True)
class Parts:
    """Which parts of the system a process runs, and their options (``build_services``).

    The default is everything (``ctas7 serve``, the app, notebooks). ``ctas7 bridge`` runs the
    store, bus, bridge and gateway (``Parts.bridge_only(...)``); ``ctas7 schema watch`` the
    store and, unless it is in-memory, the bus (``Parts.store_and_bus(...)``); the dashboard's
    development stand-in the store, bus and bridge.
    """

    database: bool = True  # resolve the database (configured, or the embedded one)
    bus: bool = True
    bridge: bool = True
    mux: bool = True
    gateway: bool = True
    sync: bool = True  # the DDL trigger, a first sync pass, the watcher
    legion: bool = True
    demo: bool | None = None  # None: on when the database is embedded
    # options of the parts
    demo_config: DemoConfig | None = None
    run_test_suite: bool = True
    forward: Mapping[str, str] | None = None  # target -> ws:// URL (see build_targets)
    retry: RetryPolicy | None = None  # the bridge's (None: its defaults)
    metrics_interval: float | None = 5.0  # seconds between bridge_metrics events (None: none)
    worker: str | None = None  # the bridge's consumer name (None: host:pid)
    drain_timeout: float = 10.0
    bridge_consumes: bool = True  # False: deliver only what it is given (ctas7 dlq replay)
    claim_idle: float | None = None  # Bus.claim_idle (None: the bus's default)
    bus_capacity: int | None = None  # the memory bus's per-group bound (None: its default)
    gateway_port: int | None = None  # every endpoint on this port (None: CTAS7_GATEWAY_PORT)
    gateway_ports: Mapping[str, int] | None = None  # per endpoint (ctas7 bridge --port)
    gateway_required: bool = False  # False: ports taken -> run without it (a sibling has it)

    @classmethod
    def bridge_only(cls, **options: Any) -> Parts:
        """Store, bus, bridge and (unless ``gateway=False``) the gateway."""
        base = {"database": False, "mux": False, "sync": False, "legion": False, "demo": False}
        return cls(**{**base, **options})

    @classmethod
    def store_and_bus(cls, *, bus: bool = True) -> Parts:
        """The store and (unless ``bus=False``) the bus: what a producer needs."""
        return cls(
            database=False,
            bus=bus,
            bridge=False,
            mux=False,
            gateway=False,
            sync=False,
            legion=False,
            demo=False,
        )


def build_services(settings: Settings, parts: Parts | None = None) -> Services:
    """The composition root: the system of ``settings`` with ``parts`` (default: all), not
    started (``async with build_services(...) as services``). ``ctas7 serve``, ``ctas7
    bridge``, ``ctas7 schema watch``, the dashboard's development stand-in and the notebooks
    all assemble the system here."""
    return Services(settings, parts=parts or Parts())


class Services:
    """The assembled system on the current event loop. ``async with`` starts and stops it.

    Build it with ``build_services(settings, parts)``; the keyword options are the ``Parts``
    fields most callers set (``demo``, ``gateway``, ...), kept for them."""

    def __init__(
        self,
        settings: Settings,
        *,
        parts: Parts | None = None,
        demo: bool | None = None,
        gateway: bool | None = None,
        demo_config: DemoConfig | None = None,
        run_test_suite: bool | None = None,
        forward: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        metrics_interval: float | None = None,
        gateway_port: int | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "demo": demo,
            "gateway": gateway,
            "demo_config": demo_config,
            "run_test_suite": run_test_suite,
            "forward": forward,
            "retry": retry,
            "metrics_interval": metrics_interval,
            "gateway_port": gateway_port,
        }
        parts = parts or Parts()
        parts = dataclasses.replace(parts, **{k: v for k, v in options.items() if v is not None})
        self.settings = settings
        self.parts = parts
        self.demo_enabled = parts.demo if parts.demo is not None else settings.database_url is None
        self.gateway_enabled = parts.gateway
        # all endpoints on one port (0: any free one); default CTAS7_GATEWAY_PORT
        self.gateway_port = (
            settings.gateway_port if parts.gateway_port is None else parts.gateway_port
        )
        self.status = Status()
        self.database_url: str | None = None
        self.embedded: EmbeddedPostgres | None = None
        self.store: EventStore | None = None
        self.bus: Bus | None = None
        self.bridge: TelemetryBridge | None = None
        self.gateway: Gateway | None = None
        self.legion: LegionExecutionEngine | None = None
        self.mux: NeuralMux | None = None
        self.sync_node: SchemaSyncNode | None = None
        self.demo: DemoActivity | None = None
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
        from ctas7_panel.store import open_store

        s, parts = self.settings, self.parts
        if parts.database:
            from ctas7_panel.embedded import resolve_database

            self.database_url, embedded = await asyncio.to_thread(
                resolve_database, s.database_url, s.home
            )
            self.embedded = embedded
            if embedded is not None:
                self._closers.append(lambda: asyncio.to_thread(embedded.stop))
            self.status.set("database", True, "embedded" if embedded else "configured")
        else:
            self.database_url = s.database_url

        store = self.store = await asyncio.to_thread(open_store, s.store_url)
        self._closers.append(lambda: asyncio.to_thread(store.close))
        self.status.set("store", True, s.store_url.split("://", 1)[0])

        if parts.bus:
            self.bus = self._open_bus()
            await self.bus.start()
            self._closers.append(self.bus.close)
            self.status.set("bus", True, s.bus_url.split("://", 1)[0])

        await self._start_consumers()
        await self._start_producers()

    def _open_bus(self) -> Bus:
        from ctas7_panel.streams import open_bus

        parts = self.parts
        if parts.bus_capacity is not None and self.settings.bus_url.startswith("memory"):
            from ctas7_panel.streams.bus import MemoryBus

            return MemoryBus(capacity=parts.bus_capacity, overflow_sink=self.keep_dead_letter)
        return open_bus(
            self.settings.bus_url, overflow_sink=self.keep_dead_letter, claim_idle=parts.claim_idle
        )

    def running(self) -> tuple[Bus, EventStore]:
        """The bus and the store (after ``start``; raises ``ConfigError`` before)."""
        if self.bus is None or self.store is None:
            raise ConfigError("the services are not started (or run without a bus): start them")
        return self.bus, self.store

    async def keep_dead_letter(self, event: Event, target: str, reason: str) -> None:
        """A dead letter in the store (bus overflow, a consumer's rejected event)."""
        assert self.store is not None
        await asyncio.to_thread(self.store.add_dead_letter, event, target, reason)

    async def _start_consumers(self) -> None:
        parts = self.parts
        if parts.bridge:
            await self._start_bridge()
        if parts.mux:
            from ctas7_panel.mux.service import NeuralMux

            bus, _ = self.running()
            self.mux = NeuralMux(settings=self.settings, bus=bus, dead_letter=self.keep_dead_letter)
            await self.mux.start()
            self._closers.append(self.mux.close)
            self.status.set("neural_mux", True)
        if parts.gateway:
            await self._start_gateway()

    async def _start_bridge(self) -> None:
        from ctas7_panel.bridge.bridge import TelemetryBridge
        from ctas7_panel.bridge.routes import load_routes
        from ctas7_panel.bridge.targets import build_targets
        from ctas7_panel.graph.target import register_graph

        s, parts = self.settings, self.parts
        bus, store = self.running()
        targets = build_targets(s, bus, forward=dict(parts.forward or {}))
        routes = register_graph(
            s, targets, load_routes(s.routes_path), database_url=self.database_url
        )  # CTAS_DB_URL: the schema graph's SurrealDB mirror (issue 18)
        self.bridge = TelemetryBridge(
            bus,
            store,
            targets=targets,
            routes=routes,
            retry=parts.retry,
            worker=parts.worker,
            metrics_interval=parts.metrics_interval,
            drain_timeout=parts.drain_timeout,
        )
        await self.bridge.start(consume=parts.bridge_consumes)
        self._closers.append(self.bridge.close)
        self.status.set("bridge", True)

    async def _start_gateway(self) -> None:
        from ctas7_panel.bridge.bridge import gateway_metrics_text
        from ctas7_panel.streams.gateway import Gateway, GatewayConfig

        s, parts = self.settings, self.parts
        bus, store = self.running()
        config = GatewayConfig.from_settings(
            s, single_port=self.gateway_port, ports=parts.gateway_ports
        )
        bridge = self.bridge
        gateway = Gateway(
            s,
            bus,
            store=store,
            metrics=bridge.metrics_text if bridge is not None else gateway_metrics_text,
            config=config,
            store_health=bridge.store_health if bridge is not None else None,
        )
        try:
            await gateway.start()
        except ConfigError as exc:
            await gateway.close()
            if parts.gateway_required:
                raise
            # its ports are taken: typically a sibling process (panel serve --num-procs, or
            # several dashboards on one Redis bus) already serves them; run without it
            log.warning("runtime: no websocket gateway in this process: %s", exc)
            self.status.set("gateway", False, str(exc))
        else:
            self.gateway = gateway
            self._closers.append(gateway.close)
            self.status.set("gateway", True)

    async def _start_producers(self) -> None:
        s, parts = self.settings, self.parts
        if parts.sync or parts.legion or self.demo_enabled:
            if self.database_url is None:
                raise ConfigError(
                    "the schema watcher, Legion and the demo need a database: set "
                    "CTAS7_DATABASE_URL or run with the embedded one"
                )
        database_url = self.database_url or ""
        if parts.sync:
            from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig

            await asyncio.to_thread(self._install_trigger)
            self.sync_node = SchemaSyncNode(
                SyncConfig.from_settings(s, database_url), bus=self.bus, store=None
            )
            self._closers.append(self.sync_node.close)
            # one pass before Legion starts, so it loads a snapshot that exists
            first = await self.sync_node.sync(trigger="startup")
            self.status.set("schema_sync", first.event_type != "schema_error", first.event_type)
            self._spawn(self.sync_node.watch(self._stop), "schema-watch")

        if parts.legion:
            from ctas7_panel.legion import LegionExecutionEngine

            self.legion = LegionExecutionEngine(database_url, settings=s, bus=self.bus)
            await self.legion.start()
            self._closers.append(self.legion.close)
            self.status.set("legion", True)

        if self.demo_enabled:
            from ctas7_panel.demo import DemoActivity, DemoConfig

            bus, _ = self.running()
            test_env = None
            if parts.run_test_suite:
                store = s.store_path  # the test run has its own working directory
                test_env = {
                    "CTAS7_STORE_URL": f"sqlite:///{store.resolve()}" if store else s.store_url,
                    "CTAS7_BUS_URL": s.bus_url,
                }
                if self.gateway is not None:
                    test_env["CTAS7_BRIDGE_URL"] = self.gateway.url("telemetry_bridge")

            async def publish(event: Event) -> None:
                await bus.publish(event, topic="events")

            self.demo = DemoActivity(
                database_url,
                legion=self.legion,
                config=parts.demo_config or DemoConfig(),
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
    """``Services`` on a dedicated event loop in a daemon thread (for Panel and notebooks):
    ``Runtime(settings, parts=Parts(...)).start()``; ``options`` are ``Services``' keyword
    shortcuts (``demo=``, ``gateway=``, ...)."""

    def __init__(self, settings: Settings, *, parts: Parts | None = None, **options: Any) -> None:
        self.settings = settings
        self.parts = parts
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
            services = Services(self.settings, parts=self.parts, **self.options)
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
    def bus(self) -> Bus | None:
        return self.services.bus if self.services else None

    @property
    def store(self) -> EventStore | None:
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


def get_runtime(
    settings: Settings | None = None, *, parts: Parts | None = None, **options: Any
) -> Runtime:
    """The process's one runtime (``build_services(settings, parts)`` on its own loop), started
    on first call (later calls return it)."""
    global _runtime
    with _lock:
        if _runtime is None:
            if settings is None:
                import os

                settings = Settings.from_env(os.environ)
            runtime = Runtime(settings, parts=parts, **options)
            runtime.start()
            stop_before_thread_pools_end(runtime.stop)
            _runtime = runtime
        return _runtime


__all__ = [
    "ComponentState",
    "Parts",
    "Runtime",
    "Services",
    "Status",
    "build_services",
    "get_runtime",
]
