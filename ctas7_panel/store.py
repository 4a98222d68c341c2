"""Append-only event history and the dead-letter store.

``open_store(url)``: SQLite (WAL) for ``sqlite:///path`` (the default,
``sqlite:///./.ctas7/events.db``), PostgreSQL for ``postgresql://...``. Both keep two tables:

- ``ctas7_events``: every event once (``event_id`` is unique: re-appending a redelivered event is
  harmless), with ``seq`` giving arrival order;
- ``ctas7_dead_letters``: events a target could not take (event, target, reason, attempts,
  first/last failure, replayed_at). One row per (event_id, target): a new failure of the same
  pair bumps ``attempts`` and ``last_failure``.

The store API is synchronous and thread-safe; ``StoreWriter`` batches appends from asyncio code
(flush every ``interval`` seconds or ``batch`` events, in a worker thread). ``load_events``
returns a pandas DataFrame (pandas is imported only there).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ctas7_panel.errors import ConfigError, StoreError
from ctas7_panel.events import Event

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("event_id", "event_type", "timestamp", "source_node", "payload")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One event a target could not take."""

    id: int
    event: Event
    target: str
    reason: str
    attempts: int
    first_failure: float
    last_failure: float
    replayed_at: float | None


class EventStore:
    """Common interface and SQL; use ``open_store(url)``. Backends differ only in connection,
    placeholder style and bulk append."""

    url: str
    _ph = "?"  # placeholder
    _payload = "payload"  # payload column as text
    _json_param = "?"  # a JSON text parameter

    def _run(
        self, sql: str, params: Sequence[Any] = (), *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def append(self, events: Iterable[Event]) -> int:
        """Append events (already-stored ids are skipped); return how many were new."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch_raw(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        types: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[tuple[Any, ...]]:
        where, params = _where(since, until, types, sources, after_seq, self._ph, before_seq)
        cols = f"seq, event_id, event_type, timestamp, source_node, {self._payload}"
        if limit is not None:
            sql = (
                f"SELECT * FROM (SELECT {cols} FROM ctas7_events{where} ORDER BY seq DESC "
                f"LIMIT {int(limit)}) AS newest ORDER BY seq"
            )
        else:
            sql = f"SELECT {cols} FROM ctas7_events{where} ORDER BY seq"
        return self._run(sql, params)

    def fetch(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        types: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
        after_seq: int | None = None,
        before_seq: int | None = None,
    ) -> list[tuple[int, Event]]:
        """Events as ``(seq, Event)`` in arrival order; ``limit`` keeps the newest N.

        ``after_seq`` / ``before_seq`` keep events whose ``seq`` is above / below (exclusive):
        paging back through the history is ``fetch(limit=N, before_seq=oldest_seen)``.
        """
        rows = self._fetch_raw(
            since=since,
            until=until,
            types=types,
            sources=sources,
            limit=limit,
            after_seq=after_seq,
            before_seq=before_seq,
        )
        return [_row_event(r) for r in rows]

    def load_events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        types: Sequence[str] | None = None,
        sources: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The history as a DataFrame: ``event_id``, ``event_type``, ``source_node`` (string),
        ``timestamp`` (UTC datetime), ``payload`` (dict), ``seq`` (int); oldest first.

        ``since``/``until`` are unix seconds (inclusive/exclusive); ``limit`` keeps the newest N.
        """
        rows = self._fetch_raw(since=since, until=until, types=types, sources=sources, limit=limit)
        return _frame(rows)

    def count(self) -> int:
        return int(self._run("SELECT count(*) FROM ctas7_events")[0][0])

    def add_dead_letter(
        self, event: Event, target: str, reason: str, *, attempts: int = 1, now: float | None = None
    ) -> int:
        """Record a failed delivery; the same (event, target) again bumps ``attempts``."""
        ts = time.time() if now is None else now
        ph = self._ph
        rows = self._run(
            "INSERT INTO ctas7_dead_letters (event_id, event, target, reason, attempts, "
            f"first_failure, last_failure) VALUES ({ph}, {self._json_param}, {ph}, {ph}, {ph}, "
            f"{ph}, {ph}) ON CONFLICT (event_id, target) DO UPDATE SET reason = excluded.reason, "
            "attempts = ctas7_dead_letters.attempts + excluded.attempts, "
            "last_failure = excluded.last_failure, replayed_at = NULL RETURNING id",
            (event.event_id, event.to_json().decode(), target, reason, attempts, ts, ts),
            write=True,
        )
        return int(rows[0][0])

    def dead_letters(
        self,
        *,
        target: str | None = None,
        include_replayed: bool = False,
        ids: Sequence[int] | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first (not yet replayed ones unless ``include_replayed``)."""
        clauses: list[str] = []
        params: list[Any] = []
        if target is not None:
            clauses.append(f"target = {self._ph}")
            params.append(target)
        if not include_replayed:
            clauses.append("replayed_at IS NULL")
        if ids is not None:
            clauses.append(f"id IN ({', '.join([self._ph] * len(ids))})" if ids else "1 = 0")
            params.extend(ids)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        event_col = "event" if self._ph == "?" else "event::text"
        rows = self._run(
            f"SELECT id, {event_col}, target, reason, attempts, first_failure, last_failure, "
            f"replayed_at FROM ctas7_dead_letters{where} ORDER BY id",
            params,
        )
        return [_dead_letter(r) for r in rows]

    def mark_replayed(self, ids: Sequence[int], *, now: float | None = None) -> None:
        if not ids:
            return
        ts = time.time() if now is None else now
        marks = ", ".join([self._ph] * len(ids))
        self._run(
            f"UPDATE ctas7_dead_letters SET replayed_at = {self._ph} WHERE id IN ({marks})",
            (ts, *ids),
            write=True,
        )


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    import pandas as pd

    if rows:
        seqs, ids, types, stamps, sources, raw = zip(*rows, strict=True)
        loads = orjson.loads
        payloads = [loads(p) if isinstance(p, str | bytes) else p for p in raw]
    else:
        seqs = ids = types = stamps = sources = ()
        payloads = []
    return pd.DataFrame(
        {
            "seq": pd.array(list(seqs), dtype="int64"),
            "event_id": pd.array(list(ids), dtype="string"),
            "event_type": pd.array(list(types), dtype="string"),
            "timestamp": pd.to_datetime(
                pd.array(list(stamps), dtype="float64"), unit="s", utc=True
            ),
            "source_node": pd.array(list(sources), dtype="string"),
            "payload": pd.Series(payloads, dtype="object"),
        }
    )


def _where(
    since: float | None,
    until: float | None,
    types: Sequence[str] | None,
    sources: Sequence[str] | None,
    after_seq: int | None,
    ph: str,
    before_seq: int | None = None,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"timestamp >= {ph}")
        params.append(since)
    if until is not None:
        clauses.append(f"timestamp < {ph}")
        params.append(until)
    if after_seq is not None:
        clauses.append(f"seq > {ph}")
        params.append(after_seq)
    if before_seq is not None:
        clauses.append(f"seq < {ph}")
        params.append(before_seq)
    for column, values in (("event_type", types), ("source_node", sources)):
        if values:
            clauses.append(f"{column} IN ({', '.join([ph] * len(values))})")
            params.extend(values)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _rows(events: Iterable[Event]) -> list[tuple[str, str, float, str, str]]:
    """Events as store rows (payload as JSON text)."""
    dumps = orjson.dumps
    return [
        (e.event_id, e.event_type, e.timestamp, e.source_node, dumps(e.payload).decode())
        for e in events
    ]


def _row_event(row: Sequence[Any]) -> tuple[int, Event]:
    seq, eid, etype, ts, src, payload = row
    data = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
    return int(seq), Event(eid, etype, float(ts), src, data)


def _dead_letter(row: Sequence[Any]) -> DeadLetter:
    id_, event_json, target, reason, attempts, first, last, replayed = row
    raw = event_json if isinstance(event_json, str | bytes) else orjson.dumps(event_json)
    # envelope only: a dead letter may hold an event whose payload is what made it fail
    event = Event.from_json(raw, max_bytes=1 << 30, check_payload=False)
    return DeadLetter(
        int(id_),
        event,
        target,
        reason,
        int(attempts),
        float(first),
        float(last),
        None if replayed is None else float(replayed),
    )


_SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS ctas7_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  timestamp REAL NOT NULL,
  source_node TEXT NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ctas7_events_ts ON ctas7_events (timestamp);
CREATE INDEX IF NOT EXISTS ctas7_events_type ON ctas7_events (event_type);
CREATE TABLE IF NOT EXISTS ctas7_dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL,
  event TEXT NOT NULL,
  target TEXT NOT NULL,
  reason TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  first_failure REAL NOT NULL,
  last_failure REAL NOT NULL,
  replayed_at REAL,
  UNIQUE (event_id, target)
);
"""


_SQLITE_ROWS_PER_INSERT = 199  # 5 values a row, under SQLite's historic 999-variable limit


@functools.lru_cache(maxsize=8)
def _sqlite_insert(n_rows: int) -> str:
    return (
        "INSERT OR IGNORE INTO ctas7_events (event_id, event_type, timestamp, source_node, "
        "payload) VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * n_rows)
    )


class SqliteStore(EventStore):
    """SQLite in WAL mode; one connection guarded by a lock (usable from worker threads)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SQLITE_DDL)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"cannot open the event store {self.path}: {exc} "
                "(check the path in CTAS7_STORE_URL and that the file is a SQLite database)"
            ) from exc
        self._lock = threading.Lock()

    def _run(
        self, sql: str, params: Sequence[Any] = (), *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                rows = self._conn.execute(sql, params).fetchall()
                if write:
                    self._conn.commit()
                return rows
            except sqlite3.Error as exc:
                raise StoreError(f"event store {self.path}: {exc}") from exc

    def append(self, events: Iterable[Event]) -> int:
        rows = _rows(events)
        if not rows:
            return 0
        with self._lock:
            try:
                before = self._conn.total_changes
                with self._conn:
                    # multi-row INSERTs: sqlite3 releases the GIL per statement, and executemany
                    # would take it back once per row (slow while the event loop is busy)
                    for i in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
                        chunk = rows[i : i + _SQLITE_ROWS_PER_INSERT]
                        self._conn.execute(
                            _sqlite_insert(len(chunk)), [v for r in chunk for v in r]
                        )
                return self._conn.total_changes - before
            except sqlite3.Error as exc:
                raise StoreError(f"event store {self.path}: cannot append: {exc}") from exc

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()


_PG_DDL = """
CREATE TABLE IF NOT EXISTS ctas7_events (
  seq bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  event_type text NOT NULL,
  timestamp double precision NOT NULL,
  source_node text NOT NULL,
  payload jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ctas7_events_ts ON ctas7_events (timestamp);
CREATE INDEX IF NOT EXISTS ctas7_events_type ON ctas7_events (event_type);
CREATE TABLE IF NOT EXISTS ctas7_dead_letters (
  id bigserial PRIMARY KEY,
  event_id text NOT NULL,
  event jsonb NOT NULL,
  target text NOT NULL,
  reason text NOT NULL,
  attempts integer NOT NULL,
  first_failure double precision NOT NULL,
  last_failure double precision NOT NULL,
  replayed_at double precision,
  UNIQUE (event_id, target)
);
"""


class PostgresStore(EventStore):
    """The same tables in PostgreSQL (payload as jsonb). One connection, guarded by a lock."""

    _ph = "%s"
    _payload = "payload::text"
    _json_param = "%s::jsonb"

    def __init__(self, url: str) -> None:
        from ctas7_panel import pgtools
        from ctas7_panel.errors import DatabaseError

        self.url = url
        try:
            self._conn = pgtools.connect(url)
            self._conn.execute(_PG_DDL.encode())
        except DatabaseError as exc:
            raise StoreError(f"cannot open the event store: {exc}") from exc
        self._lock = threading.Lock()

    def _run(
        self, sql: str, params: Sequence[Any] = (), *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            try:
                cur = self._conn.execute(sql.encode() if not params else sql, params or None)
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                raise StoreError(f"event store: {exc}") from exc

    def append(self, events: Iterable[Event]) -> int:
        import psycopg

        rows = _rows(events)
        if not rows:
            return 0
        with self._lock:
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    cur.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS _ctas7_in (event_id text, event_type "
                        "text, timestamp double precision, source_node text, payload jsonb) "
                        "ON COMMIT DELETE ROWS"
                    )
                    with cur.copy(
                        "COPY _ctas7_in (event_id, event_type, timestamp, source_node, payload) "
                        "FROM STDIN"
                    ) as copy:
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(
                        "INSERT INTO ctas7_events (event_id, event_type, timestamp, source_node, "
                        "payload) SELECT DISTINCT ON (event_id) * FROM _ctas7_in "
                        "ON CONFLICT (event_id) DO NOTHING"
                    )
                    return cur.rowcount
            except psycopg.Error as exc:
                raise StoreError(f"event store: cannot append: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_store(url: str) -> EventStore:
    """The store for ``CTAS7_STORE_URL``."""
    if url.startswith("sqlite://"):
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(
                f"CTAS7_STORE_URL={url!r} names no file: use sqlite:///path/to/events.db"
            )
        return SqliteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise ConfigError(
        f"CTAS7_STORE_URL={url!r} is not supported: use sqlite:///path or postgresql://..."
    )


class StoreWriter:
    """Batches appends from asyncio code into a worker thread.

    ``append`` never blocks the loop for I/O: events are queued (bounded: ``max_pending``; when
    full, ``append`` waits — backpressure, never a drop) and flushed every ``interval`` seconds or
    every ``batch`` events. ``close()`` flushes what is left. A failed flush is retried at the
    next interval; the error is kept in ``last_error``.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        interval: float = 0.05,
        batch: int = 1000,
        max_pending: int = 100_000,
    ) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._queue: asyncio.Queue[Event] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._draining = False
        self.written = 0
        self.last_error: Exception | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ctas7-store-writer")

    async def append(self, event: Event) -> None:
        await self._queue.put(event)

    async def append_many(self, events: Iterable[Event]) -> None:
        """``append`` for a batch (waits only while the queue is full)."""
        queue = self._queue
        for event in events:
            if queue.full():
                await queue.put(event)
            else:
                queue.put_nowait(event)

    async def _drain(self) -> None:
        items: list[Event] = []
        while not self._queue.empty() and len(items) < self.batch:
            items.append(self._queue.get_nowait())
        if not items:
            return
        try:
            self.written += await asyncio.to_thread(self.store.append, items)
            self.last_error = None
        except StoreError as exc:
            self.last_error = exc
            for e in items:  # keep them: retried on the next flush
                self._queue.put_nowait(e)
            raise

    async def _run(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.interval)
            self._draining = True
            try:
                with contextlib.suppress(StoreError):
                    while not self._queue.empty():
                        await self._drain()
            finally:
                self._draining = False

    async def flush(self) -> None:
        while not self._queue.empty():
            await self._drain()

    async def close(self) -> None:
        if self._task is not None:
            # a write in flight is waited for, not cancelled: cancelling would not stop its
            # thread, and its events would be neither counted nor retried on failure
            self._closing = True
            if not self._draining:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
