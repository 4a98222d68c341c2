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

Fast path: the sync node's own decision (``schema.decision``). After each pass the audit keeps,
next to the hash cache (``<hash cache>.audit.json``), a ``ProbeMark``: the database's catalog
probe (a count and hash of every catalog row version, ``schema/sql/catalog_probe.sql``) when its
schema had the fingerprint the pass saw. The next audit reads the disk as the node does
(``observe``); when ``decide`` finds everything unchanged for the mark's fingerprint (hash cache,
snapshot record, generator, every types file's hash) and the probe still matches, nothing in
the catalog changed since, so the audit answers VERIFIED without introspecting (one
connection, one query). Any mismatch, or a missing or corrupt mark, takes the full path; the
mark is only an optimisation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.errors import Ctas7Error, DatabaseError
from ctas7_panel.events import Event
from ctas7_panel.schema import artifacts
from ctas7_panel.settings import redact_url
from ctas7_panel.testing.report import FAILED, REGENERATED, VERIFIED, AuditResult, render_report

if TYPE_CHECKING:
    import psycopg

    from ctas7_panel.schema.decision import Failure
    from ctas7_panel.schema.inspection import DiffSummary, Inspection
    from ctas7_panel.schema.snapshot_file import SnapshotRecord
    from ctas7_panel.schema.sync_config import SyncConfig
    from ctas7_panel.settings import Settings

DEFAULT_REPORT = "schema_audit_report.md"
SOURCE_NODE = "schema_audit"
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
        from ctas7_panel.schema.sync_config import SyncConfig

        sync_overrides.setdefault("source_node", SOURCE_NODE)
        sync = SyncConfig.from_settings(settings, db_url, **sync_overrides)
        return cls(sync=sync, report_path=report_path, fast_path=fast_path)

    @property
    def probe_file(self) -> Path:
        return Path(self.sync.hash_cache_path + PROBE_SUFFIX)


# --- the fast path ---------------------------------------------------------------------------


def database_identity(url: str) -> str:
    """The database a URL names (password hidden): a probe is only valid for the same one."""
    return redact_url(url)


def _fast_verify(config: AuditConfig) -> tuple[SnapshotRecord | None, DatabaseError | None]:
    """(record, None) when nothing changed since the marked pass; (None, error) when the
    database cannot be reached; (None, None) when the full pass must run."""
    from ctas7_panel.schema.decision import ProbeMark, catalog_probe, observe, verified_by_probe

    cfg = config.sync
    data, _ = artifacts.read_bytes(config.probe_file)
    observed, _, _ = observe(cfg.hash_cache_path, cfg.snapshot_file, [p for _, p in cfg.outputs])
    down: list[DatabaseError] = []

    def probe() -> str:
        try:
            conn = pgtools.connect(cfg.db_url)
        except DatabaseError as exc:
            down.append(exc)
            return ""
        try:
            return catalog_probe(conn)
        except Exception:  # any trouble here: the full pass decides and reports
            return ""
        finally:
            conn.close()

    verified = verified_by_probe(
        ProbeMark.decode(data),
        database=database_identity(cfg.db_url),
        generator=cfg.generator_id,
        observed=observed,
        probe=probe,
    )
    if down:
        return None, down[0]
    return (observed.record, None) if verified else (None, None)


# --- the full pass --------------------------------------------------------------------------


class _Recorder:
    """Inspector and differ for the sync node that also keep the probe and the diff text."""

    def __init__(self, languages: tuple[str, ...] = ("typescript",)) -> None:
        self.languages = languages
        self.probe: str | None = None
        self.diff_text: str | None = None

    def inspect(self, conn: psycopg.Connection[Any], options: Any) -> Inspection:
        from ctas7_panel.schema.decision import catalog_probe
        from ctas7_panel.schema.inspection import builtin_inspector

        probe = catalog_probe(conn)  # before introspecting: a racing change is seen next time
        seen = builtin_inspector(conn, options, languages=self.languages)
        self.probe = probe
        return seen

    def diff(self, old: dict[str, Any], new: dict[str, Any]) -> DiffSummary:
        from ctas7_panel.schema.diff import diff_snapshots
        from ctas7_panel.schema.inspection import DiffSummary

        d = diff_snapshots(old, new)
        self.diff_text = d.to_text()
        return DiffSummary(summary=d.summary(), changes=d.to_dict(), empty=d.is_empty)


async def _one_pass(node: Any) -> Event | Failure:
    async with node:
        result: Event | Failure = await node.run_pass("audit")
        return result


def _record_probe(config: AuditConfig, probe: str | None, fingerprint: str) -> None:
    from ctas7_panel.schema.decision import ProbeMark

    if probe is None:
        return
    mark = ProbeMark(database_identity(config.sync.db_url), probe, fingerprint)
    try:
        artifacts.atomic_write(config.probe_file, mark.encode())
    except Ctas7Error:
        pass  # only an optimisation: the next audit takes the full path


def run_audit(config: AuditConfig, *, clock: Any = time.time) -> AuditResult:
    """Audit once (blocking; call from a thread in async code). Never raises for a failed audit.

    Must not be called from a running event loop's thread (it runs one of its own for the pass).
    """
    from ctas7_panel.schema.decision import Failure
    from ctas7_panel.schema.sync import SchemaSyncNode

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
            types_hash=record.types_hash,
            types_hashes=record.types_hashes or {cfg.schema_path: record.types_hash},
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
        _record_probe(config, recorder.probe, p["new_hash"])
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
        _record_probe(config, recorder.probe, p["new_hash"])
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
            _record_probe(config, recorder.probe, fingerprint)
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
