"""The one atomic writer keeps what the file was: mode, owner, a symlink; refuses a link loop."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ctas7_panel.atomic import atomic_write, crash_hook, replacing
from ctas7_panel.errors import ArtifactError

NOBODY = 65534  # uid/gid of nobody/nogroup on Debian


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_read_only_file_stays_read_only(tmp_path: Path) -> None:
    target = tmp_path / "types.ts"
    target.write_text("old")
    target.chmod(0o444)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o444
    target.chmod(0o640)
    atomic_write(target, b"newer")
    assert mode(target) == 0o640


def test_a_new_file_gets_the_default_mode_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_owner_and_group_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "types.ts"
    target.write_text("old")
    os.chown(target, NOBODY, NOBODY)
    target.chmod(0o664)
    atomic_write(target, b"new")
    st = os.stat(target)
    assert (st.st_uid, st.st_gid, mode(target)) == (NOBODY, NOBODY, 0o664)


def test_a_symlink_stays_a_link_and_its_target_gets_the_contents(tmp_path: Path) -> None:
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "types.ts"
    real.write_text("old")
    real.chmod(0o444)
    link_dir = tmp_path / "app" / "database"
    link_dir.mkdir(parents=True)
    link = link_dir / "supabase_schema.ts"
    link.symlink_to(os.path.relpath(real, link_dir))  # relative, as people make them
    hop = tmp_path / "hop.ts"
    hop.symlink_to(link)  # a chain of two links
    atomic_write(hop, b"new types")
    assert hop.is_symlink() and link.is_symlink()
    assert os.readlink(link) == os.path.relpath(real, link_dir)
    assert real.read_bytes() == b"new types" and mode(real) == 0o444
    assert sorted(p.name for p in real_dir.iterdir()) == ["types.ts"]  # temp was in real_dir
    assert sorted(p.name for p in link_dir.iterdir()) == ["supabase_schema.ts"]


def test_the_temp_file_lives_in_the_targets_directory(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "t.ts"
    real.write_text("old")
    link = tmp_path / "t.ts"
    link.symlink_to(real)
    seen: list[Path] = []
    with crash_hook(lambda tmp, dest: seen.extend([tmp, dest])):
        atomic_write(link, b"new")
    assert seen[0].parent == real.parent and seen[1] == real


def test_a_dangling_link_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "types.ts"
    link.symlink_to(tmp_path / "generated" / "types.ts")
    atomic_write(link, b"types")
    assert link.is_symlink() and (tmp_path / "generated" / "types.ts").read_bytes() == b"types"


def test_a_link_loop_is_refused_and_left_alone(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ts", tmp_path / "b.ts"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(ArtifactError, match="symlink that does not resolve"):
        atomic_write(a, b"x")
    assert a.is_symlink() and b.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ts", "b.ts"]


def test_replacing_serves_path_based_writers_and_keeps_the_old_file_on_error(
    tmp_path: Path,
) -> None:
    out = tmp_path / "events.csv"
    out.write_text("previous\n")
    out.chmod(0o600)
    with replacing(out) as tmp:
        tmp.write_text("a,b\n1,2\n")
        assert out.read_text() == "previous\n"  # not visible before the block ends
    assert out.read_text() == "a,b\n1,2\n" and mode(out) == 0o600
    with pytest.raises(RuntimeError), replacing(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert out.read_text() == "a,b\n1,2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["events.csv"]
