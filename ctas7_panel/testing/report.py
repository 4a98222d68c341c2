"""The schema audit's outcome and its ``schema_audit_report.md`` (pure: no I/O).

``AuditResult`` is what one audit found; ``render_report(result)`` is the Markdown report in the
seed's format (title, ``Generated``, ``Status``, ``Audit Results`` with status, message and
schema path, the diff when the types were regenerated, and the closing lines)::

    # CTAS-7 Schema Audit Report

    **Generated:** 2025-10-18T20:50:00.000Z
    **Status:** REGENERATED

    ## Audit Results
    - Schema Status: regenerated
    - Message: Schema hash mismatch detected - schema regenerated
    - Schema Path: ./database/supabase_schema.ts
    ...

    ✅ Schema is updated and ready
    → Schema has been regenerated - Playwright tests will use fresh types

``exit_code`` maps a status to the command line's exit code: 0 verified or regenerated, 1 failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ctas7_panel.events import Event

Status = Literal["VERIFIED", "REGENERATED", "FAILED"]
VERIFIED: Status = "VERIFIED"
REGENERATED: Status = "REGENERATED"
FAILED: Status = "FAILED"

TITLE = "# CTAS-7 Schema Audit Report"
CLOSING: dict[Status, tuple[str, str]] = {
    VERIFIED: (
        "✅ Schema is verified and ready",
        "→ Schema matches the database - Playwright tests will use current types",
    ),
    REGENERATED: (
        "✅ Schema is updated and ready",
        "→ Schema has been regenerated - Playwright tests will use fresh types",
    ),
    FAILED: (
        "❌ Schema audit failed",
        "→ Tests must not run against unverified types - fix the cause above and run again",
    ),
}
MAX_DIFF_LINES = 200


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What one schema audit found.

    ``reason`` says why types were regenerated (``schema changed``, ``hash cache missing``...)
    or, for FAILED, the error; ``stage`` is where a failure happened (connect, introspect,
    typegen, write). ``diff_text`` is the schema diff (``SchemaDiff.to_text()``) when the types
    were regenerated and a previous snapshot existed. ``events`` are the events the audit emits.
    """

    status: Status
    message: str
    schema_path: str
    generated_at: float
    duration_ms: float
    fingerprint: str | None = None
    old_hash: str | None = None
    table_count: int | None = None
    reason: str | None = None
    stage: str | None = None
    diff_text: str | None = None
    fast_path: bool = False
    events: tuple[Event, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status != FAILED

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)

    def one_line(self) -> str:
        """``VERIFIED in 12 ms: Schema hash matches ...`` for terminals."""
        return f"{self.status} in {self.duration_ms:.0f} ms: {self.message}"


def exit_code(status: Status) -> int:
    """0 for VERIFIED and REGENERATED, 1 for FAILED."""
    return 1 if status == FAILED else 0


def iso_utc(ts: float) -> str:
    """``2025-10-18T20:50:00.000Z``: the seed's ``Generated`` format (UTC, milliseconds)."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _diff_block(diff_text: str) -> list[str]:
    lines = diff_text.rstrip("\n").splitlines()
    if len(lines) > MAX_DIFF_LINES:
        more = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... {more} more changes"]
    body = "\n".join(lines)
    fence = _fence(body)
    return [f"{fence}diff", body, fence]


def render_report(result: AuditResult) -> str:
    """The Markdown report for ``result`` (ends with a newline)."""
    out = [
        TITLE,
        "",
        f"**Generated:** {iso_utc(result.generated_at)}",
        f"**Status:** {result.status}",
        "",
        "## Audit Results",
        f"- Schema Status: {result.status.lower()}",
        f"- Message: {_one_line(result.message)}",
        f"- Schema Path: {result.schema_path}",
    ]
    if result.fingerprint:
        was = (
            f" (was {result.old_hash})"
            if result.old_hash and result.old_hash != result.fingerprint
            else ""
        )
        out.append(f"- Schema Hash: {result.fingerprint}{was}")
    if result.table_count is not None:
        out.append(f"- Tables: {result.table_count}")
    if result.reason and result.status == REGENERATED:
        out.append(f"- Reason: {_one_line(result.reason)}")
    if result.stage and result.status == FAILED:
        out.append(f"- Failed Stage: {result.stage}")
    out.append(f"- Duration: {result.duration_ms:.0f} ms")
    if result.status == REGENERATED:
        out += ["", "## Schema Diff"]
        if result.diff_text and result.diff_text.strip():
            out += _diff_block(result.diff_text)
        else:
            why = result.reason or "no previous snapshot"
            out.append(f"No structural diff available ({_one_line(why)}).")
    if result.status == FAILED and result.reason and result.reason != result.message:
        fence = _fence(result.reason)
        out += ["", "## Error", f"{fence}text", result.reason.rstrip("\n"), fence]
    first, second = CLOSING[result.status]
    out += ["", first, second]
    return "\n".join(out) + "\n"
