"""``ctas7 audit`` and ``ctas7 ingest`` end to end on real PostgreSQL and a real event store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ctas7_panel import pgtools
from ctas7_panel.cli import main
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.netutil import free_port
from ctas7_panel.store import open_store

REPORTS = Path(__file__).resolve().parents[2] / "fixtures" / "reports"


@pytest.fixture
def environ(tmp_path: Path, bridge_url: str) -> dict[str, str]:
    return {
        "CTAS7_BRIDGE_URL": bridge_url,
        "CTAS_SCHEMA_PATH": str(tmp_path / "database" / "supabase_schema.ts"),
        "CTAS_HASH_CACHE_PATH": str(tmp_path / ".last_schema_hash"),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "CTAS7_HOME": str(tmp_path / ".ctas7"),
    }


def stored(environ: dict[str, str]) -> list[str]:
    store = open_store(environ["CTAS7_STORE_URL"])
    try:
        return [e.event_type for _, e in store.fetch()]
    finally:
        store.close()


def audit(environ: dict[str, str], *args: str) -> int:
    return main(["audit", *args], environ=environ)


def test_audit_exit_codes_report_and_events(
    fresh_db_url: str,
    environ: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply_migrations(fresh_db_url)
    rep = str(tmp_path / "schema_audit_report.md")
    assert audit(environ, "--db-url", fresh_db_url, "--report", rep, "--json") == 0
    first = orjson.loads(capsys.readouterr().out)
    assert first["status"] == "REGENERATED" and first["table_count"] == 7

    assert audit(environ, "--db-url", fresh_db_url, "--report", rep, "--json") == 0
    second = orjson.loads(capsys.readouterr().out)
    assert second["status"] == "VERIFIED"
    assert second["fingerprint"] == first["fingerprint"]

    # a hand edit of the types file is caught (fast path included) and repaired
    types = Path(environ["CTAS_SCHEMA_PATH"])
    good = types.read_text()
    types.write_text(good.replace("nodes: {", "nodez: {", 1))
    assert audit(environ, "--db-url", fresh_db_url, "--report", rep, "--json") == 0
    restored = orjson.loads(capsys.readouterr().out)
    assert restored["status"] == "REGENERATED" and restored["table_count"] == 7
    assert types.read_text() == good
    assert "Types file modified on disk" in Path(rep).read_text()

    # DDL: the catalog probe changes, so the fast path cannot answer VERIFIED
    pgtools.apply_sql(fresh_db_url, "CREATE TABLE public.audit_probe (id int PRIMARY KEY)")
    assert audit(environ, "--db-url", fresh_db_url, "--report", rep) == 0
    assert "Schema hash mismatch detected" in capsys.readouterr().out
    assert "+ table public.audit_probe" in Path(rep).read_text()
    assert "audit_probe: {" in types.read_text()

    # --full takes the introspection path and agrees
    assert audit(environ, "--db-url", fresh_db_url, "--report", rep, "--json", "--full") == 0
    assert orjson.loads(capsys.readouterr().out)["status"] == "VERIFIED"

    kinds = stored(environ)
    assert kinds.count("schema_audit") == 5
    assert kinds.count("schema_updated") == 2  # first generation and the DDL
    assert kinds.count("schema_artifact_modified") == 1
    assert kinds.count("schema_nochange") == 2


def test_audit_fails_with_exit_1_when_the_database_is_down(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    rep = tmp_path / "r.md"
    assert audit(environ, "--db-url", down, "--report", str(rep)) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "Connection refused" in captured.err
    assert "**Status:** FAILED" in rep.read_text()
    assert not Path(environ["CTAS_SCHEMA_PATH"]).exists()  # nothing partial
    assert stored(environ) == ["schema_error", "schema_audit"]


def test_audit_usage_errors_exit_2(environ: dict[str, str]) -> None:
    assert audit(environ, "--db-url", "mysql://nope") == 2
    assert main(["audit"], environ={**environ, "CTAS7_BUS_URL": "kafka://x"}) == 2
    with pytest.raises(SystemExit) as info:
        audit(environ, "--no-such-flag")
    assert info.value.code == 2


def test_ingest_stores_once_and_reports_a_dead_bridge(
    environ: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    report = str(REPORTS / "playwright-report.json")
    assert main(["ingest", report], environ=environ) == 0
    assert "5 tests (1 failed, 3 passed, 1 skipped)" in capsys.readouterr().out
    assert len(stored(environ)) == 10
    bridge = f"ws://127.0.0.1:{free_port()}/telemetry_bridge"
    assert main(["ingest", report, "--bridge-url", bridge], environ=environ) == 0
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "10 event(s) not delivered" in err
    assert len(stored(environ)) == 10  # same ids: nothing new
    assert main(["ingest", str(REPORTS / "pytest-junit.xml")], environ=environ) == 0
    assert len(stored(environ)) == 26


def test_ingest_bad_files_exit_2(
    environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(tmp_path / "missing.json")], environ=environ) == 2
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite><testcase")
    assert main(["ingest", str(bad)], environ=environ) == 2
    assert "not well-formed XML" in capsys.readouterr().err
    assert (
        main(
            ["ingest", str(REPORTS / "pytest-junit.xml"), "--format", "playwright-json"],
            environ=environ,
        )
        == 2
    )
