"""``ctas7 schema typegen|snapshot|diff`` against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.cli import main


def test_typegen_stdout_and_file(fresh_db_url: str, goldens, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_supabase_like")
    assert main(["schema", "typegen", "--db-url", fresh_db_url], {}) == 0
    assert capsys.readouterr().out == goldens.expected("ctas7_supabase_like", "0.99.0")
    older = ["schema", "typegen", "--db-url", fresh_db_url, "--pg-meta-version", "0.98.0"]
    assert main(older, {}) == 0
    assert capsys.readouterr().out == goldens.expected("ctas7_supabase_like", "0.98.0")
    target = tmp_path / "database.types.ts"
    target.write_text("old")
    assert main(["schema", "typegen", "--db-url", fresh_db_url, "-o", str(target)], {}) == 0
    assert target.read_text() == goldens.expected("ctas7_supabase_like", "0.99.0")
    assert [p.name for p in tmp_path.iterdir()] == ["database.types.ts"]  # no temp file left
    argv = ["schema", "typegen", "--schema", "public", "--no-detect-one-to-one"]
    argv += ["--postgrest-version", "13.0.5"]
    assert main(argv, {"CTAS7_DATABASE_URL": fresh_db_url}) == 0
    out = capsys.readouterr().out
    assert 'PostgrestVersion: "13.0.5"' in out and "isOneToOne" not in out
    assert "graphql_public" not in out


def test_snapshot_and_diff(fresh_db_url: str, goldens, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    old = tmp_path / "old.json"
    assert main(["schema", "snapshot", "--db-url", fresh_db_url, "-o", str(old)], {}) == 0
    fingerprint_line = capsys.readouterr().out
    assert len(fingerprint_line.split()[0]) == 64
    pgtools.apply_sql(fresh_db_url, "alter table public.nodes add column zone text;")
    assert main(["schema", "diff", str(old), fresh_db_url], {}) == 0
    assert capsys.readouterr().out == "+ column public.nodes.zone: text\n"
    assert main(["schema", "diff", str(old), fresh_db_url, "--json"], {}) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["summary"]["columns_added"] == ["public.nodes.zone"]
    assert main(["schema", "diff", str(old), str(old)], {}) == 0
    assert capsys.readouterr().out == "no schema changes\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["schema", "typegen", "--db-url", "postgresql://nobody@127.0.0.1:1/none"],
            "cannot connect to",
        ),
        (["schema", "typegen", "--db-url", "http://example"], "bad --db-url"),
        (["schema", "diff", "/nonexistent/old.json", "--db-url", "http://x"], "does not exist"),
        (["schema", "diff", "/nonexistent/old.json", "/nonexistent/new.json"], "does not exist"),
    ],
)
def test_errors_exit_2_with_one_line(argv: list[str], message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(argv, {}) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_the_command_ends_fast_and_loses_nothing(fresh_db_url: str, tmp_path: Path) -> None:
    """``ctas7 schema typegen`` skips the interpreter's teardown (``cli.run``): its standard
    output through a pipe and its file are complete, byte for byte what ``main()`` writes, the
    exit code is kept, and a later process finds nothing left behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTAS7_", "CTAS_"))}
    target = tmp_path / "db.ts"
    expected_file = tmp_path / "expected.ts"
    assert main(["schema", "typegen", "--db-url", fresh_db_url, "-o", str(expected_file)], {}) == 0
    expected = expected_file.read_bytes()
    refused = main(["schema", "typegen", "--db-url", "postgresql://nobody@127.0.0.1:1/none"], {})
    assert len(expected) > 4096  # more than one pipe write
    for console in (
        [sys.executable, "-m", "ctas7_panel"],
        [str(Path(sys.executable).parent / "ctas7")],
    ):
        out = subprocess.run(
            [*console, "schema", "typegen", "--db-url", fresh_db_url],
            capture_output=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert (out.returncode, out.stderr) == (0, b"")
        assert out.stdout == expected
        wrote = subprocess.run(
            [*console, "schema", "typegen", "--db-url", fresh_db_url, "-o", str(target)],
            capture_output=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert wrote.returncode == 0, wrote.stderr
        assert target.read_bytes() == expected
        target.unlink()
        failed = subprocess.run(
            [*console, "schema", "typegen", "--db-url", "postgresql://nobody@127.0.0.1:1/none"],
            capture_output=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
        )
        assert failed.returncode == refused != 0
        assert b"connection refused" in failed.stderr.lower()


FAST_END_PROBE = """
import sys
class Probe:
    def __del__(self):
        sys.stderr.write("torn down\\n")
probe = Probe()  # a module global: freed by the interpreter's teardown, if there is one
from ctas7_panel.cli import run
sys.argv = ["ctas7", *sys.argv[1:]]
run()
"""


def test_only_typegen_skips_the_teardown(fresh_db_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTAS7_", "CTAS_"))}

    def stderr_of(*words: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", FAST_END_PROBE, *words],
            capture_output=True,
            env=env,
            timeout=120,
            cwd=tmp_path,
            text=True,
        )
        return done.stderr

    assert "torn down" not in stderr_of("schema", "typegen", "--db-url", fresh_db_url)
    assert "torn down" in stderr_of("schema", "snapshot", "--db-url", fresh_db_url)
