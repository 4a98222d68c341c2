"""The audit report: the seed's structure, line by line, for each status (pure)."""

from __future__ import annotations

import pytest

from ctas7_panel.testing.report import (
    CLOSING,
    FAILED,
    MAX_DIFF_LINES,
    REGENERATED,
    VERIFIED,
    AuditResult,
    exit_code,
    iso_utc,
    render_report,
)

T = 1_760_820_600.0  # 2025-10-18T20:50:00Z, the seed's example time


def result(status: str, **kw: object) -> AuditResult:
    base: dict[str, object] = {
        "message": "Schema hash mismatch detected - schema regenerated",
        "schema_path": "./database/supabase_schema.ts",
        "generated_at": T,
        "duration_ms": 12.3,
    }
    base.update(kw)
    return AuditResult(status, **base)  # type: ignore[arg-type]


def test_regenerated_report_has_the_seed_structure_exactly() -> None:
    text = render_report(
        result(
            REGENERATED,
            fingerprint="b" * 64,
            old_hash="a" * 64,
            table_count=7,
            reason="schema changed",
            diff_text="+ column public.nodes.region: text\n",
        )
    )
    lines = text.splitlines()
    assert lines[:9] == [
        "# CTAS-7 Schema Audit Report",
        "",
        "**Generated:** 2025-10-18T20:50:00.000Z",
        "**Status:** REGENERATED",
        "",
        "## Audit Results",
        "- Schema Status: regenerated",
        "- Message: Schema hash mismatch detected - schema regenerated",
        "- Schema Path: ./database/supabase_schema.ts",
    ]
    assert f"- Schema Hash: {'b' * 64} (was {'a' * 64})" in lines
    assert "- Tables: 7" in lines
    assert "- Reason: schema changed" in lines
    diff_at = lines.index("## Schema Diff")
    assert lines[diff_at + 1 : diff_at + 4] == [
        "```diff",
        "+ column public.nodes.region: text",
        "```",
    ]
    assert lines[-3:] == [
        "",
        "✅ Schema is updated and ready",
        "→ Schema has been regenerated - Playwright tests will use fresh types",
    ]
    assert text.endswith("\n")


def test_verified_report_has_no_diff_and_its_own_closing_lines() -> None:
    text = render_report(
        result(
            VERIFIED,
            message="Schema hash matches cache",
            fingerprint="c" * 64,
            old_hash="c" * 64,
        )
    )
    assert "**Status:** VERIFIED" in text
    assert "- Schema Status: verified" in text
    assert "## Schema Diff" not in text
    assert "(was " not in text  # same hash: nothing to compare
    assert text.splitlines()[-2:] == list(CLOSING[VERIFIED])


def test_failed_report_names_the_stage_and_error() -> None:
    error = "cannot connect to postgresql://u@127.0.0.1:1/db: connection refused"
    text = render_report(
        result(
            FAILED,
            message="Schema could not be verified - connect failed",
            reason=error,
            stage="connect",
        )
    )
    lines = text.splitlines()
    assert "**Status:** FAILED" in lines
    assert "- Failed Stage: connect" in lines
    err_at = lines.index("## Error")
    assert lines[err_at + 1 : err_at + 4] == ["```text", error, "```"]
    assert lines[-2:] == list(CLOSING[FAILED])


def test_regenerated_without_a_previous_snapshot_says_why() -> None:
    text = render_report(result(REGENERATED, reason="hash cache missing; snapshot missing"))
    assert "No structural diff available (hash cache missing; snapshot missing)." in text


def test_diff_fence_outgrows_backticks_in_the_diff() -> None:
    text = render_report(
        result(REGENERATED, diff_text="~ column public.t.c: default ```x``` -> ````y````\n")
    )
    assert "`````diff" in text  # 5 backticks: longer than the 4 inside
    assert text.count("`````") == 2


def test_long_diff_is_cut_with_a_count() -> None:
    diff = "".join(f"+ table public.t{i}\n" for i in range(MAX_DIFF_LINES + 25))
    text = render_report(result(REGENERATED, diff_text=diff))
    assert "+ table public.t0" in text
    assert f"+ table public.t{MAX_DIFF_LINES}\n" not in text
    assert "... 25 more changes" in text


def test_multiline_message_stays_on_its_bullet() -> None:
    text = render_report(result(VERIFIED, message="line one\nline two"))
    assert "- Message: line one line two" in text


@pytest.mark.parametrize(("status", "code"), [(VERIFIED, 0), (REGENERATED, 0), (FAILED, 1)])
def test_exit_codes(status: str, code: int) -> None:
    assert exit_code(status) == code  # type: ignore[arg-type]
    assert result(status).exit_code == code
    assert result(status).ok is (code == 0)


def test_iso_utc_matches_the_seed_format() -> None:
    assert iso_utc(T) == "2025-10-18T20:50:00.000Z"
    assert iso_utc(T + 0.25) == "2025-10-18T20:50:00.250Z"
