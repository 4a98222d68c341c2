"""First use, as a newcomer meets it: an empty folder, nothing configured, the ``ctas7`` CLI.

Every command runs as a real ``python -m ctas7_panel`` process in its own empty folder, with no
``CTAS7_*`` setting (the suite's conftest drops them; its bridge URL refuses connections). The
database is the embedded PostgreSQL each folder gets in ``./.ctas7/pg``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.netutil import free_port
from ctas7_panel.store import open_store
from tests.browser.chromium import panel_serve_command

ROOT = Path(__file__).resolve().parents[3]
CORE_TABLES = ("crates", "nodes", "schema_versions", "slot_graph_edges", "task_executions")


def ctas7(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ctas7_panel", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert done.returncode == 0, f"ctas7 {' '.join(args)}: {done.stderr[-2000:]}"
    return done


def running(folder: Path) -> bool:
    return (folder / ".ctas7" / "pg" / "postmaster.pid").exists()


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """An empty project folder; its embedded server is stopped afterwards whatever happened."""
    project = tmp_path / "project"
    project.mkdir()
    yield project
    if running(project):
        ctas7(project, "db", "stop", "--force", check=False)


@pytest.mark.slow
def test_typegen_with_nothing_configured_prints_the_demo_schema(folder: Path) -> None:
    """Slow (18 s at load 14 on 2 cores): initdb and migrations of a new embedded server, seven
    CLI processes."""
    done = ctas7(folder, "schema", "typegen")
    assert done.stdout.startswith("export type Json =")
    for table in CORE_TABLES:
        assert f"      {table}: {{\n        Row: {{" in done.stdout, table
    assert not running(folder), "a one-shot command stops the server it started"
    assert sorted(p.name for p in folder.iterdir()) == [".ctas7"]  # nothing else written

    # `ctas7 db url` starts it and leaves it up; typegen then uses it and leaves it up too
    url = ctas7(folder, "db", "url").stdout.strip()
    assert url.startswith("postgresql://") and str(folder / ".ctas7" / "pg") in url
    assert running(folder)
    again = ctas7(folder, "schema", "typegen")
    assert again.stdout == done.stdout
    assert running(folder), "a server that was already running is left running"
    assert ctas7(folder, "schema", "typegen", "--db-url", url).stdout == done.stdout
    with pgtools.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("ctas7",)
    psql = shutil.which("psql")
    if psql is not None:  # what the README shows: psql "$(ctas7 db url)"
        out = subprocess.run(
            [psql, url, "-Atc", "SELECT count(*) FROM public.nodes"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert out.stdout.strip() == "0"
    stop = ctas7(folder, "db", "stop")
    assert "stopped" in stop.stderr and not running(folder)
    assert ctas7(folder, "db", "url", "--no-start", check=False).returncode == 1


@pytest.mark.slow
def test_diff_of_two_snapshot_files_written_by_sync(folder: Path) -> None:
    """Slow (18 s at load 14): nine CLI processes on one embedded server."""
    url = ctas7(folder, "db", "url").stdout.strip()
    first = ctas7(folder, "schema", "sync")
    assert '"event_type":"schema_updated"' in first.stdout
    record = folder / ".last_schema_hash.snapshot.json"  # the seed's defaults, here
    assert (folder / ".last_schema_hash").exists()
    assert (folder / "database" / "supabase_schema.ts").exists()
    old = folder / "before.snapshot.json"
    shutil.copyfile(record, old)

    pgtools.apply_sql(url, "ALTER TABLE public.nodes ADD COLUMN zone text")
    assert ctas7(folder, "schema", "diff", str(old)).stdout == "+ column public.nodes.zone: text\n"
    second = ctas7(folder, "schema", "sync")
    assert '"event_type":"schema_updated"' in second.stdout
    diff = ctas7(folder, "schema", "diff", "before.snapshot.json", str(record.name))
    assert diff.stdout == "+ column public.nodes.zone: text\n"
    back = ctas7(folder, "schema", "diff", str(record.name), "before.snapshot.json", "--json")
    assert '"columns_removed"' in back.stdout and "public.nodes.zone" in back.stdout

    # a bare snapshot and a sync record of the same schema: no changes
    ctas7(folder, "schema", "snapshot", "-o", "bare.json")
    assert ctas7(folder, "schema", "diff", "bare.json", record.name).stdout == "no schema changes\n"

    (folder / "junk.json").write_text('{"hello": 1}')
    bad = ctas7(folder, "schema", "diff", "junk.json", record.name, check=False)
    assert bad.returncode == 2 and "not a ctas7 schema snapshot" in bad.stderr
    assert bad.stderr.count("\n") == 1


@pytest.mark.slow
def test_audit_right_after_the_app_ran_in_the_same_folder_is_verified(folder: Path) -> None:
    """Slow (26 s at load 14): the app as ``scripts/run-app.sh`` starts it (``panel serve``, nothing
    configured but a free gateway port), its demo's first test run, a clean stop, then
    ``ctas7 audit`` in the same folder."""
    port = free_port()
    env = {**os.environ, "CTAS7_GATEWAY_PORT": str(free_port())}
    log = folder.parent / "app.log"
    with log.open("wb") as out:
        app = subprocess.Popen(
            panel_serve_command(port),
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while True:  # the first page load starts the runtime
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/app", timeout=30) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert app.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the app did not answer within 120 s"
            time.sleep(0.1)
        types = folder / "database" / "supabase_schema.ts"  # the seed's defaults, here
        while not (types.exists() and (folder / ".last_schema_hash").exists()):
            assert app.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no types file within 120 s"
            time.sleep(0.1)
        assert not (folder / ".ctas7" / "database").exists()  # one home for the artifacts
        outcomes = wait_for_demo_tests(folder / ".ctas7" / "events.db", app, log)
        assert outcomes, "the demo's test run reported no results"
    finally:
        os.killpg(app.pid, signal.SIGTERM)
        code = app.wait(60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    stopping = text.split("Received signal SIGTERM, shutting down", 1)[-1]
    assert stopping.strip() == "", f"the stop said more than it stopped:\n{stopping[-3000:]}"
    assert not running(folder), "the app stops the embedded server it started"

    audit = ctas7(folder, "audit")
    assert audit.stdout.startswith("ctas7 audit: VERIFIED"), audit.stdout + audit.stderr
    assert (folder / "schema_audit_report.md").exists()


def wait_for_demo_tests(db: Path, app: subprocess.Popen[bytes], log: Path) -> set[str]:
    """The outcomes of the demo's first test run, read from the app's event store."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert app.poll() is None, log.read_text()[-3000:]
        if db.exists():
            store = open_store(f"sqlite:///{db}")
            try:
                events = [e for _, e in store.fetch()]
            finally:
                store.close()
            done = [e.payload for e in events if e.event_type == "playwright_test_completed"]
            errors = [e.payload for e in events if e.event_type == "test_run_status"]
            assert not errors, f"the demo's test run did not report: {errors}"
            if len(done) >= 8:  # the demo suite has 8 tests
                return {str(p["outcome"]) for p in done}
        time.sleep(0.2)
    raise AssertionError("no demo test results within 90 s:\n" + log.read_text()[-3000:])
