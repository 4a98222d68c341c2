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

The decision is the pure function ``decide()`` (``schema.decision``, with the catalog-probe
fast path the audit shares); ``run_pass()`` is the thin I/O around it and
runs in a worker thread (psycopg, files, an optional generator subprocess). ``watch()`` lives in
``ctas7_panel.schema.watch``; every event goes to the bus (topic ``events``), the event store and
an optional ``on_event`` callback (the CLI prints it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect as _inspect
import logging
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import psycopg

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.errors import Ctas7Error, DatabaseError, SchemaError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.schema import artifacts
from ctas7_panel.schema.decision import (
    Observed,
    catalog_probe,
    decide,
    observe,
    read_record,
    read_types,
)
from ctas7_panel.schema.snapshot_file import SnapshotRecord  # the record lives with its loader
from ctas7_panel.settings import redact_url

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings
    from ctas7_panel.store import EventStore
    from ctas7_panel.streams.bus import Bus

log = logging.getLogger(__name__)

STDERR_TAIL_CHARS = 2000


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncConfig:
    """Everything a Schema Sync Node needs. Build with ``SyncConfig.from_settings``."""

    db_url: str = field(repr=False)
    schema_path: str = "./database/supabase_schema.ts"
    hash_cache_path: str = "./.last_schema_hash"
    snapshot_path: str | None = None  # default: next to the hash cache
    typegen_command: str | None = None
    typegen_options: Any = None  # TypegenOptions of the built-in generator (None: its defaults)
    project_id: str = "ctas7-command-center"
    source_node: str = "schema_sync"
    poll_interval: float = 5.0  # polling fallback, s
    debounce: float = 0.05  # quiet time after a notification before syncing, s
    debounce_max: float = 1.0  # longest a burst of notifications can delay a sync, s
    retry_initial: float = 0.5  # first reconnect / retry delay, s
    retry_max: float = 30.0  # longest reconnect / retry delay, s
    command_timeout: float = 300.0  # external generator, s
    watch_artifacts: bool = True
    catalog_probe: bool = True  # skip introspection when no catalog row changed since the last
    max_changes_bytes: int = 16_384  # structured diff kept in the event up to this size
    # every generated types file as (language, path), the first being the seed's types file
    # (its path becomes ``schema_path``); () = TypeScript at ``schema_path`` only
    types: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.types:
            return
        from ctas7_panel.schema.languages import check_language

        paths = [path for _, path in self.types]
        for language, path in self.types:
            check_language(language)
            if not path:
                raise SchemaError(f"types file for {language!r} has an empty path")
            if paths.count(path) > 1:
                raise SchemaError(f"types file {path!r} is listed twice: give each file once")
        object.__setattr__(self, "schema_path", self.types[0][1])

    @classmethod
    def from_settings(cls, settings: Settings, db_url: str, **overrides: Any) -> SyncConfig:
        """The node's configuration from ``Settings``; ``overrides`` (CLI flags) win unless None."""
        values: dict[str, Any] = {
            "db_url": db_url,
            "schema_path": settings.schema_path,
            "hash_cache_path": settings.hash_cache_path,
            "typegen_command": settings.typegen_command,
            "project_id": settings.supabase_project_id,
            "poll_interval": settings.poll_interval,
        }
        types = getattr(settings, "types", None)
        if types:
            if overrides.get("schema_path") is not None:
                raise UsageError(
                    "--schema-path and CTAS7_TYPES both name the types file: the first entry "
                    "of CTAS7_TYPES is the seed's types file, give one of them"
                )
            values["types"] = tuple(types)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def outputs(self) -> tuple[tuple[str, str], ...]:
        """Every types file as (language, path), the seed's first."""
        return self.types or (("typescript", self.schema_path),)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(language for language, _ in self.outputs))

    @property
    def snapshot_file(self) -> Path:
        if self.snapshot_path:
            return Path(self.snapshot_path)
        return artifacts.default_snapshot_path(self.hash_cache_path)

    @property
    def generator_id(self) -> str:
        """Names the generator, its options and the types files; a change forces regeneration."""
        if self.typegen_command:
            base = f"command:{self.typegen_command}"
        elif self.typegen_options is None:
            base = "builtin"
        else:
            base = f"builtin:{self.typegen_options!r}"
        if self.outputs != (("typescript", self.schema_path),):
            base += " types=" + ",".join(f"{lang}:{path}" for lang, path in self.outputs)
        return base


# --- what introspection gives the pass (injectable) -----------------------------------------


@dataclass(frozen=True, slots=True)
class Inspection:
    """One look at the live schema: its fingerprint and how to render its types."""

    fingerprint: str
    table_count: int
    snapshot: dict[str, Any]
    # the built-in generator, run only when needed: ``render()`` is TypeScript,
    # ``render(language)`` any of ``languages.LANGUAGES``
    render: Callable[..., str]


@dataclass(frozen=True, slots=True)
class DiffSummary:
    summary: dict[str, Any]  # SchemaDiff.summary(): counts, and the first names of each kind
    changes: dict[str, Any]  # structured (SchemaDiff.to_dict())
    empty: bool


Inspector = Callable[[psycopg.Connection[Any], Any], Inspection]
Differ = Callable[[dict[str, Any], dict[str, Any]], DiffSummary]


