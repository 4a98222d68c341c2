"""The Schema Sync Node: one sync pass, or a long-running watch, publishing the seed's events.

One pass (``SchemaSyncNode.sync()``): introspect -> fingerprint -> compare with what is on disk ->
then exactly one event:

- ``schema_nochange``: the hash cache, the snapshot and the types file(s) all agree with the
  live schema;
- ``schema_updated``: the schema changed, or the previous state is unknown (hash cache or snapshot
  missing, empty or corrupt; generator changed). The types file (``CTAS_SCHEMA_PATH``), the
  snapshot and the hash cache (``CTAS_HASH_CACHE_PATH``, plain hex) are written atomically, in that
  order, so the hash cache is the commit mark: a crash before it means the next pass regenerates.
  A change that leaves the types unchanged (an index, a comment) rewrites the hash and snapshot,
  not the types file (``types_written: false``);
- ``schema_artifact_modified``: the schema did not change but the types file was deleted or edited
  by hand; it is regenerated and restored;
- ``schema_error``: what failed (``stage``: connect, introspect, typegen, write), why, and when
  the watcher retries (``retry_in_s``). No partial file is ever left.

Types files: one TypeScript file (``CTAS_SCHEMA_PATH``) by default; ``CTAS7_TYPES`` (a list of
``lang:path``, ``SyncConfig.types``) keeps several languages in step, each written atomically
and hashed on its own (``types_hashes`` in the events, path -> SHA-256). The first of them is
the seed's types file: the ``schema_path`` and ``types_hash`` of the events.

This module is the node; its parts live beside it, one idea each: ``sync_config``
(``SyncConfig``, re-exported here), ``snapshot_file`` (the record), ``decision`` (the pure
``decide()``, the disk observation and the catalog-probe fast path the audit shares),
``inspection`` (the injectable inspector and differ), ``generator`` (the external command),
``restore`` (artifacts put back). ``run_pass()`` is the thin I/O around ``decide()`` and runs in
a worker thread (psycopg, files, an optional generator subprocess). ``watch()`` lives in
``ctas7_panel.schema.watch`` (which does not import this module); every event goes to the bus
(topic ``events``), the event store and an optional ``on_event`` callback (the CLI prints it).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect as _inspect
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import psycopg

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.errors import Ctas7Error, DatabaseError
from ctas7_panel.events import Event
from ctas7_panel.schema import artifacts
from ctas7_panel.schema.decision import (
    Failure,
    Observed,
    catalog_probe,
    decide,
    observe,
    read_record,
    read_types,
)
from ctas7_panel.schema.generator import GeneratorError, run_typegen_command
from ctas7_panel.schema.inspection import (
    Differ,
    IncrementalInspector,
    Inspection,
    Inspector,
    builtin_differ,
)
from ctas7_panel.schema.restore import restore_artifacts
from ctas7_panel.schema.snapshot_file import SnapshotRecord  # the record lives with its loader
from ctas7_panel.schema.sync_config import SyncConfig
from ctas7_panel.settings import redact_url

if TYPE_CHECKING:
    from ctas7_panel.store import EventStore
    from ctas7_panel.streams.bus import Bus

log = logging.getLogger(__name__)


# --- the pass ----------------------------------------------------------------------------------


Trigger = str  # "manual", "connect", "notify", "poll", "retry", "artifact"
EventCallback = Callable[[Event], Awaitable[None] | None]


class SchemaSyncNode:
    """Keeps the types file, hash cache and snapshot in step with one database.

    ``await node.sync()`` runs one pass and emits its event; ``await node.watch(stop)`` runs until
    ``stop`` is set (see ``ctas7_panel.schema.watch``). Use as an async context manager (or call
    ``close()``) to release the database connection. Passes are serialised: never two at once.
    """

    def __init__(
        self,
        config: SyncConfig,
        *,
        bus: Bus | None = None,
        store: EventStore | None = None,
        on_event: EventCallback | None = None,
        inspector: Inspector | None = None,
        differ: Differ | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.store = store
        self.on_event = on_event
        # by default incremental: after a DDL only the changed relations are read again
        self._inspector: Inspector = inspector or IncrementalInspector(languages=config.languages)
        self._differ = differ or builtin_differ
        self._environ = dict(os.environ if environ is None else environ)
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()
        self.lock = asyncio.Lock()  # held around every pass and artifact restore
        # what the artifacts should hold after the last successful pass (path -> bytes)
        self.expected: dict[Path, bytes] = {}
        self.last_fingerprint: str | None = None
        self.emitted: list[Event] = []  # every event this node emitted, oldest first (bounded)
        self._inspect_memo: tuple[str, Inspection] | None = None
        self._snap_memo: tuple[tuple[int, int, int], SnapshotRecord, bytes] | None = None
        self._types_memo: dict[Path, tuple[tuple[int, int, int], str, bytes]] = {}
        self._impact: Any = None  # graph.tracker.ImpactTracker, made on first use
        # how each pass's schema was read: "memo" (the catalog probe saw no change), "cached",
        # "partial", "full" (see ``Inspection.read_kind``)
        self.introspections: dict[str, int] = {}

    # -- lifecycle

    async def __aenter__(self) -> SchemaSyncNode:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._drop_connection)

    # -- public API

    async def sync(self, *, trigger: Trigger = "manual") -> Event:
        """One pass; emits and returns its event (``schema_error`` with ``retry_in_s`` None)."""
        result = await self.run_pass(trigger)
        event = result if isinstance(result, Event) else self.failure_event(result, None)
        await self.emit(event)
        return event

    async def watch(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set (or the task is cancelled). See ``schema.watch``."""
        from ctas7_panel.schema.watch import Watcher

        await Watcher(self).run(stop or asyncio.Event())

    async def run_pass(self, trigger: Trigger) -> Event | Failure:
        """One pass in a worker thread, serialised with other passes; nothing emitted."""
        async with self.lock:
            return await asyncio.to_thread(self.run_pass_blocking, trigger)

    def failure_event(self, failure: Failure, retry_in_s: float | None) -> Event:
        return ev.schema_error(
            error=failure.error,
            stage=failure.stage,
            retry_in_s=None if retry_in_s is None else round(retry_in_s, 3),
            source_node=self.config.source_node,
            schema_path=self.config.schema_path,
            database=pgtools.database_name(self.config.db_url),
            **failure.extra,
        )

    async def emit(self, event: Event) -> None:
        """Publish to the bus, append to the store, call ``on_event``; never raises for those."""
        self.emitted.append(event)
        del self.emitted[:-1000]
        if self.on_event is not None:
            result = self.on_event(event)
            if _inspect.isawaitable(result):
                await result
        if self.store is not None:
            try:
                await asyncio.to_thread(self.store.append, [event])
            except Ctas7Error as exc:
                log.warning("cannot store %s %s: %s", event.event_type, event.event_id, exc)
        if self.bus is not None:
            try:
                await self.bus.publish(event)
            except Ctas7Error as exc:
                log.warning("cannot publish %s %s: %s", event.event_type, event.event_id, exc)

    # -- the blocking pass (worker thread)

    def run_pass_blocking(self, trigger: Trigger) -> Event | Failure:
        t0 = time.perf_counter()
        cfg = self.config
        seen_live = self._inspect()
        if isinstance(seen_live, Failure):
            return seen_live

        observed, types_files, snap_bytes = self._observe()
        decision = decide(seen_live.fingerprint, cfg.generator_id, observed)
        if decision.action == "unchanged":
            assert observed.record is not None and snap_bytes is not None
            present = {path: data for path, data in types_files.items() if data is not None}
            self._remember(present, seen_live.fingerprint, snap_bytes, seen_live.fingerprint)
            self._impact_of(seen_live, None, None)
            return ev.schema_nochange(
                current_hash=seen_live.fingerprint,
                schema_path=cfg.schema_path,
                table_count=seen_live.table_count,
                source_node=cfg.source_node,
                types_hash=observed.record.types_hash,
                types_hashes=observed.record.types_hashes
                or {cfg.schema_path: observed.record.types_hash},
                diff=None,
                duration_ms=_ms(t0),
                trigger=trigger,
            )

        try:
            texts = self._generate(seen_live)
        except GeneratorError as exc:
            return Failure(
                "typegen",
                str(exc),
                extra={"stderr_tail": exc.stderr_tail, "returncode": exc.returncode},
            )
        except Ctas7Error as exc:
            return Failure("typegen", str(exc))
        files = {path: text.encode("utf-8") for path, text in texts}
        hashes = {path: artifacts.sha256_hex(data) for path, data in files.items()}
        on_disk = {cfg.schema_path: observed.types_sha, **dict(observed.other_types)}
        written = [path for path in files if hashes[path] != on_disk.get(path)]
        types_hash = hashes[cfg.schema_path]
        record = SnapshotRecord(
            seen_live.fingerprint,
            types_hash,
            cfg.generator_id,
            seen_live.table_count,
            seen_live.snapshot,
            hashes,
        )
        record_data = record.encode()
        try:
            for path in written:
                artifacts.atomic_write(path, files[path])
            artifacts.atomic_write(cfg.snapshot_file, record_data)
            artifacts.write_hash_cache(cfg.hash_cache_path, seen_live.fingerprint)
        except Ctas7Error as exc:
            self.expected.clear()
            return Failure("write", str(exc))
        self._remember(files, seen_live.fingerprint, record_data, seen_live.fingerprint)
        self._memo_written(record, record_data, files, hashes)

        if decision.action == "restore":
            path = written[0] if written else cfg.schema_path
            change = "deleted" if on_disk.get(path) is None else "modified"
            extra: dict[str, Any] = {"paths": written} if len(written) > 1 else {}
            return self.artifact_event(path, change, restored=True, trigger=trigger, **extra)

        diff, changes, diff_note = self._diff(observed, seen_live)
        impact = self._impact_of(
            seen_live, decision.old_hash, observed.record.snapshot if observed.record else None
        )
        return ev.schema_updated(
            new_hash=seen_live.fingerprint,
            old_hash=decision.old_hash,
            schema_path=cfg.schema_path,
            table_count=seen_live.table_count,
            source_node=cfg.source_node,
            types_hash=types_hash,
            types_written=cfg.schema_path in written,
            types_hashes=hashes,
            types_written_paths=written,
            diff=diff,
            changes=changes,
            reason="; ".join(decision.reasons) + diff_note,
            duration_ms=_ms(t0),
            trigger=trigger,
            impact=impact,
        )

    def artifact_event(
        self, path: str | Path, change: str, *, restored: bool, **extra: Any
    ) -> Event:
        return Event.create(
            "schema_artifact_modified",
            {"path": str(path), "change": change, "restored": restored, **extra},
            source_node=self.config.source_node,
        )

    def _impact_of(
        self, seen: Inspection, old_hash: str | None, old_snapshot: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The change's ``impact`` summary (see ``ctas7_panel.graph.tracker``); never raises."""
        if self._conn is None:
            return None
        from ctas7_panel.graph.tracker import ImpactTracker

        if self._impact is None:
            cfg = self.config
            self._impact = ImpactTracker(
                types_files=[path for _, path in cfg.outputs], hash_cache_path=cfg.hash_cache_path
            )
        with self._conn_lock:
            conn = self._conn
            if conn is None or conn.closed:
                return None
            if old_hash is None and old_snapshot is None:  # unchanged: keep the graph current
                try:
                    self._impact.observe(conn, seen.snapshot, seen.fingerprint)
                except Exception as exc:  # the impact never fails a pass
                    log.warning("impact: cannot read the dependency catalog: %s", exc)
                return None
            return self._impact.impact(
                conn, seen.snapshot, seen.fingerprint, old_hash=old_hash, old_snapshot=old_snapshot
            )

    def _inspect(self) -> Inspection | Failure:
        """Introspect; a kept connection found dead is replaced once before giving up.

        With ``catalog_probe`` a cheap query first checks whether any catalog row changed since
        the last introspection on this connection; if none did, that introspection is reused.
        The probe runs *before* the introspection, so a change racing with it is seen next time.
        An inspector that checks the catalog's versions itself (``IncrementalInspector``, the
        default: its "cached" read costs what the probe does) is asked directly instead.
        """
        probe_first = self.config.catalog_probe and not getattr(
            self._inspector, "checks_catalog_versions", False
        )
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                conn = self._connection()
            except DatabaseError as exc:
                return Failure("connect", str(exc), connection=True)
            try:
                probe = catalog_probe(conn) if probe_first else None
                memo = self._inspect_memo
                if probe is not None and memo is not None and memo[0] == probe:
                    self._count("memo")
                    return memo[1]
                seen = self._inspector(conn, self.config.typegen_options)
                self._inspect_memo = None if probe is None else (probe, seen)
                self._count(seen.read_kind)
                return seen
            except (psycopg.Error, Ctas7Error) as exc:
                lost = conn.closed or conn.broken or _is_connection_error(exc)
                self._drop_connection()
                if lost and reused and attempt == 1:
                    continue  # the server restarted since the last pass: try a new connection
                reason = (
                    _pg_reason(exc, self.config.db_url)
                    if isinstance(exc, psycopg.Error)
                    else str(exc)
                )
                return Failure("connect" if lost else "introspect", reason, connection=lost)
        raise AssertionError("unreachable")

    def _count(self, kind: str) -> None:
        self.introspections[kind] = self.introspections.get(kind, 0) + 1

    def _observe(self) -> tuple[Observed, dict[str, bytes | None], bytes | None]:
        """Read the artifacts: (what they say, each types file's bytes, snapshot bytes).

        Files unchanged since the last look (same inode, size and mtime) are not parsed or
        hashed again: on big schemas the snapshot is megabytes of JSON.
        """
        cfg = self.config
        return observe(
            cfg.hash_cache_path,
            cfg.snapshot_file,
            [path for _, path in cfg.outputs],
            record_reader=self._read_record,
            types_reader=self._read_types,
        )

    def _read_record(self, path: Path) -> tuple[SnapshotRecord | None, str | None, bytes | None]:
        key = artifacts.stat_key(path)
        memo = self._snap_memo
        if key is not None and memo is not None and memo[0] == key:
            return memo[1], None, memo[2]
        self._snap_memo = None
        record, problem, data = read_record(path)
        if record is not None and data is not None and key is not None:
            self._snap_memo = (key, record, data)
        return record, problem, data

    def _memo_written(
        self,
        record: SnapshotRecord,
        record_data: bytes,
        files: dict[str, bytes],
        hashes: dict[str, str],
    ) -> None:
        """Keep what this pass wrote as what the next pass will read (keyed by the files' stat,
        as ``_read_record`` and ``_read_types`` do), so the next pass does not parse again the
        snapshot it just wrote (megabytes of JSON on big schemas, ~35 ms on big_1000). Each
        file is read back first (no parse) and kept only if it holds those very bytes; the stat
        is taken before, so a later change of the file changes the key."""
        path = self.config.snapshot_file
        key = artifacts.stat_key(path)
        if key is not None and _read_back(path) == record_data:
            self._snap_memo = (key, record, record_data)
        for name, data in files.items():
            types_path = Path(name)
            key = artifacts.stat_key(types_path)
            if key is not None and _read_back(types_path) == data:
                self._types_memo[types_path] = (key, hashes[name], data)

    def _read_types(self, path: Path) -> tuple[str | None, bytes | None]:
        key = artifacts.stat_key(path)
        memo = self._types_memo.get(path)
        if key is not None and memo is not None and memo[0] == key:
            return memo[1], memo[2]
        self._types_memo.pop(path, None)
        sha, data = read_types(path)
        if sha is not None and data is not None and key is not None:
            self._types_memo[path] = (key, sha, data)
        return sha, data

    def _generate(self, seen: Inspection) -> list[tuple[str, str]]:
        """(path, text) of every types file: TypeScript from the external command when one is
        set (run once), the other languages and otherwise TypeScript from the built-in one."""
        cfg = self.config
        command_text: str | None = None
        out = []
        for language, path in cfg.outputs:
            if language == "typescript" and cfg.typegen_command:
                if command_text is None:
                    command_text = run_typegen_command(
                        cfg.typegen_command,
                        db_url=cfg.db_url,
                        project_id=cfg.project_id,
                        timeout=cfg.command_timeout,
                        env=self._environ,
                    )
                out.append((path, command_text))
            elif language == "typescript":
                out.append((path, seen.render()))
            else:
                out.append((path, seen.render(language)))
        return out

    def _diff(
        self, observed: Observed, seen: Inspection
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str]:
        if observed.record is None:
            return None, None, ""
        if observed.record.fingerprint != observed.cached_hash:
            return None, None, " (no diff: the snapshot is not the cached schema's)"
        try:
            d = self._differ(observed.record.snapshot, seen.snapshot)
        except Exception as exc:  # an unreadable old snapshot must not stop the sync
            log.warning("cannot diff the previous snapshot: %s", exc)
            return None, None, f" (no diff: {exc})"
        changes: dict[str, Any] | None = d.changes
        if len(orjson.dumps(changes)) > self.config.max_changes_bytes:
            changes = None
        return d.summary, changes, ""

    def _remember(
        self, types: dict[str, bytes], cache_fp: str, record: bytes, fingerprint: str
    ) -> None:
        cfg = self.config
        self.expected = {Path(path).resolve(): data for path, data in types.items()}
        self.expected[Path(cfg.hash_cache_path).resolve()] = cache_fp.encode("ascii")
        self.expected[cfg.snapshot_file.resolve()] = record
        self.last_fingerprint = fingerprint

    def _connection(self) -> psycopg.Connection[Any]:
        with self._conn_lock:
            if self._conn is not None and (self._conn.closed or self._conn.broken):
                self._conn = None
            if self._conn is None:
                self._conn = pgtools.connect(self.config.db_url)
            return self._conn

    def _drop_connection(self) -> None:
        with self._conn_lock:
            conn, self._conn = self._conn, None
            self._inspect_memo = None
            forget = getattr(self._inspector, "forget", None)
            if callable(forget):  # maybe another server next time: read from scratch
                forget()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- artifact restore (called by the watcher when watchfiles reports a change)

    def restore_artifacts_blocking(self) -> list[Event]:
        """Rewrite every artifact that differs from the last pass; one event per file restored."""
        return [
            self.artifact_event(path, change, restored=True, trigger="artifact")
            if error is None
            else self.artifact_event(path, change, restored=False, error=error)
            for path, change, error in restore_artifacts(self.expected)
        ]


def _read_back(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def _is_connection_error(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, psycopg.OperationalError):
            return True
        exc = exc.__cause__
    return False


def _pg_reason(exc: psycopg.Error, url: str) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{redact_url(url)}: {first}"
