"""The schema audit: is the types file on disk the one the live schema generates? Fix it if not.

``run_audit(config)`` compares the live schema fingerprint with the hash cache
(``CTAS_HASH_CACHE_PATH``) and the types file (``CTAS_SCHEMA_PATH``) with the hash recorded when
it was generated; when either differs it regenerates them through the Schema Sync Node (one
pass, same artifacts, same atomic writes). It returns an ``AuditResult``:

- ``VERIFIED``: everything on disk matches the live schema;
- ``REGENERATED``: the schema changed (the report carries the diff), the cached state was missing
  or corrupt, or the types file was edited or deleted: the types were rewritten;
- ``FAILED``: the database is unreachable, introspection or generation failed, or a file could
  not be written. Nothing partial is left on disk.

It never raises for those: a failure is a result. ``write_report`` writes
``schema_audit_report.md`` atomically (``ctas7_panel.testing.report`` renders it).

Fast path: after each pass the audit records, next to the hash cache
(``<hash cache>.audit.json``), the catalog probe of the database (a count and hash of every
catalog row version, ``schema/sql/catalog_probe.sql``), the fingerprint and the SHA-256 of the
types files (``CTAS7_TYPES``: every language kept in step) and of the snapshot. When the
probe, the hash cache and the files still match, nothing in the catalog changed since a pass
that verified them, so the audit answers VERIFIED without introspecting (one connection, one
query, the files' hashes). Any mismatch, or a missing or corrupt record, takes the full path;
the record is only an optimisation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.errors import Ctas7Error, DatabaseError
from ctas7_panel.events import Event
from ctas7_panel.schema import artifacts
from ctas7_panel.settings import redact_url
from ctas7_panel.testing.report import FAILED, REGENERATED, VERIFIED, AuditResult, render_report

if TYPE_CHECKING:
    import psycopg

    from ctas7_panel.schema.sync import DiffSummary, Failure, Inspection, SyncConfig
    from ctas7_panel.settings import Settings

DEFAULT_REPORT = "schema_audit_report.md"
SOURCE_NODE = "schema_audit"
PROBE_FORMAT = "ctas7-audit-probe/1"
PROBE_SUFFIX = ".audit.json"

MESSAGES = {
    "verified": "Schema hash matches cache - types file is current",
    "changed": "Schema hash mismatch detected - schema regenerated",
    "unknown": "Cached schema state unusable - schema regenerated",
    "restored": "Types file {change} on disk - regenerated from the live schema",
    "failed": "Schema could not be verified - {stage} failed",
}


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """One audit: the sync configuration (database, artifacts, generator) and the report."""

    sync: SyncConfig
    report_path: str | None = DEFAULT_REPORT
    fast_path: bool = True

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        db_url: str,
        *,
        report_path: str | None = DEFAULT_REPORT,
        fast_path: bool = True,
        **sync_overrides: Any,
    ) -> AuditConfig:
        from ctas7_panel.schema.sync import SyncConfig

        sync_overrides.setdefault("source_node", SOURCE_NODE)
        sync = SyncConfig.from_settings(settings, db_url, **sync_overrides)
        return cls(sync=sync, report_path=report_path, fast_path=fast_path)

    @property
    def probe_file(self) -> Path:
        return Path(self.sync.hash_cache_path + PROBE_SUFFIX)


# --- the probe record (fast path) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """What a verified pass saw: catalog probe, fingerprint and the artifacts' hashes."""

    database: str
    generator: str
    probe: str
    fingerprint: str
    table_count: int
    types_sha: str
    snapshot_sha: str
    other_types: dict[str, str] = dataclasses.field(default_factory=dict)  # path -> SHA-256

    def encode(self) -> bytes:
        return orjson.dumps(
            {"format": PROBE_FORMAT, **dataclasses.asdict(self)}, option=orjson.OPT_SORT_KEYS
        )

    @classmethod
    def decode(cls, data: bytes | None) -> ProbeRecord | None:
        if data is None:
            return None
        try:
            obj = orjson.loads(data)
            if obj.pop("format") != PROBE_FORMAT:
                return None
            return cls(**obj)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            return None


def database_identity(url: str) -> str:
    """The database a URL names (password hidden): a probe is only valid for the same one."""
    return redact_url(url)


@functools.cache
def _probe_sql() -> bytes:
    return (resources.files("ctas7_panel.schema") / "sql" / "catalog_probe.sql").read_bytes()


