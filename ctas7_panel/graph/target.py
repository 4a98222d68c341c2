"""The bridge's ``graph`` target: the SurrealDB mirror follows every schema version, live.

With ``CTAS_DB_URL`` set, ``register_graph(settings, targets, routes, database_url=...)`` adds
a ``GraphTarget`` named ``graph`` and routes ``schema_updated``, ``legion_schema_telemetry`` and
``task_executed`` to it too (the event's raw payload: no transform). It is a self-contained
class plus this small registration, so the targets-as-data table (issue 16) can list it as one
entry.

On ``schema_updated`` the target takes the graph delta the Schema Sync Node's impact tracker
left for that version (``delta.read_delta``) when it starts from the graph the target mirrored
last, and writes only that (``GraphStore.apply``); otherwise (the first version, a restart,
another writer, a delta pruned or never written) it reads the database's graph (introspection,
``pg_depend``, the Legion task manifest, ``CTAS_SCHEMA_PATH``) and writes its difference from
the mirror (``GraphStore.sync``). Either way it mirrors a ``schema_version`` per new hash,
linked to the previous one and to what it added, removed or changed, carrying the event's
``impact`` and diff summary; then the lineage: ``event -produced-> schema_version``, a Legion
reload ``led_to`` from the ``schema_updated`` of its hash, task runs counted per task and hash
(``mirror.plan_event``). A failure raises ``DeliveryError``: the bridge retries with backoff and
dead-letters what never lands; the store is (re)opened lazily, so a mirror that is down or
owned by another process delays the target without stopping the bridge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from ctas7_panel.bridge.routes import RoutingTable
from ctas7_panel.bridge.targets import TargetBase
from ctas7_panel.errors import Ctas7Error, DeliveryError
from ctas7_panel.events import Event
from ctas7_panel.graph.delta import GraphDelta, read_delta
from ctas7_panel.graph.model import Graph
from ctas7_panel.streams.dedup import SeenIds

log = logging.getLogger(__name__)

GRAPH = "graph"
GRAPH_EVENTS: tuple[str, ...] = ("schema_updated", "legion_schema_telemetry", "task_executed")

GraphReader = Callable[[str | None], Graph]  # (the new hash the event announces) -> graph
# (the hash of the graph mirrored last, the new hash) -> the sync node's delta between them
DeltaReader = Callable[[str | None, str], GraphDelta | None]


class GraphTarget(TargetBase):
    """Mirrors schema versions and event lineage into a ``GraphStore`` (module docstring)."""

    name = GRAPH

    def __init__(
        self,
        store: Any,
        *,
        read_graph: GraphReader | None,
        read_delta: DeltaReader | None = None,
        seen: SeenIds | None = None,
    ) -> None:
        self.store = store
        self.read_graph = read_graph
        self.read_delta = read_delta
        self.seen = seen if seen is not None else SeenIds()
        self.duplicates = 0
        self.versions = 0
        self.from_deltas = 0  # schema_updated events mirrored from the sync node's delta
        self._lock = asyncio.Lock()

    async def deliver(self, event: Event) -> None:
        if self.seen.seen(event.event_id):
            self.duplicates += 1
            return
        async with self._lock:
            try:
                if not self.store.is_open:
                    await self.store.open()
                if event.event_type == "schema_updated":
                    await self._mirror_version(event)
                await self.store.record_event(
                    event.event_id,
                    event.event_type,
                    event.timestamp,
                    event.source_node,
                    event.payload,
                )
            except Ctas7Error as exc:
                raise DeliveryError(f"target {GRAPH}: {exc}") from exc
        self.seen.add(event.event_id)

    async def _mirror_version(self, event: Event) -> None:
        """The delta the sync node left for this version, applied to the graph mirrored last;
        else the database's graph read and compared whole."""
        new_hash = event.payload.get("new_hash")
        new = new_hash if isinstance(new_hash, str) and new_hash else None
        version = _version_fields(event)
        plan = None
        last = getattr(self.store, "graph", None)
        if self.read_delta is not None and new is not None and last is not None:
            delta = await asyncio.to_thread(self.read_delta, last.fingerprint, new)
            if delta is not None:
                plan = await self.store.apply(delta, version=version)
                self.from_deltas += int(plan is not None)
        if plan is None and self.read_graph is not None:
            graph = await asyncio.to_thread(self.read_graph, new)
            plan = await self.store.sync(graph, version=version)
        if plan is not None:
            self.versions += int(plan.new_version)

    async def close(self) -> None:
        async with self._lock:
            await self.store.close()


def _version_fields(event: Event) -> dict[str, Any]:
    p = event.payload
    return {
        "event_id": event.event_id,
        "trigger": p.get("trigger"),
        "impact": p.get("impact"),
        "diff": p.get("diff"),
        "old_hash": p.get("old_hash"),
    }


def live_reader(settings: Any, database_url: str) -> GraphReader:
    """Reads the graph of ``database_url`` with the settings' task manifest and types file.

    When the sync node's snapshot on disk (next to ``CTAS_HASH_CACHE_PATH``) is the very
    version the event announces, it is used instead of introspecting again (only the
    ``pg_depend`` facts are read); otherwise the database is introspected.
    """

    def read(new_hash: str | None) -> Graph:
        from ctas7_panel import pgtools
        from ctas7_panel.errors import ArtifactError
        from ctas7_panel.graph.live import GraphInputs, graph_of_snapshot, read_graph
        from ctas7_panel.schema.artifacts import default_snapshot_path
        from ctas7_panel.schema.snapshot_file import read_snapshot_file

        inputs = GraphInputs.from_settings(settings)
        with pgtools.connect(database_url) as conn:
            if new_hash:
                try:
                    loaded = read_snapshot_file(default_snapshot_path(settings.hash_cache_path))
                except ArtifactError:
                    loaded = None  # missing or unreadable: introspect instead
                if loaded is not None and loaded.fingerprint == new_hash:
                    return graph_of_snapshot(conn, loaded.snapshot, new_hash, inputs)
            graph, _ = read_graph(conn, inputs)
        return graph

    return read


def delta_reader(settings: Any) -> DeltaReader:
    """Reads the delta the sync node's impact tracker left next to ``CTAS_HASH_CACHE_PATH``."""

    def read(old_hash: str | None, new_hash: str) -> GraphDelta | None:
        return read_delta(settings.hash_cache_path, old_hash, new_hash)

    return read


def with_graph_routes(routes: RoutingTable) -> RoutingTable:
    """``routes`` with ``graph`` added to the targets of ``GRAPH_EVENTS``."""
    rows = {r.pattern: r.targets for r in routes.routes}
    extra = {}
    for event_type in GRAPH_EVENTS:
        targets = routes.resolve(event_type).targets if event_type not in rows else rows[event_type]
        if GRAPH not in targets:
            extra[event_type] = (*targets, GRAPH)
    return routes.merged(extra) if extra else routes


def register_graph(
    settings: Any,
    targets: MutableMapping[str, Any],
    routes: RoutingTable,
    *,
    database_url: str | None,
) -> RoutingTable:
    """Add the ``graph`` target and its routes when ``CTAS_DB_URL`` is set (else no change)."""
    url = getattr(settings, "graph_url", None)
    if not url:
        return routes
    from ctas7_panel.graph.store import GraphStore

    reader = live_reader(settings, database_url) if database_url else None
    if reader is None:
        log.warning("graph target: no database URL; only event lineage is mirrored")
    targets[GRAPH] = GraphTarget(
        GraphStore(str(url)), read_graph=reader, read_delta=delta_reader(settings)
    )
    return with_graph_routes(routes)
