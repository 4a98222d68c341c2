"""``GraphStore``: the SurrealDB mirror (``CTAS_DB_URL``), embedded or a server. Async.

URLs: ``surrealkv://PATH`` (an embedded store on disk; relative paths are resolved against
the working directory), ``mem://`` (embedded, in memory, gone at close) and ``ws://HOST:PORT``
/ ``wss://...`` (a SurrealDB server; ``ws://user:pass@host:8000`` signs in as that user).
``?ns=NAME&db=NAME`` picks the namespace and database (default ``ctas7`` / ``graph``).

The client is the optional extra ``ctas7-panel[graph]`` (``surrealdb`` 2.0.x), imported only
when a store is opened. Its async engine runs off the event loop thread (its blocking twin
holds the GIL for a whole query: seconds on a big load). ``open()`` takes the store's lock
(embedded on disk: one owner, see ``storelock``), connects and defines the mirror's schema;
``close()`` always closes the engine (a live embedded engine at interpreter exit aborts the
process) and releases the lock. Use ``async with GraphStore(url) as store``.

``query()`` sends several statements at once with ``query_raw`` (``query`` would return only
the first statement's result) and raises ``DatabaseError`` naming the first failed statement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ctas7_panel.errors import ConfigError, DatabaseError
from ctas7_panel.graph import surql
from ctas7_panel.graph.delta import DeltaMismatch, GraphDelta, apply_delta, graph_delta
from ctas7_panel.graph.mirror import (
    STATE_QUERY,
    MirrorState,
    SyncPlan,
    plan_delta,
    plan_event,
    plan_sync,
)
from ctas7_panel.graph.model import Graph, NodeId
from ctas7_panel.graph.storelock import StoreLock
from ctas7_panel.graph.surql import node_key

log = logging.getLogger(__name__)

SCHEMES = ("surrealkv", "mem", "memory", "ws", "wss")


@dataclass(frozen=True, slots=True)
class GraphUrl:
    """A parsed ``CTAS_DB_URL``."""

    scheme: str
    engine_url: str  # what the client is given
    path: Path | None  # the store directory of surrealkv://
    namespace: str
    database: str
    username: str | None = None
    password: str | None = None

    @property
    def embedded(self) -> bool:
        return self.scheme in ("surrealkv", "mem", "memory")

    def __repr__(self) -> str:
        return f"GraphUrl({self.shown!r})"

    @property
    def shown(self) -> str:
        """The URL without its password, for messages."""
        if self.path is not None:
            return f"surrealkv://{self.path}"
        if self.scheme in ("mem", "memory"):
            return "mem://"
        parts = urlsplit(self.engine_url)
        user = f"{self.username}:***@" if self.username else ""
        return f"{parts.scheme}://{user}{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def parse_graph_url(url: str) -> GraphUrl:
    """Parse and check ``url``; ``ConfigError`` naming what is wrong and the accepted forms."""
    forms = "surrealkv://PATH, mem:// or ws://HOST:8000"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ConfigError(f"graph store URL {url[:80]!r} is not supported: use {forms}")
    rest = url.split("://", 1)[1]
    body, _, query = rest.partition("?")
    params = parse_qs(query)
    ns = (params.get("ns") or [surql.NAMESPACE])[0]
    db = (params.get("db") or [surql.DATABASE])[0]
    if scheme == "surrealkv":
        if not body.strip():
            raise ConfigError(f"graph store URL {url!r} names no directory: use surrealkv://PATH")
        path = Path(unquote(body)).expanduser().resolve()
        return GraphUrl(scheme, f"surrealkv://{path}", path, ns, db)
    if scheme in ("mem", "memory"):
        return GraphUrl("mem", "mem://", None, ns, db)
    parts = urlsplit(f"{scheme}://{body}")
    if not parts.hostname:
        raise ConfigError(f"graph store URL {url[:80]!r} names no host: use {forms}")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return GraphUrl(
        scheme,
        f"{scheme}://{netloc}{parts.path or '/rpc'}",
        None,
        ns,
        db,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )


def _client() -> Any:
    try:
        import surrealdb
    except ImportError as exc:
        raise ConfigError(
            "the SurrealDB mirror needs the optional extra: pip install 'ctas7-panel[graph]' "
            "(or unset CTAS_DB_URL; the impact analysis runs in-process without it)"
        ) from exc
    return surrealdb


class GraphStore:
    """The mirror (see the module docstring)."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.url = parse_graph_url(url)
        self.connect_timeout = connect_timeout
        self._db: Any = None
        self._lock = StoreLock(self.url.path) if self.url.path is not None else None
        self._serial = asyncio.Lock()
        # the state this writer last wrote, and the generation it wrote it under
        self._cache: tuple[int, MirrorState, Graph | None] | None = None

    async def __aenter__(self) -> GraphStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def is_open(self) -> bool:
        return self._db is not None

    async def open(self) -> None:
        if self._db is not None:
            return
        client = _client()
        if self._lock is not None:
            self._lock.acquire()
        db: Any = None
        try:
            db = client.AsyncSurreal(self.url.engine_url)
            async with asyncio.timeout(self.connect_timeout):
                await db.connect()
                if self.url.username:
                    await db.signin(
                        {"username": self.url.username, "password": self.url.password or ""}
                    )
                await db.use(self.url.namespace, self.url.database)
        except (Exception, TimeoutError) as exc:
            if db is not None and self.url.embedded:
                try:
                    await db.close()
                except Exception:
                    pass
            if self._lock is not None:
                self._lock.release()
            why = "no answer" if isinstance(exc, TimeoutError) else _reason(exc)
            raise DatabaseError(
                f"cannot open the graph store {self.url.shown}: {why} "
                "(is the SurrealDB server running and the URL right?)"
            ) from exc
        self._db = db
        try:
            await self.query(surql.schema_statements())
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        db, self._db = self._db, None
        try:
            if db is not None:
                try:
                    await db.close()
                except Exception:
                    pass
        finally:
            if self._lock is not None:
                self._lock.release()

    async def query_raw(
        self, text: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every statement's ``{"status", "result", "time"}``; ``DatabaseError`` on a parse
        error or a lost connection (a failed statement is reported in its status)."""
        if self._db is None:
            raise DatabaseError(f"graph store {self.url.shown} is not open: call open() first")
        async with self._serial:
            try:
                response = await self._db.query_raw(text, dict(params or {}))
            except Exception as exc:
                raise DatabaseError(f"graph store {self.url.shown}: {_reason(exc)}") from exc
        if "error" in response:
            raise DatabaseError(f"graph store {self.url.shown}: {response['error']}")
        results = response.get("result")
        if not isinstance(results, list):
            raise DatabaseError(
                f"graph store {self.url.shown}: unexpected answer {response!r:.200}"
            )
        return results

    async def query(self, text: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The result of every statement; ``DatabaseError`` naming the first that failed."""
        results = await self.query_raw(text, params)
        for i, r in enumerate(results, start=1):
            if r.get("status") != "OK":
                raise DatabaseError(
                    f"graph store {self.url.shown}: statement {i} failed: {r.get('result')}"
                )
        return [r.get("result") for r in results]

    async def state(self) -> MirrorState:
        """What the mirror holds (read back in full: seconds for 16,000 nodes)."""
        return MirrorState.from_results(await self.query(STATE_QUERY))

    async def _current(self) -> tuple[int, MirrorState, Graph | None]:
        """The mirror's generation and state, and the graph last written: the copy this writer
        keeps when the mirror is still at the generation it wrote last, else the state read
        back in full (and no graph)."""
        (generation,) = await self.query("RETURN (SELECT VALUE generation FROM ONLY mirror:state);")
        gen = generation if isinstance(generation, int) else 0
        if self._cache is not None and self._cache[0] == gen:
            return self._cache
        self._cache = None
        return gen, await self.state(), None

    @property
    def graph(self) -> Graph | None:
        """The graph this writer last mirrored (None before its first sync)."""
        return None if self._cache is None else self._cache[2]

    @property
    def kept_state(self) -> MirrorState | None:
        """The mirror's state as this writer last wrote it (None before its first sync)."""
        return None if self._cache is None else self._cache[1]

    async def sync(
        self, graph: Graph, *, version: Mapping[str, Any] | None = None, at: float | None = None
    ) -> SyncPlan:
        """Bring the mirror to ``graph`` in one transaction: the delta from the graph this
        writer last wrote (``delta.graph_delta``, ``mirror.plan_delta``), or from the state read
        back when it has none (``mirror.plan_sync``)."""
        gen, state, last = await self._current()
        when = time.time() if at is None else at
        if last is not None:
            plan = plan_delta(
                state, graph_delta(last, graph), graph, at=when, version=version,
                generation=gen + 1,
            )  # fmt: skip
        else:
            plan = plan_sync(state, graph, at=when, version=version, generation=gen + 1)
        await self._write(plan, gen, graph)
        return plan

    async def apply(
        self, delta: GraphDelta, *, version: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> SyncPlan | None:  # fmt: skip
        """Write ``delta`` when it starts from the graph this writer last mirrored (and the
        mirror is still at the generation it wrote): no graph is read or compared. None when
        it does not apply (no graph kept, another writer moved on, another start): the caller
        reads the whole graph and calls ``sync``."""
        gen, state, last = await self._current()
        if last is None:
            return None
        try:
            graph = apply_delta(last, delta)
        except DeltaMismatch as exc:
            log.info("graph delta not applied (%s); the whole graph is compared instead", exc)
            return None
        when = time.time() if at is None else at
        plan = plan_delta(state, delta, graph, at=when, version=version, generation=gen + 1)
        await self._write(plan, gen, graph)
        return plan

    async def _write(self, plan: SyncPlan, gen: int, graph: Graph) -> None:
        try:
            await self.query(plan.text)
        except BaseException:
            self._cache = None
            raise
        self._cache = (gen + 1, plan.next_state, graph)

    async def record_event(
        self,
        event_id: str,
        event_type: str,
        timestamp: float,
        source_node: str,
        payload: Mapping[str, Any],
    ) -> bool:
        """Write one event's lineage; False for event types the mirror ignores."""
        text = plan_event(event_id, event_type, timestamp, source_node, payload)
        if not text:
            return False
        await self.query(text)
        name = payload.get("name")
        if event_type == "task_executed" and self._cache is not None and isinstance(name, str):
            gen, state, graph = self._cache  # the run may have created a placeholder task node
            key = node_key(NodeId("legion_task", "", name))
            if key not in state.nodes and key not in state.observed:
                self._cache = (gen, replace(state, observed=state.observed | {key}), graph)
        return True

    async def current_hash(self) -> str | None:
        (value,) = await self.query("RETURN (SELECT VALUE hash FROM ONLY mirror:state);")
        return value if isinstance(value, str) else None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]
