"""The one way this package replaces a file: atomically, keeping what the file was.

``atomic_write(path, data)`` and, for writers that need a path (pandas, pyarrow),
``with replacing(path) as tmp: write tmp``. Both:

- write a temporary file (``.<name>.ctas7-tmp-<hex>``) in the target's directory, fsync it,
  ``os.replace`` it over the target and fsync the directory: a reader sees the old file or the
  new one, never a mix, and a crash at any point leaves the previous file intact (a stray
  temporary file at worst, removed by the next write to that file);
- keep an existing file's permission bits (a 0444 file stays 0444) and, where the process may
  (root, or a group it belongs to), its owner and group; a new file gets ``mode`` (0644) less
  the umask;
- write through a symlink: the link stays, its final target is replaced (atomically, in the
  target's own directory). A link that cannot be resolved (a loop) is refused with
  ``ArtifactError``; the link is never turned into a regular file. A dangling link gets its
  target created.

Hard links to the old file keep the old contents (a rename cannot update them). ``crash_hook``
is the test seam: it runs between the temporary file being complete and the rename
(``set_crash_hook``; a subprocess test makes it ``os._exit``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from ctas7_panel.errors import ArtifactError

TMP_MARKER = ".ctas7-tmp-"

CrashHook = Callable[[Path, Path], None]  # (temporary file, target)
_crash_hook: CrashHook | None = None


def set_crash_hook(hook: CrashHook | None) -> CrashHook | None:
    """Install a function run after the temp file is written and before the rename (tests only).

    Returns the previous hook. The hook may raise (an injected failure) or ``os._exit`` (a crash).
    """
    global _crash_hook
    previous, _crash_hook = _crash_hook, hook
    return previous


@contextlib.contextmanager
def crash_hook(hook: CrashHook) -> Iterator[None]:
    """``set_crash_hook`` for the duration of a ``with`` block."""
    previous = set_crash_hook(hook)
    try:
        yield
    finally:
        set_crash_hook(previous)


def resolve_target(path: str | Path) -> Path:
    """The file a write to ``path`` must replace: ``path`` itself, or a symlink's final target.

    Raises ``ArtifactError`` when a symlink does not resolve to a non-link (a loop).
    """
    p = Path(path)
    if not p.is_symlink():
        return p
    target = Path(os.path.realpath(p))
    if target.is_symlink():
        raise ArtifactError(
            f"cannot write {p}: it is a symlink that does not resolve ({target} is still a link: "
            "a loop?); fix or remove the link"
        )
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms/filesystems cannot open a directory: best effort
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    prefix = f".{target.name}{TMP_MARKER}"
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            if entry.name.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _keep_attributes(fd: int, target: Path) -> None:
    """Give the temporary file ``fd`` the existing target's owner, group and mode bits."""
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return
    mine = os.fstat(fd)
    if (st.st_uid, st.st_gid) != (mine.st_uid, mine.st_gid):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:  # not root: keep at least the group when we belong to it
            with contextlib.suppress(PermissionError):
                os.fchown(fd, -1, st.st_gid)
    os.fchmod(fd, st.st_mode & 0o7777)  # after chown, which may clear set-id bits


@contextlib.contextmanager
def replacing(path: str | Path, *, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path to write; on a clean exit it replaces ``path`` (see the module
    docstring). On an exception the temporary file is removed and ``path`` is untouched.

    Raises ``ArtifactError`` naming the file and the reason.
    """
    target = resolve_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactError(
            f"cannot create directory {target.parent}: {exc.strerror} "
            "(check the path and its permissions)"
        ) from exc
    _remove_stale_temps(target)
    tmp = target.with_name(f".{target.name}{TMP_MARKER}{secrets.token_hex(4)}")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            _keep_attributes(fd, target)
            os.fsync(fd)
        finally:
            os.close(fd)
        if _crash_hook is not None:
            _crash_hook(tmp, target)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        shown = target if target == Path(path) else f"{path} (a link to {target})"
        raise ArtifactError(
            f"cannot write {shown}: {exc.strerror or exc} (check free space and permissions)"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def atomic_write(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (see the module docstring).

    Raises ``ArtifactError`` naming the file and the reason; the previous file is then untouched.
    """
    with replacing(path, mode=mode) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
