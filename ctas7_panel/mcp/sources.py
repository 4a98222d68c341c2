"""Where the MCP server's answers come from: the live schema and the telemetry (thin I/O).

``SchemaSource.current(schemas)`` is the schema as it is *now*: every call runs the catalog probe
(``schema/sql/catalog_probe.sql``, one query on a kept connection) and introspects again only when
a catalog row changed since the cached state, so an answer is never stale and repeated reads cost
one query. States are cached per schema selection (a few). Each version of the default selection
that the server sees is archived as a snapshot file (``CTAS7_HOME/mcp/snapshots/<hash>.json``,
newest ``ARCHIVE_KEEP`` kept), so ``schema_diff`` can compare any two versions seen.

``Telemetry`` reads the event store, the bridge's metrics and the runtime's component status.
Both are blocking and thread-safe: the tools call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ctas7_panel import pgtools
from ctas7_panel.errors import ArtifactError, Ctas7Error, DatabaseError, SchemaError
from ctas7_panel.settings import redact_url

if TYPE_CHECKING:
    import psycopg

    from ctas7_panel.events import Event
    from ctas7_panel.graph.model import Graph
    from ctas7_panel.schema.model import Catalog
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.typegen_meta import Generated
    from ctas7_panel.settings import Settings
    from ctas7_panel.store import DeadLetter, EventStore
    from ctas7_panel.store_writer import StoreHealth

log = logging.getLogger(__name__)

ARCHIVE_KEEP = 100
MAX_CACHED = 4
T = TypeVar("T")
Key = tuple[str, ...] | None  # a schema selection (None: every non-system schema)


class LiveState:
    """One version of the schema: catalog, snapshot, fingerprint. The generated types (one file
    per language) and the dependency graph are made on first use (a change notification or a
    table listing never waits for a generator)."""

    def __init__(self, catalog: Catalog, options: TypegenOptions, *, typed: bool = False) -> None:
        from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

        self.catalog = catalog
        self.options = options
        self.snapshot = to_snapshot(catalog)
        self.fingerprint = fingerprint(self.snapshot)
        self.table_count = int(self.snapshot["table_count"])
        self.server_version = catalog.server_version
        # the catalog with its type list (Python, Go, Swift need it), once read
        self.typed: Catalog | None = catalog if typed else None
        self._files: dict[str, Generated] = {}
        self._graph: tuple[Any, Graph] | None = None  # (its inputs, the graph)
        self._lock = threading.Lock()

    @property
    def types(self) -> str:
        """The TypeScript file (the seed's types file)."""
        return self.generated("typescript").text

    def generated(self, lang: str) -> Generated:
        """The ``lang`` file as ``ctas7 schema typegen --lang`` writes it, with its deviations
        from Supabase's; Python, Go and Swift need ``typed`` (``SchemaSource.generated``)."""
        from ctas7_panel.schema.languages import needs_type_list, render

        with self._lock:
            done = self._files.get(lang)
            if done is None:
                catalog = self.typed if needs_type_list(lang) else self.catalog
                if catalog is None:
                    raise SchemaError(
                        f"the {lang} types need the catalog's type list: use "
                        "SchemaSource.generated, which reads it"
                    )
                done = self._files[lang] = render(lang, catalog, self.options)
            return done

    @property
    def types_hash(self) -> str:
        from ctas7_panel.schema.snapshot import types_hash

        return types_hash(self.types)

    def graph(self, inputs: Any, build: Callable[[], Graph]) -> Graph:
        """The dependency graph of this version for ``inputs`` (``build`` makes it once)."""
        with self._lock:
            if self._graph is not None and self._graph[0] == inputs:
                return self._graph[1]
        made = build()
        with self._lock:
            self._graph = (inputs, made)
        return made


class SchemaSource:
    """The live schema of one database, probe-checked on every read (see the module doc)."""

    def __init__(
        self,
        db_url: str,
        *,
        options: TypegenOptions | None = None,
        archive_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from ctas7_panel.schema.options import TypegenOptions

        self.db_url = db_url
        self.options = options or TypegenOptions()
        self.archive_dir = archive_dir
        self.clock = clock
        self.last_change: float | None = None  # when the default fingerprint was seen to move
        self.fingerprint: str | None = None  # of the default selection, last seen
        self.previous: str | None = None  # the fingerprint before the last change seen
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._states: OrderedDict[Key, tuple[str, int, LiveState]] = OrderedDict()
        self._generation = 0  # bumped by invalidate(), lock-free (called from the event loop)

    @property
    def default_key(self) -> Key:
        return self.options.schemas

    def key_for(self, schemas: Sequence[str] | None) -> Key:
        """The selection for a request: the default one, or the sorted names given."""
        if schemas is None:
            return self.default_key
        names = tuple(sorted({s for s in schemas if s}))
        if not names:
            raise SchemaError("schemas is empty: name at least one schema, or leave it out")
        return names

    def current(self, key: Key | str = "default") -> LiveState:
        """The schema state for ``key`` (the default selection unless given), fresh as of now.

        A kept connection that the server dropped (restart, idle timeout, terminated backend) is
        reopened once; a database that cannot be reached is a ``DatabaseError`` naming it.
        """
        wanted: Key = self.default_key if key == "default" else key  # type: ignore[assignment]
        with self._lock:
            try:
                state = self._current(wanted)
            except DatabaseError:
                raise
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                log.info("mcp: the schema connection was lost (%s); reconnecting", exc)
                try:
                    state = self._current(wanted)
                except Exception as again:
                    if _is_connection_error(again):
                        raise DatabaseError(
                            f"lost the database {redact_url(self.db_url)}: {again}"
                        ) from again
                    raise
        if wanted == self.default_key:
            self._seen(state)
        return state

    def _current(self, wanted: Key) -> LiveState:
        conn = self._connection()
        try:
            generation = self._generation
            probe = _probe(conn)
            cached = self._states.get(wanted)
            if cached is not None and cached[:2] == (probe, generation):
                self._states.move_to_end(wanted)
                return cached[2]
            state = self._inspect(conn, wanted)
        except BaseException:
            self._drop()
            raise
        self._states[wanted] = (probe, generation, state)
        self._states.move_to_end(wanted)
        while len(self._states) > MAX_CACHED:
            self._states.popitem(last=False)
        return state

    def generated(self, lang: str, key: Key | str = "default") -> tuple[Generated, str]:
        """The ``lang`` types file of the schema now, and the fingerprint it was made from.

        TypeScript comes from the state ``current`` reads; Python, Go and Swift need the
        catalog's type list, read once per version (on the kept connection) and kept with it.
        """
        from ctas7_panel.schema.languages import check_language, needs_type_list

        check_language(lang)
        state = self.current(key)
        if not needs_type_list(lang) or state.typed is not None:
            return state.generated(lang), state.fingerprint
        typed = self._read(lambda conn: self._inspect(conn, state.options.schemas, typed=True))
        if typed.fingerprint == state.fingerprint:
            state.typed = typed.catalog  # the same version: keep the type list with it
        return typed.generated(lang), typed.fingerprint

    def graph(self, inputs: Any, key: Key | str = "default") -> tuple[Graph, LiveState]:
        """The dependency graph of the schema now (``ctas7_panel.graph``: its snapshot, the
        ``pg_depend`` facts read on the kept connection, Legion's tasks, the types files of
        ``inputs``), made once per version."""
        from ctas7_panel.graph.live import graph_of_snapshot

        state = self.current(key)

        def build() -> Graph:
            return self._read(
                lambda conn: graph_of_snapshot(conn, state.snapshot, state.fingerprint, inputs)
            )

        return state.graph(inputs, build), state

    def _read(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``fn(conn)`` on the kept connection, reopened once if the server dropped it (as
        ``current`` does)."""
        with self._lock:
            try:
                return fn(self._connection())
            except DatabaseError:
                raise
            except Exception as exc:
                self._drop()
                if not _is_connection_error(exc):
                    raise
                log.info("mcp: the schema connection was lost (%s); reconnecting", exc)
            try:
                return fn(self._connection())
            except DatabaseError:
                raise
            except Exception as again:
                self._drop()
                if _is_connection_error(again):
                    raise DatabaseError(
                        f"lost the database {redact_url(self.db_url)}: {again}"
                    ) from again
                raise

    def _inspect(
        self, conn: psycopg.Connection[Any], key: Key, *, typed: bool = False
    ) -> LiveState:
        import dataclasses

        from ctas7_panel.schema.introspect import introspect

        options = dataclasses.replace(self.options, schemas=key)
        return LiveState(introspect(conn, options, type_list=typed), options, typed=typed)

    def _seen(self, state: LiveState) -> None:
        if state.fingerprint != self.fingerprint:
            if self.fingerprint is not None:
                self.last_change = self.clock()
                self.previous = self.fingerprint
            self.fingerprint = state.fingerprint
            self.archive(state.fingerprint, state.snapshot)

    def invalidate(self) -> None:
        """Forget the cached states (the next read introspects even if the probe agrees).
        Does not wait for a read in progress (safe to call from the event loop)."""
        self._generation += 1

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = pgtools.connect(self.db_url)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    # -- the archive of versions seen

    def archive(self, fingerprint: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` as ``<archive>/<fingerprint>.json`` (atomic; newest kept)."""
        if self.archive_dir is None:
            return
        from ctas7_panel.atomic import atomic_write
        from ctas7_panel.schema.snapshot import canonical_json

        path = self.archive_dir / f"{fingerprint}.json"
        try:
            if not path.exists():
                self.archive_dir.mkdir(parents=True, exist_ok=True)
                atomic_write(path, canonical_json(snapshot))
            old = sorted(self.archive_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-ARCHIVE_KEEP]:
                stale.unlink(missing_ok=True)
        except (OSError, Ctas7Error) as exc:
            log.warning("mcp: cannot archive schema version %s: %s", fingerprint[:12], exc)

    def archived(self) -> list[str]:
        if self.archive_dir is None or not self.archive_dir.is_dir():
            return []
        return [p.stem for p in self.archive_dir.glob("*.json")]

    def load_archived(self, fingerprint: str) -> dict[str, Any] | None:
        from ctas7_panel.schema.snapshot import load_snapshot

        if self.archive_dir is None:
            return None
        path = self.archive_dir / f"{fingerprint}.json"
        if not path.is_file():
            return None
        try:
            return load_snapshot(path)
        except ArtifactError as exc:
            log.warning("mcp: archived version %s unreadable: %s", fingerprint[:12], exc)
            return None

    def adopt_record(self, path: str | Path) -> None:
        """Archive the sync node's snapshot record (the schema the types were made from)."""
        from ctas7_panel.schema.snapshot_file import read_snapshot_file

        try:
            loaded = read_snapshot_file(path)
        except ArtifactError:
            return
        if loaded.record is not None:
            self.archive(loaded.fingerprint, loaded.snapshot)


def _probe(conn: psycopg.Connection[Any]) -> str:
    from ctas7_panel.schema.decision import catalog_probe

    return catalog_probe(conn)


def _is_connection_error(exc: BaseException | None) -> bool:
    import psycopg

    while exc is not None:
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
            return True
        exc = exc.__cause__
    return False


# --- telemetry --------------------------------------------------------------------------------

MetricsFn = Callable[[], dict[str, Any] | None]
ComponentsFn = Callable[[], dict[str, dict[str, Any]]]
ReplayFn = Callable[[Sequence[int] | None], Awaitable[int]]
HealthFn = Callable[[], "StoreHealth | None"]


@dataclass
class Telemetry:
    """The event store plus, inside ``ctas7 serve``, the live bridge metrics and component status.

    ``metrics``: the bridge's in-process snapshot (None: read ``bridge_metrics`` events instead).
    ``components``: the runtime's component status (None when standalone).
    ``replay``: re-delivers dead letters (None: replay is not possible from here).
    ``store_health``: the health of this process's store writer (the bridge's, inside
    ``ctas7 serve``: what the dashboard's store chip shows); None when standalone.
    """

    store: EventStore
    metrics: MetricsFn | None = None
    components: ComponentsFn | None = None
    replay: ReplayFn | None = None
    mode: str = "standalone"
    store_health: HealthFn | None = None

    @property
    def store_kind(self) -> str:
        return {"SqliteStore": "sqlite", "PostgresStore": "postgresql"}.get(
            type(self.store).__name__, type(self.store).__name__
        )

    def writer_health(self) -> dict[str, Any] | None:
        """The store writer's ``StoreHealth`` as a dict (None: no writer in this process)."""
        health = None if self.store_health is None else self.store_health()
        return None if health is None else health.to_dict()

    def events(
        self,
        *,
        types: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        since: float | None = None,
        before_seq: int | None = None,
        limit: int = 50,
    ) -> list[tuple[int, Event]]:
        """Newest first."""
        rows = self.store.fetch(
            types=types or None,
            sources=sources or None,
            since=since,
            before_seq=before_seq,
            limit=limit,
        )
        return rows[::-1]

    def newest_seq(self) -> int:
        rows = self.store.fetch(limit=1)
        return rows[-1][0] if rows else 0

    def count(self) -> int:
        return self.store.count()

    def dead_letters(
        self, *, target: str | None = None, include_replayed: bool = False
    ) -> list[DeadLetter]:
        return self.store.dead_letters(target=target, include_replayed=include_replayed)

    def bridge_metrics(self) -> dict[str, Any]:
        """The bridge's metrics: live in-process, else the newest ``bridge_metrics`` per worker."""
        if self.metrics is not None:
            snap = self.metrics()
            if snap is not None:
                return {"source": "live", **snap}
        rows = self.events(types=["bridge_metrics"], limit=50)
        workers: dict[str, dict[str, Any]] = {}
        now = time.time()
        for _, event in rows:
            worker = str(event.payload.get("worker", event.source_node))
            if worker not in workers:
                workers[worker] = {"age_s": round(now - event.timestamp, 1), **event.payload}
        if not workers:
            return {
                "source": "events",
                "workers": {},
                "note": "no bridge_metrics event in the store yet: is a bridge running?",
            }
        delivered = sum(int(w.get("delivered") or 0) for w in workers.values())
        dead = sum(int(w.get("dead_lettered") or 0) for w in workers.values())
        settled = delivered + dead
        return {
            "source": "events",
            "delivered": delivered,
            "dead_lettered": dead,
            "success_rate": None if settled == 0 else delivered / settled,
            "workers": workers,
        }


def open_telemetry(settings: Settings) -> Telemetry:
    from ctas7_panel.store import open_store

    return Telemetry(store=open_store(settings.store_url))


def replay_standalone(settings: Settings) -> ReplayFn:
    """Replay as ``ctas7 dlq replay`` does (needs the Redis bus for bus-delivered targets)."""

    async def replay(ids: Sequence[int] | None) -> int:
        from ctas7_panel.bridge.cli import replay_dead_letters

        return await replay_dead_letters(settings, ids)

    return replay


__all__ = [
    "ARCHIVE_KEEP",
    "LiveState",
    "SchemaSource",
    "Telemetry",
    "open_telemetry",
    "replay_standalone",
]
