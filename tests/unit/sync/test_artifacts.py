"""Atomic artifact writes, forgiving reads, the crash-injection seam, the external generator."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ctas7_panel.errors import ArtifactError, SchemaError
from ctas7_panel.schema import artifacts
from ctas7_panel.schema.generator import GeneratorError, expand_command, run_typegen_command
from ctas7_panel.schema.snapshot_file import SnapshotRecord

HEX = "0123456789abcdef" * 4


def test_atomic_write_creates_parents_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "types.ts"
    artifacts.atomic_write(target, b"one")
    artifacts.atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["types.ts"]


def test_injected_failure_before_rename_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "types.ts"
    artifacts.atomic_write(target, b"old")

    def boom(tmp: Path, dest: Path) -> None:
        assert tmp.parent == dest.parent and tmp.read_bytes() == b"new"
        raise OSError(28, "No space left on device")

    with artifacts.crash_hook(boom), pytest.raises(ArtifactError, match="No space left"):
        artifacts.atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["types.ts"]  # temp file removed


def test_process_killed_between_temp_and_rename_keeps_the_old_file(tmp_path: Path) -> None:
    """A real crash: the process dies (os._exit) after the temp file is written."""
    target = tmp_path / "types.ts"
    artifacts.atomic_write(target, b"previous contents")
    script = textwrap.dedent(
        f"""
        import os
        from ctas7_panel.schema import artifacts
        artifacts.set_crash_hook(lambda tmp, dest: os._exit(9))
        artifacts.atomic_write({str(target)!r}, b"half-finished new contents")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == 9
    assert target.read_bytes() == b"previous contents"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "types.ts"]
    assert len(leftovers) == 1 and artifacts.TMP_MARKER in leftovers[0]
    artifacts.atomic_write(target, b"next")  # the next write sweeps the stray temp file
    assert [p.name for p in tmp_path.iterdir()] == ["types.ts"]


def test_unwritable_directory_is_an_artifact_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ArtifactError, match="cannot create directory"):
        artifacts.atomic_write(blocker / "types.ts", b"x")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "missing"),
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"not hex at all", "corrupt"),
        (b"\xff\xfe", "corrupt"),
        (b"abc", "corrupt"),
    ],
)
def test_hash_cache_problems_are_named(tmp_path: Path, content: bytes | None, problem: str) -> None:
    path = tmp_path / ".last_schema_hash"
    if content is not None:
        path.write_bytes(content)
    loaded = artifacts.read_hash_cache(path)
    assert loaded.value is None
    assert loaded.problem is not None and loaded.problem.startswith(problem)


def test_hash_cache_is_plain_hex_and_tolerates_a_newline(tmp_path: Path) -> None:
    path = tmp_path / ".last_schema_hash"
    artifacts.write_hash_cache(path, HEX)
    assert path.read_bytes() == HEX.encode()
    path.write_text(HEX.upper() + "\n")
    assert artifacts.read_hash_cache(path).value == HEX


def test_hash_cache_that_is_a_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "h").mkdir()
    assert str(artifacts.read_hash_cache(tmp_path / "h").problem).startswith("unreadable")


def test_snapshot_record_round_trip_and_corruption(tmp_path: Path) -> None:
    path = tmp_path / "snap.json"
    rec = SnapshotRecord(HEX, "f" * 64, "builtin", 7, {"tables": {"a": 1}})
    artifacts.atomic_write(path, rec.encode())
    assert SnapshotRecord.decode(artifacts.read_snapshot(path)) == (rec, None)
    for bad, problem in [
        (b"{not json", "corrupt: not JSON"),
        (b"[1, 2]", "corrupt: not a JSON object"),
        (b'{"format": "other"}', "corrupt: format"),
        (b'{"format": "ctas7-sync-snapshot/1"}', "corrupt:"),
    ]:
        path.write_bytes(bad)
        got, why = SnapshotRecord.decode(artifacts.read_snapshot(path))
        assert got is None and why is not None and why.startswith(problem), (bad, why)


def test_default_snapshot_path_sits_next_to_the_hash_cache() -> None:
    assert artifacts.default_snapshot_path("x/.last_schema_hash") == Path(
        "x/.last_schema_hash.snapshot.json"
    )


# --- the external generator --------------------------------------------------------------------


def test_command_placeholders_are_filled() -> None:
    argv = expand_command(
        "supabase gen types typescript --project-id {project_id} --db-url '{db_url}'",
        db_url="postgresql://u@h/db",
        project_id="ctas7-command-center",
    )
    assert argv == [
        "supabase",
        "gen",
        "types",
        "typescript",
        "--project-id",
        "ctas7-command-center",
        "--db-url",
        "postgresql://u@h/db",
    ]


@pytest.mark.parametrize(("command", "match"), [("", "is empty"), ("a 'b", "cannot be parsed")])
def test_bad_commands_are_named(command: str, match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        expand_command(command, db_url="postgresql://x", project_id="p")


def _py(code: str) -> str:
    return f"{sys.executable} -c {code!r}"


def test_command_stdout_is_the_types_text() -> None:
    code = "import os; print('export type X = ' + repr(os.environ['SUPABASE_PROJECT_ID']))"
    text = run_typegen_command(
        _py(code), db_url="postgresql://x", project_id="proj", timeout=30, env=dict(os.environ)
    )
    assert text == "export type X = 'proj'\n"


def test_command_failure_carries_its_stderr_tail() -> None:
    code = "import sys; sys.stderr.write('x' * 5000 + '\\nauth failed: bad token\\n'); sys.exit(3)"
    with pytest.raises(GeneratorError) as info:
        run_typegen_command(
            _py(code), db_url="postgresql://x", project_id="p", timeout=30, env=dict(os.environ)
        )
    assert info.value.returncode == 3
    assert "exited with 3: auth failed: bad token" in str(info.value)
    assert info.value.stderr_tail.endswith("auth failed: bad token\n")
    assert len(info.value.stderr_tail) <= 2000


def test_command_with_empty_output_is_an_error() -> None:
    with pytest.raises(GeneratorError, match="printed nothing"):
        run_typegen_command(
            _py("pass"), db_url="postgresql://x", project_id="p", timeout=30, env=dict(os.environ)
        )


def test_missing_command_is_named() -> None:
    with pytest.raises(GeneratorError, match="'no-such-generator-xyz' not found"):
        run_typegen_command(
            "no-such-generator-xyz gen", db_url="postgresql://x", project_id="p", timeout=5, env={}
        )


def test_slow_command_times_out() -> None:
    with pytest.raises(GeneratorError, match=r"did not finish within 0\.5 s"):
        run_typegen_command(
            _py("import time; time.sleep(10)"),
            db_url="postgresql://x",
            project_id="p",
            timeout=0.5,
            env=dict(os.environ),
        )