def builtin_inspector(
    conn: psycopg.Connection[Any], options: Any, *, languages: tuple[str, ...] = ("typescript",)
) -> Inspection:
    """Introspect with the project's catalog queries and generators (``ctas7_panel.schema``);
    ``languages``: the ones ``render`` will be asked for (Python, Go, Swift need more catalog)."""
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.languages import generate, needs_type_list
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    opts = TypegenOptions() if options is None else options
    catalog = introspect(conn, opts, type_list=any(needs_type_list(lang) for lang in languages))
    snapshot = to_snapshot(catalog)

    def render(language: str = "typescript") -> str:
        return generate(language, catalog, opts)

    return Inspection(
        fingerprint=fingerprint(snapshot),
        table_count=sum(1 for rel in catalog.relations if rel.is_table),
        snapshot=snapshot,
        render=render,
    )


def builtin_differ(old: dict[str, Any], new: dict[str, Any]) -> DiffSummary:
    from ctas7_panel.schema.diff import diff_snapshots

    diff = diff_snapshots(old, new)
    return DiffSummary(summary=diff.summary(), changes=diff.to_dict(), empty=diff.is_empty)


# --- the snapshot record on disk ---------------------------------------------------------------


# --- the pure decision -------------------------------------------------------------------------


# --- the external generator -------------------------------------------------------------------


class GeneratorError(SchemaError):
    """The external generator command failed; ``stderr_tail`` holds the end of its stderr."""

    def __init__(self, message: str, *, stderr_tail: str = "", returncode: int | None = None):
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.returncode = returncode


def expand_command(command: str, *, db_url: str, project_id: str) -> list[str]:
    """Split the command (shell-like quoting, no shell) and fill ``{db_url}``/``{project_id}``."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise SchemaError(
            f"CTAS7_TYPEGEN_COMMAND={command!r} cannot be parsed: {exc} (check the quoting)"
        ) from exc
    if not argv:
        raise SchemaError("CTAS7_TYPEGEN_COMMAND is empty: give a command or unset it")
    return [a.replace("{db_url}", db_url).replace("{project_id}", project_id) for a in argv]


def run_typegen_command(
    command: str, *, db_url: str, project_id: str, timeout: float, env: Mapping[str, str]
) -> str:
    """Run the external generator; its stdout is the types file. Raises ``GeneratorError``."""
    argv = expand_command(command, db_url=db_url, project_id=project_id)
    child_env = {**env, "CTAS7_DATABASE_URL": db_url, "SUPABASE_PROJECT_ID": project_id}
    try:
        proc = subprocess.run(
            argv, capture_output=True, timeout=timeout, env=child_env, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise GeneratorError(
            f"typegen command {argv[0]!r} not found (check CTAS7_TYPEGEN_COMMAND and PATH)"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        tail = _tail(exc.stderr)
        raise GeneratorError(
            f"typegen command {argv[0]!r} did not finish within {timeout:g} s", stderr_tail=tail
        ) from exc
    except OSError as exc:
        raise GeneratorError(f"typegen command {argv[0]!r} cannot run: {exc}") from exc
    tail = _tail(proc.stderr)
    if proc.returncode != 0:
        last = tail.strip().splitlines()[-1] if tail.strip() else "no stderr"
        raise GeneratorError(
            f"typegen command {argv[0]!r} exited with {proc.returncode}: {last}",
            stderr_tail=tail,
            returncode=proc.returncode,
        )
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GeneratorError(f"typegen command {argv[0]!r} printed non-UTF-8 output") from exc
    if not text.strip():
        raise GeneratorError(
            f"typegen command {argv[0]!r} printed nothing on stdout", stderr_tail=tail
        )
    return text


def _tail(data: bytes | str | None) -> str:
    if not data:
        return ""
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return text[-STDERR_TAIL_CHARS:]


# --- the pass ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Failure:
    """A pass that could not finish: which stage, why; ``connection``: the database is gone."""

    stage: str
    error: str
    connection: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


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
        self._inspector = inspector or functools.partial(
            builtin_inspector, languages=config.languages
        )
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
        """
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                conn = self._connection()
            except DatabaseError as exc:
                return Failure("connect", str(exc), connection=True)
            try:
                probe = catalog_probe(conn) if self.config.catalog_probe else None
                memo = self._inspect_memo
                if probe is not None and memo is not None and memo[0] == probe:
                    return memo[1]
                seen = self._inspector(conn, self.config.typegen_options)
                self._inspect_memo = None if probe is None else (probe, seen)
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
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    # -- artifact restore (called by the watcher when watchfiles reports a change)

    def restore_artifacts_blocking(self) -> list[Event]:
        """Rewrite every artifact that differs from the last pass; one event per file restored."""
        out = []
        for path, data in list(self.expected.items()):
            try:
                current: bytes | None = path.read_bytes()
            except OSError:
                current = None
            if current == data:
                continue
            change = "deleted" if current is None else "modified"
            try:
                artifacts.atomic_write(path, data)
            except Ctas7Error as exc:
                out.append(self.artifact_event(path, change, restored=False, error=str(exc)))
                continue
            out.append(self.artifact_event(path, change, restored=True, trigger="artifact"))
        return out


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
