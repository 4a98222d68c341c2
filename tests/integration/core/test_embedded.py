"""The embedded PostgreSQL: starts with nothing configured (as root too), migrates, is reused."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.embedded import EmbeddedPostgres, resolve_database

SCRIPT = """
import sys
from ctas7_panel.embedded import EmbeddedPostgres
from ctas7_panel.migrations import applied
server = EmbeddedPostgres(sys.argv[1])
url = server.start()
print(sorted(applied(url)))
server.stop()
"""


def test_embedded_starts_migrates_and_is_reused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CTAS7_DATABASE_URL"}
    url, server = resolve_database(env.get("CTAS7_DATABASE_URL"), tmp_path)
    assert server is not None, "with CTAS7_DATABASE_URL unset the embedded server is used"
    try:
        with pgtools.connect(url) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            }
            version = conn.execute("SHOW server_version_num").fetchone()
        assert tables == {
            "nodes",
            "tasks",
            "task_executions",
            "crates",
            "slot_graph_edges",
            "telemetry_events",
            "schema_versions",
        }
        assert version is not None and int(version[0]) >= 180000
        print("running as uid", os.geteuid())
    finally:
        server.stop()
    # a second process reuses the data directory: nothing re-applied, data still there
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "pg")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    ).stdout
    assert "0001_ctas7_core.sql" in out


def test_configured_url_wins(fresh_db_url: str, tmp_path: Path) -> None:
    url, server = resolve_database(fresh_db_url, tmp_path)
    assert (url, server) == (fresh_db_url, None)
    assert not (tmp_path / "pg").exists()


def test_stop_is_clean(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start(migrate=False)
    pid_file = tmp_path / "pg" / "postmaster.pid"
    assert pid_file.exists()
    server.stop()
    assert not pid_file.exists()


def test_database_url_for_one_shot_commands(tmp_path: Path, fresh_db_url: str) -> None:
    """``ctas7 schema sync`` and ``ctas7 audit`` with no URL: embedded, started then stopped."""
    import pytest

    from ctas7_panel.embedded import database_url
    from ctas7_panel.errors import UsageError

    with database_url(None, tmp_path) as url:
        with pgtools.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('public.tasks')").fetchone() == ("tasks",)
    assert not (tmp_path / "pg" / "postmaster.pid").exists()
    with database_url(fresh_db_url, tmp_path / "unused") as url:
        assert url == fresh_db_url
    with (
        pytest.raises(UsageError, match="--db-url"),
        database_url("mysql://x", tmp_path, what="--db-url"),
    ):
        pass


def test_a_running_server_is_left_running_and_a_held_one_is_not_stopped(tmp_path: Path) -> None:
    """The app holds the server: ``ctas7 db stop`` refuses (naming the holder) unless --force;
    a one-shot command attaches to it and leaves it up; a killed holder does not pin it."""
    import json

    from ctas7_panel.embedded import EmbeddedPostgres, database_url, ensure_running

    pid_file = tmp_path / "pg" / "postmaster.pid"
    app = EmbeddedPostgres(tmp_path / "pg")
    app.start(migrate=False)
    try:
        with database_url(None, tmp_path) as url:  # a one-shot command while the app runs
            with pgtools.connect(url) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert pid_file.exists()
        env = {**os.environ, "CTAS7_HOME": str(tmp_path)}
        refused = subprocess.run(
            [sys.executable, "-m", "ctas7_panel", "db", "stop"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert refused.returncode == 2 and str(os.getpid()) in refused.stderr
        assert pid_file.exists()
    finally:
        app.stop()
    assert not pid_file.exists(), "the process that started it stops it when it lets go"

    # a holder killed with -9 leaves its pid in the handle list: pruned, so it does not pin it
    ensure_running(tmp_path)  # started and left up, like `ctas7 db url`
    handles = tmp_path / "pg" / ".handle_pids.json"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    handles.write_text(json.dumps([int(dead)]))
    from ctas7_panel.embedded import stop_server

    assert stop_server(tmp_path) is True  # nobody alive holds it
    assert not pid_file.exists()
    assert stop_server(tmp_path) is False


@pytest.mark.parametrize("runtime", ["unset", "open"])
def test_starts_when_tmpdir_and_data_dir_are_too_deep_for_a_socket(
    tmp_path: Path, runtime: str
) -> None:
    """CI's notebook run: TMPDIR and the home both inside a deep pytest folder, so neither the
    data directory nor ``$TMPDIR/...`` can hold the server's socket (107 bytes at most). The
    server still starts, its socket in a short runtime dir: ours (/tmp/ctas7-run-<uid>) when
    XDG_RUNTIME_DIR is unset, or the environment's even when it is mode 0755 (platformdirs
    >= 4.14 refuses that and falls back to the deep TMPDIR; as root the wheel itself leaves its
    runtime dir 0755)."""
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    tmpdir = deep / "tmp"
    tmpdir.mkdir(parents=True)
    pgdata = deep / "home" / "pg"
    assert len(str(pgdata / ".s.PGSQL.5432")) > 107
    env = {
        k: v for k, v in os.environ.items() if k not in ("CTAS7_DATABASE_URL", "XDG_RUNTIME_DIR")
    }
    env["TMPDIR"] = str(tmpdir)
    with contextlib.ExitStack() as stack:
        if runtime == "open":
            short = Path(tempfile.mkdtemp(prefix="ctas7-xdg-", dir="/tmp"))
            stack.callback(shutil.rmtree, short, True)
            short.chmod(0o755)
            env["XDG_RUNTIME_DIR"] = str(short)
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(pgdata)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "0001_ctas7_core.sql" in done.stdout
        if runtime == "open":
            assert (short / "python_PostgresServer").is_dir(), "the environment's dir is used"
    assert list(tmpdir.iterdir()) == [], "nothing of the wheel's is left in TMPDIR"
