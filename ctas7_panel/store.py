"""Append-only event history and the dead-letter store.

``open_store(url)``: SQLite (WAL) for ``sqlite:///path`` (the default,
``sqlite:///./.ctas7/events.db``), PostgreSQL for ``postgresql://...``. Both keep two tables, with
payloads and dead-lettered events as JSON text exactly as orjson wrote it (PostgreSQL type
``json``, not ``jsonb``: ``jsonb`` refuses ``\\u0000`` and rewrites numbers, e.g. ``1e23`` comes
back as an integer; a ``jsonb`` table of an older version is converted when the store opens):

- ``ctas7_events``: every event once (``event_id`` is unique: re-appending a redelivered event is
  harmless), with ``seq`` giving arrival order;
- ``ctas7_dead_letters``: events a target could not take (event, target, reason, attempts,
  first/last failure, replayed_at). One row per (event_id, target): a new failure of the same
  pair bumps ``attempts`` and ``last_failure``.

The store API is synchronous and thread-safe (``store_writer.StoreWriter`` drives it from asyncio
code). ``append`` is all or nothing (one transaction); ``encode`` tells the events the store can
write from those it cannot (the writer dead-letters the latter); ``check_writable`` is a write
that touches no row, to tell an outage (it fails too) from one bad event (it passes). A write
waiting for a lock gives up after ``lock_timeout`` seconds (SQLite's busy timeout, PostgreSQL's
``lock_timeout``) instead of hanging. ``load_events`` returns a pandas DataFrame (pandas is
imported only there).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import orjson

from ctas7_panel.errors import ConfigError, EventError, StoreError, StoreUnavailable
from ctas7_panel.events import Event, preview

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("event_id", "event_type", "timestamp", "source_node", "payload")
DEFAULT_LOCK_TIMEOUT = 5.0
Row = tuple[str, str, float, str, str]


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


class EventFilter(TypedDict, total=False):
    """Which events ``EventStore.fetch`` / ``load_events`` return; every key is optional."""

    since: float | None  # unix seconds, inclusive
    until: float | None  # unix seconds, exclusive
    types: Sequence[str] | None  # event types
    sources: Sequence[str] | None  # source nodes
    limit: int | None  # the newest N
    after_seq: int | None  # seq above (exclusive)
    before_seq: int | None  # seq below (exclusive)


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
        """Append events in one transaction (already-stored ids are skipped); return how many
        were new. ``StoreError`` (nothing written) if any of them cannot be written."""
        return self.append_rows(encode(events)[0])

    def append_rows(self, rows: Sequence[Row]) -> int:
        """``append`` for rows from ``encode``."""
        raise NotImplementedError

    def check_writable(self, timeout: float = 1.0) -> None:
        """A write that touches no row, waiting at most ``timeout`` seconds for a lock;
        ``StoreError`` if the store cannot take writes now."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch_raw(self, **f: Unpack[EventFilter]) -> list[tuple[Any, ...]]:
        unknown = sorted(set(f) - EventFilter.__optional_keys__)
        if unknown:  # what a keyword-only signature did before: a typo is not a no-op
            keys = ", ".join(sorted(EventFilter.__optional_keys__))
            raise TypeError(f"unknown event filter {', '.join(unknown)}: use {keys}")
        where, params = _where(
            f.get("since"),
            f.get("until"),
            f.get("types"),
            f.get("sources"),
            f.get("after_seq"),
            self._ph,
            f.get("before_seq"),
        )
        cols = f"seq, event_id, event_type, timestamp, source_node, {self._payload}"
        limit = f.get("limit")
        if limit is not None:
            sql = (
                f"SELECT * FROM (SELECT {cols} FROM ctas7_events{where} ORDER BY seq DESC "
                f"LIMIT {int(limit)}) AS newest ORDER BY seq"
            )
        else:
            sql = f"SELECT {cols} FROM ctas7_events{where} ORDER BY seq"
        return self._run(sql, params)

    def fetch(self, **f: Unpack[EventFilter]) -> list[tuple[int, Event]]:
        """Events as ``(seq, Event)`` in arrival order, filtered as ``EventFilter`` says;
        ``limit`` keeps the newest N.

        ``after_seq`` / ``before_seq`` keep events whose ``seq`` is above / below (exclusive):
        paging back through the history is ``fetch(limit=N, before_seq=oldest_seen)``.
        """
        return [_row_event(r) for r in self._fetch_raw(**f)]

    def load_events(self, **f: Unpack[EventFilter]) -> pd.DataFrame:
        """The history as a DataFrame: ``event_id``, ``event_type``, ``source_node`` (string),
        ``timestamp`` (UTC datetime), ``payload`` (dict), ``seq`` (int); oldest first.

        ``since``/``until`` are unix seconds (inclusive/exclusive); ``limit`` keeps the newest N.
        """
        return _frame(self._fetch_raw(**f))

    def count(self) -> int:
        return int(self._run("SELECT count(*) FROM ctas7_events")[0][0])

    def add_dead_letter(
        self,
        event: Event,
        target: str,
        reason: str,
        *,
        attempts: int = 1,
        now: float | None = None,
        first_failure: float | None = None,
    ) -> int:
        """Record a failed delivery; the same (event, target) again bumps ``attempts``.

        ``first_failure`` (unix s, default ``now``): when the first of ``attempts`` failed, so
        ``last_failure - first_failure`` is how long delivery was tried before giving up.
        """
        ts = time.time() if now is None else now
        first = ts if first_failure is None else min(first_failure, ts)
        ph = self._ph
        try:
            event_json = event.to_json().decode()
        except EventError as exc:  # an event orjson cannot write: keep what can be shown of it
            event_json = _stand_in(event, exc).to_json().decode()
        rows = self._run(
            "INSERT INTO ctas7_dead_letters (event_id, event, target, reason, attempts, "
            f"first_failure, last_failure) VALUES ({ph}, {self._json_param}, {ph}, {ph}, {ph}, "
            f"{ph}, {ph}) ON CONFLICT (event_id, target) DO UPDATE SET reason = excluded.reason, "
            "attempts = ctas7_dead_letters.attempts + excluded.attempts, "
            "last_failure = excluded.last_failure, replayed_at = NULL RETURNING id",
            (_text(event.event_id), event_json, _text(target), _text(reason), attempts, first, ts),
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
            "timestamp": pd.to_datetime(  # NaT for a time pandas cannot hold (not via the edge)
                pd.array(list(stamps), dtype="float64"), unit="s", utc=True, errors="coerce"
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


def encode(events: Iterable[Event]) -> tuple[list[Row], list[tuple[Event, str]]]:
    """Events as store rows (payload as JSON text), and the events that cannot be rows with the
    reason (a payload orjson cannot write: only events that did not come through the edge)."""
    events = list(events)
    dumps = orjson.dumps
    try:
        return [
            (e.event_id, e.event_type, e.timestamp, e.source_node, dumps(e.payload).decode())
            for e in events
        ], []
    except (TypeError, ValueError):  # one or more bad ones: sort them out
        pass
    rows: list[Row] = []
    bad: list[tuple[Event, str]] = []
    for e in events:
        try:
            rows.append(
                (e.event_id, e.event_type, e.timestamp, e.source_node, dumps(e.payload).decode())
            )
        except (TypeError, ValueError) as exc:
            bad.append((e, f"the store cannot write this payload as JSON: {exc}"))
    return rows, bad


def _text(value: str) -> str:
    """Text for a PostgreSQL ``text`` column (no NUL: shown as ``\\u0000``)."""
    return value.replace("\x00", "\\u0000") if "\x00" in value else value


def _stand_in(event: Event, error: Exception) -> Event:
    """What a dead letter keeps of an event that cannot be written as JSON."""
    return Event(
        _text(event.event_id),
        event.event_type,
        event.timestamp if math.isfinite(event.timestamp) else 0.0,
        _text(event.source_node),
        {"unwritable_payload": preview(event.payload), "error": str(error)},
    )


def _row_event(row: Sequence[Any]) -> tuple[int, Event]:
    seq, eid, etype, ts, src, payload = row
    data = orjson.loads(payload) if isinstance(payload, str | bytes) else payload
    return int(seq), Event(eid, etype, float(ts), src, data)


def _dead_letter(row: Sequence[Any]) -> DeadLetter:
    id_, event_json, target, reason, attempts, first, last, replayed = row
    raw = event_json if isinstance(event_json, str | bytes) else orjson.dumps(event_json)
    # envelope only: a dead letter may hold an event that is what made it fail
    event = Event.decode(raw, max_bytes=1 << 30)
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

    def __init__(self, path: Path | str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.lock_timeout = lock_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=lock_timeout)
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
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O
                raise StoreUnavailable(f"event store {self.path}: {exc}") from exc
            except (sqlite3.Error, ValueError, OverflowError) as exc:
                raise StoreError(f"event store {self.path}: {exc}") from exc

    def append_rows(self, rows: Sequence[Row]) -> int:
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
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O
                raise StoreUnavailable(f"event store {self.path}: cannot append: {exc}") from exc
            except (sqlite3.Error, ValueError, OverflowError) as exc:
                raise StoreError(f"event store {self.path}: cannot append: {exc}") from exc

    def check_writable(self, timeout: float = 1.0) -> None:
        with self._lock:
            conn = self._conn
            try:
                conn.execute(f"PRAGMA busy_timeout = {max(1, int(timeout * 1000))}")
                try:
                    conn.execute("BEGIN IMMEDIATE")  # takes the write lock, writes nothing
                    conn.execute("ROLLBACK")
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(self.lock_timeout * 1000)}")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.rollback()
                raise StoreUnavailable(f"event store {self.path}: cannot write: {exc}") from exc

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._conn.close()


# Run only when something is missing (CREATE INDEX IF NOT EXISTS would wait for a table lock
# held by someone else: opening the store must not hang while the table is locked).
_PG_MISSING = """
SELECT pg_advisory_xact_lock(7470921);  -- processes opening one database at once take turns
SELECT to_regclass('ctas7_events') IS NULL OR to_regclass('ctas7_dead_letters') IS NULL
  OR to_regclass('ctas7_events_ts') IS NULL OR to_regclass('ctas7_events_type') IS NULL;
"""
_PG_DDL = """
CREATE TABLE IF NOT EXISTS ctas7_events (
  seq bigserial PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  event_type text NOT NULL,
  timestamp double precision NOT NULL,
  source_node text NOT NULL,
  payload json NOT NULL
);
CREATE INDEX IF NOT EXISTS ctas7_events_ts ON ctas7_events (timestamp);
CREATE INDEX IF NOT EXISTS ctas7_events_type ON ctas7_events (event_type);
CREATE TABLE IF NOT EXISTS ctas7_dead_letters (
  id bigserial PRIMARY KEY,
  event_id text NOT NULL,
  event json NOT NULL,
  target text NOT NULL,
  reason text NOT NULL,
  attempts integer NOT NULL,
  first_failure double precision NOT NULL,
  last_failure double precision NOT NULL,
  replayed_at double precision,
  UNIQUE (event_id, target)
);
"""
_PG_MIGRATE = """
DO $$ BEGIN  -- stores made before payloads were kept as exact JSON text
  IF (SELECT atttypid = 'jsonb'::regtype FROM pg_attribute
      WHERE attrelid = 'ctas7_events'::regclass AND attname = 'payload') THEN
    ALTER TABLE ctas7_events ALTER COLUMN payload TYPE json USING payload::text::json;
  END IF;
  IF (SELECT atttypid = 'jsonb'::regtype FROM pg_attribute
      WHERE attrelid = 'ctas7_dead_letters'::regclass AND attname = 'event') THEN
    ALTER TABLE ctas7_dead_letters ALTER COLUMN event TYPE json USING event::text::json;
  END IF;
END $$;
"""


class PostgresStore(EventStore):
    """The same tables in PostgreSQL (JSON as ``json``: exact text). One connection, guarded by a
    lock, opened again when it breaks (a server restart)."""

    _ph = "%s"
    _payload = "payload::text"
    _json_param = "%s::json"

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        from ctas7_panel import pgtools

        self.url = url
        self.lock_timeout = lock_timeout
        # every message names the store (its database; never the URL's password)
        self.label = f"event store (PostgreSQL database {pgtools.database_name(url)!r})"
        self._lock = threading.Lock()
        self._conn = self._connect(create=True)

    def _connect(self, *, create: bool = False) -> Any:
        import psycopg

        from ctas7_panel import pgtools
        from ctas7_panel.errors import DatabaseError

        try:
            conn = pgtools.connect(self.url)
        except DatabaseError as exc:
            raise StoreError(f"cannot open the {self.label}: {exc}") from exc
        try:
            if create:
                with conn.transaction():
                    cur = conn.execute(_PG_MISSING.encode())
                    cur.nextset()
                    row = cur.fetchone()
                    if row is None or row[0]:
                        conn.execute(_PG_DDL.encode())
                    conn.execute(_PG_MIGRATE.encode())
            ms = max(1, int(self.lock_timeout * 1000))
            conn.execute(f"SET lock_timeout = {ms}".encode())
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot open the {self.label}: {exc}") from exc
        return conn

    def _live(self) -> Any:
        """The connection, opened again if the last one broke (call with the lock held)."""
        if self._conn.closed or self._conn.broken:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = self._connect()
        return self._conn

    def _run(
        self, sql: str, params: Sequence[Any] = (), *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        import psycopg

        with self._lock:
            try:
                cur = self._live().execute(sql.encode() if not params else sql, params or None)
                return cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                raise _pg_error(self.label, exc) from exc

    def check_writable(self, timeout: float = 1.0) -> None:
        import psycopg

        with self._lock:
            try:
                conn = self._live()
                with conn.transaction():
                    conn.execute(f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}".encode())
                    # needs INSERT rights and the table's write lock; writes nothing
                    conn.execute(b"INSERT INTO ctas7_events SELECT * FROM ctas7_events WHERE false")
            except psycopg.Error as exc:
                raise StoreUnavailable(f"{self.label}: cannot write: {_first_line(exc)}") from exc

    def append_rows(self, rows: Sequence[Row]) -> int:
        import psycopg

        if not rows:
            return 0
        with self._lock:
            try:
                conn = self._live()
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS _ctas7_in (event_id text, event_type "
                        "text, timestamp double precision, source_node text, payload json) "
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
            except (psycopg.Error, ValueError) as exc:
                raise _pg_error(f"{self.label}: cannot append", exc) from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _pg_error(what: str, exc: BaseException) -> StoreError:
    """``StoreUnavailable`` for what no event is to blame for (connection, lock timeout, disk
    full, shutdown: psycopg's ``OperationalError`` and ``InterfaceError``), else ``StoreError``."""
    import psycopg

    kind = (
        StoreUnavailable
        if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        else StoreError
    )
    return kind(f"{what}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