def catalog_probe(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(_probe_sql()).fetchone()
    return "" if row is None else str(row[0])


def _fast_verify(config: AuditConfig) -> tuple[ProbeRecord | None, DatabaseError | None]:
    """(record, None) when nothing changed since the recorded pass; (None, error) when the
    database cannot be reached; (None, None) when the full pass must run."""
    cfg = config.sync
    data, _ = artifacts.read_bytes(config.probe_file)
    rec = ProbeRecord.decode(data)
    if (
        rec is None
        or rec.database != database_identity(cfg.db_url)
        or rec.generator != cfg.generator_id
        or artifacts.read_hash_cache(cfg.hash_cache_path).value != rec.fingerprint
        or artifacts.file_sha256(cfg.schema_path) != rec.types_sha
        or artifacts.file_sha256(cfg.snapshot_file) != rec.snapshot_sha
        or set(rec.other_types) != {path for _, path in cfg.outputs[1:]}
        or any(artifacts.file_sha256(path) != sha for path, sha in rec.other_types.items())
    ):
        return None, None
    try:
        conn = pgtools.connect(cfg.db_url)
    except DatabaseError as exc:
        return None, exc
    try:
        probe = catalog_probe(conn)
    except Exception:  # any trouble here: the full pass decides and reports
        return None, None
    finally:
        conn.close()
    return (rec, None) if probe == rec.probe else (None, None)


# --- the full pass --------------------------------------------------------------------------


class _Recorder:
    """Inspector and differ for the sync node that also keep the probe and the diff text."""

    def __init__(self, languages: tuple[str, ...] = ("typescript",)) -> None:
        self.languages = languages
        self.probe: str | None = None
        self.diff_text: str | None = None

    def inspect(self, conn: psycopg.Connection[Any], options: Any) -> Inspection:
        from ctas7_panel.schema.sync import builtin_inspector

        probe = catalog_probe(conn)  # before introspecting: a racing change is seen next time
        seen = builtin_inspector(conn, options, languages=self.languages)
        self.probe = probe
        return seen

    def diff(self, old: dict[str, Any], new: dict[str, Any]) -> DiffSummary:
        from ctas7_panel.schema.diff import diff_snapshots
        from ctas7_panel.schema.sync import DiffSummary

        d = diff_snapshots(old, new)
        self.diff_text = d.to_text()
        return DiffSummary(summary=d.summary(), changes=d.to_dict(), empty=d.is_empty)


async def _one_pass(node: Any) -> Event | Failure:
    async with node:
        result: Event | Failure = await node.run_pass("audit")
        return result


def _record_probe(config: AuditConfig, probe: str | None, fingerprint: str, tables: int) -> None:
    cfg = config.sync
    types_sha = artifacts.file_sha256(cfg.schema_path)
    snapshot_sha = artifacts.file_sha256(cfg.snapshot_file)
    others = {path: artifacts.file_sha256(path) for _, path in cfg.outputs[1:]}
    if probe is None or types_sha is None or snapshot_sha is None or None in others.values():
        return
    rec = ProbeRecord(
        database_identity(cfg.db_url),
        cfg.generator_id,
        probe,
        fingerprint,
        tables,
        types_sha,
        snapshot_sha,
        {path: sha for path, sha in others.items() if sha is not None},
    )
    try:
        artifacts.atomic_write(config.probe_file, rec.encode())
    except Ctas7Error:
        pass  # only an optimisation: the next audit takes the full path


def run_audit(config: AuditConfig, *, clock: Any = time.time) -> AuditResult:
    """Audit once (blocking; call from a thread in async code). Never raises for a failed audit.

    Must not be called from a running event loop's thread (it runs one of its own for the pass).
    """
    from ctas7_panel.schema.sync import Failure, SchemaSyncNode

    started = time.perf_counter()
    generated_at = float(clock())
    cfg = config.sync
    common: dict[str, Any] = {"schema_path": cfg.schema_path, "generated_at": generated_at}

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    record, down = _fast_verify(config) if config.fast_path else (None, None)
    if record is not None:
        event = ev.schema_nochange(
            current_hash=record.fingerprint,
            schema_path=cfg.schema_path,
            table_count=record.table_count,
            source_node=cfg.source_node,
            types_hash=record.types_sha,
            types_hashes={cfg.schema_path: record.types_sha, **record.other_types},
            diff=None,
            duration_ms=elapsed(),
            trigger="audit",
            fast_path=True,
        )
        return _finish(
            AuditResult(
                VERIFIED,
                MESSAGES["verified"],
                duration_ms=elapsed(),
                fingerprint=record.fingerprint,
                old_hash=record.fingerprint,
                table_count=record.table_count,
                fast_path=True,
                **common,
            ),
            event,
            config,
        )
    if down is not None:
        outcome: Event | Failure = Failure("connect", str(down), connection=True)
        recorder = _Recorder()
        node = None
    else:
        recorder = _Recorder(cfg.languages)
        node = SchemaSyncNode(
            dataclasses.replace(cfg, catalog_probe=False),
            inspector=recorder.inspect,
            differ=recorder.diff,
        )
        outcome = asyncio.run(_one_pass(node))

    if isinstance(outcome, Failure):
        event = (
            node.failure_event(outcome, None)
            if node is not None
            else ev.schema_error(
                error=outcome.error,
                stage=outcome.stage,
                retry_in_s=None,
                source_node=cfg.source_node,
                schema_path=cfg.schema_path,
                database=pgtools.database_name(cfg.db_url),
            )
        )
        result = AuditResult(
            FAILED,
            MESSAGES["failed"].format(stage=outcome.stage),
            duration_ms=elapsed(),
            reason=outcome.error,
            stage=outcome.stage,
            **common,
        )
        return _finish(result, event, config)

    p = outcome.payload
    if outcome.event_type == "schema_nochange":
        _record_probe(config, recorder.probe, p["new_hash"], p["table_count"])
        result = AuditResult(
            VERIFIED,
            MESSAGES["verified"],
            duration_ms=elapsed(),
            fingerprint=p["new_hash"],
            old_hash=p["old_hash"],
            table_count=p["table_count"],
            **common,
        )
    elif outcome.event_type == "schema_updated":
        _record_probe(config, recorder.probe, p["new_hash"], p["table_count"])
        reason = str(p.get("reason") or "")
        changed = p.get("old_hash") is not None and reason.startswith("schema changed")
        result = AuditResult(
            REGENERATED,
            MESSAGES["changed" if changed else "unknown"],
            duration_ms=elapsed(),
            fingerprint=p["new_hash"],
            old_hash=p["old_hash"],
            table_count=p["table_count"],
            reason=reason or None,
            diff_text=recorder.diff_text,
            **common,
        )
    else:  # schema_artifact_modified: the types file was edited or deleted, and restored
        fingerprint = artifacts.read_hash_cache(cfg.hash_cache_path).value
        tables = _recorded_table_count(cfg.snapshot_file)
        if fingerprint is not None and isinstance(tables, int):
            _record_probe(config, recorder.probe, fingerprint, tables)
        change = str(p.get("change", "modified"))
        result = AuditResult(
            REGENERATED,
            MESSAGES["restored"].format(change=change),
            duration_ms=elapsed(),
            fingerprint=fingerprint,
            old_hash=fingerprint,
            table_count=tables if isinstance(tables, int) else None,
            reason=f"types file {change}",
            **common,
        )
    return _finish(result, outcome, config)


def _recorded_table_count(path: Path) -> int | None:
    """The table count in the sync node's snapshot record (None if it cannot be read)."""
    from ctas7_panel.schema.snapshot_file import read_snapshot_file

    try:
        record = read_snapshot_file(path).record
    except Ctas7Error:
        return None
    return None if record is None else record.table_count


def _finish(result: AuditResult, sync_event: Event, config: AuditConfig) -> AuditResult:
    return _summarise(result, sync_event, config.sync.source_node, config.report_path)


def _summarise(
    result: AuditResult, sync_event: Event, source_node: str, report_path: str | None
) -> AuditResult:
    """Attach the events: the sync pass's own and one ``schema_audit`` summary."""
    summary = Event.create(
        "schema_audit",
        {
            "status": result.status,
            "message": result.message,
            "schema_path": result.schema_path,
            "fingerprint": result.fingerprint,
            "old_hash": result.old_hash,
            "table_count": result.table_count,
            "reason": result.reason,
            "stage": result.stage,
            "duration_ms": result.duration_ms,
            "fast_path": result.fast_path,
            "report_path": report_path,
        },
        source_node=source_node,
        timestamp=result.generated_at,
    )
    return dataclasses.replace(result, events=(sync_event, summary))


def write_report(result: AuditResult, path: str | Path) -> Path:
    """Write ``schema_audit_report.md`` atomically; raises ``ArtifactError`` naming the file."""
    target = Path(path)
    artifacts.atomic_write(target, render_report(result).encode("utf-8"))
    return target


# --- the whole audit, as the CLI and the pytest plugin run it -----------------------------------


def database_url(settings: Settings, db_url: str | None = None) -> AbstractContextManager[str]:
    """``db_url``, else ``CTAS7_DATABASE_URL``, else the embedded server (started, then stopped).

    Raises ``UsageError`` for a malformed URL and ``DatabaseError`` when the embedded server
    cannot start.
    """
    from ctas7_panel.embedded import database_url as resolve

    return resolve(db_url or settings.database_url, settings.home)


def audit(
    settings: Settings,
    *,
    db_url: str | None = None,
    report_path: str | None = DEFAULT_REPORT,
    fast_path: bool = True,
    **sync_overrides: Any,
) -> AuditResult:
    """Run the audit for ``settings`` and write the report (unless ``report_path`` is None).

    A database that cannot be reached (or an embedded one that cannot start) is a FAILED
    result; raises ``UsageError`` for a malformed URL and ``ArtifactError`` when the report
    cannot be written.
    """
    generated_at = time.time()
    started = time.perf_counter()
    try:
        with database_url(settings, db_url) as url:
            config = AuditConfig.from_settings(
                settings, url, report_path=report_path, fast_path=fast_path, **sync_overrides
            )
            result = run_audit(config)
    except DatabaseError as exc:
        schema_path = sync_overrides.get("schema_path") or settings.schema_path
        source = sync_overrides.get("source_node") or SOURCE_NODE
        failure = AuditResult(
            FAILED,
            MESSAGES["failed"].format(stage="connect"),
            schema_path=schema_path,
            generated_at=generated_at,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            reason=str(exc),
            stage="connect",
        )
        event = ev.schema_error(
            error=str(exc),
            stage="connect",
            retry_in_s=None,
            source_node=source,
            schema_path=schema_path,
        )
        result = _summarise(failure, event, source, report_path)
    if report_path is not None:
        write_report(result, report_path)
    return result
