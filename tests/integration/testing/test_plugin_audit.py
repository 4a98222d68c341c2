"""The pre-test schema audit gate, driven by pytester on real PostgreSQL.

The inner suites check, while they run, what the audit left on disk: so a pass proves the audit
ran before the tests and that they saw the fresh types.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port
from ctas7_panel.store import open_store

pytest_plugins = ["pytester"]

INNER = ("-p", "no:cacheprovider", "-p", "no:playwright", "-p", "no:asyncio")

SEES_TYPES = """
from pathlib import Path

def test_types_are_on_disk():
    text = Path("database/supabase_schema.ts").read_text()
    assert "nodes: {" in text
    Path("ran.marker").write_text("a test ran")
"""


@pytest.fixture
def core_db(fresh_db_url: str) -> str:
    apply_migrations(fresh_db_url)
    return fresh_db_url


@pytest.fixture
def env(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, core_db: str, bridge_url: str
) -> Path:
    """Relative artifact paths (inside pytester's directory), a SQLite store, no bus, a bridge
    URL of this test's own (refusing: the audit's events reach nothing but the store)."""
    for var in ("CTAS7_BUS_URL", "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CTAS7_BRIDGE_URL", bridge_url)
    monkeypatch.setenv("CTAS7_DATABASE_URL", core_db)
    monkeypatch.setenv("CTAS_SCHEMA_PATH", "database/supabase_schema.ts")
    monkeypatch.setenv("CTAS_HASH_CACHE_PATH", ".last_schema_hash")
    db = pytester.path / "events.db"
    monkeypatch.setenv("CTAS7_STORE_URL", f"sqlite:///{db}")
    return db


def report(pytester: pytest.Pytester) -> str:
    return (pytester.path / "schema_audit_report.md").read_text()


def event_types(db: Path) -> list[str]:
    store = open_store(f"sqlite:///{db}")
    try:
        return [e.event_type for _, e in store.fetch()]
    finally:
        store.close()


def test_unchanged_schema_is_verified(pytester: pytest.Pytester, env: Path) -> None:
    pytester.makepyfile(SEES_TYPES)
    first = pytester.runpytest(*INNER, "--ctas7-audit")
    first.assert_outcomes(passed=1)  # first run: no cache yet, types generated
    assert "**Status:** REGENERATED" in report(pytester)
    second = pytester.runpytest(*INNER, "--ctas7-audit")
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(
        ["ctas7 schema audit: VERIFIED in * ms: Schema hash matches cache*"]
    )
    text = report(pytester)
    assert "**Status:** VERIFIED" in text
    assert "- Schema Path: database/supabase_schema.ts" in text
    assert "- Tables: 7" in text
    assert text.rstrip().endswith("Playwright tests will use current types")
    assert event_types(env).count("schema_audit") == 2
    assert "schema_nochange" in event_types(env)


def test_alter_table_regenerates_with_diff_and_new_types(
    pytester: pytest.Pytester, env: Path, core_db: str
) -> None:
    pytester.makepyfile(SEES_TYPES)
    pytester.runpytest(*INNER, "--ctas7-audit").assert_outcomes(passed=1)
    pgtools.apply_sql(core_db, "ALTER TABLE public.nodes ADD COLUMN region text")
    pytester.makepyfile(
        test_region="""
from pathlib import Path

def test_fresh_types_have_the_new_column():
    text = Path("database/supabase_schema.ts").read_text()
    nodes = text[text.index("nodes: {"):text.index("Relationships", text.index("nodes: {"))]
    assert "region: string | null" in nodes
"""
    )
    result = pytester.runpytest(*INNER, "--ctas7-audit")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["ctas7 schema audit: REGENERATED in * ms: Schema hash mismatch*"])
    text = report(pytester)
    assert "**Status:** REGENERATED" in text
    assert "- Message: Schema hash mismatch detected - schema regenerated" in text
    assert re.search(r"```diff\n\+ column public\.nodes\.region: text\n```", text), text
    assert text.rstrip().splitlines()[-2:] == [
        "✅ Schema is updated and ready",
        "→ Schema has been regenerated - Playwright tests will use fresh types",
    ]
    assert "schema_updated" in event_types(env)


def test_database_down_stops_the_session_before_any_test(
    pytester: pytest.Pytester, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    monkeypatch.setenv("CTAS7_DATABASE_URL", down)
    pytester.makepyfile(SEES_TYPES)
    result = pytester.runpytest(*INNER, "--ctas7-audit")
    assert result.ret == 1
    assert not (pytester.path / "ran.marker").exists()
    assert "collected" not in result.stdout.str()  # stopped before collection
    err = result.stderr.str()
    assert "ctas7 schema audit FAILED (connect): cannot connect to" in err
    assert "Connection refused" in err
    assert "no test was run; report: schema_audit_report.md" in err
    assert err.count("ctas7 schema audit FAILED") == 1
    text = report(pytester)
    assert "**Status:** FAILED" in text and "- Failed Stage: connect" in text
    assert event_types(env).count("schema_error") == 1


def test_env_variable_and_ini_enable_the_audit(
    pytester: pytest.Pytester, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SEES_TYPES)
    monkeypatch.setenv("PLAYWRIGHT_SCHEMA_AUDIT_ENABLED", "true")
    pytester.runpytest(*INNER).assert_outcomes(passed=1)
    assert "**Status:** REGENERATED" in report(pytester)
    monkeypatch.delenv("PLAYWRIGHT_SCHEMA_AUDIT_ENABLED")
    pytester.makeini("[pytest]\nctas7_audit = true\nctas7_audit_report = out/audit.md\n")
    pytester.runpytest(*INNER).assert_outcomes(passed=1)
    assert "**Status:** VERIFIED" in (pytester.path / "out" / "audit.md").read_text()


def test_bad_env_value_is_a_usage_error(
    pytester: pytest.Pytester, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(SEES_TYPES)
    monkeypatch.setenv("PLAYWRIGHT_SCHEMA_AUDIT_ENABLED", "perhaps")
    result = pytester.runpytest(*INNER)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "PLAYWRIGHT_SCHEMA_AUDIT_ENABLED='perhaps' is not a boolean" in result.stderr.str()


def test_audit_and_telemetry_with_the_bridge_down(pytester: pytest.Pytester, env: Path) -> None:
    pytester.makepyfile(SEES_TYPES)
    bridge = f"ws://127.0.0.1:{free_port()}/telemetry_bridge"
    result = pytester.runpytest(
        *INNER, "--ctas7-audit", "--ctas7-telemetry", "--ctas7-bridge-url", bridge
    )
    result.assert_outcomes(passed=1, warnings=1)
    assert result.stdout.str().count("Ctas7TelemetryWarning") == 1
    kinds = event_types(env)
    assert kinds.count("schema_audit") == 1
    assert kinds.count("playwright_test_completed") == 1


def test_xdist_audits_once_on_the_controller(pytester: pytest.Pytester, env: Path) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(
        SEES_TYPES.replace("def test_types_are_on_disk", "def test_a")
        + SEES_TYPES.split("\n", 3)[3].replace("def test_types_are_on_disk", "def test_b")
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--ctas7-audit")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    assert event_types(env).count("schema_audit") == 1
