"""The Schema Sync Node's files: written atomically, read forgivingly.

Three artifacts per watched database:

- the TypeScript types file (``CTAS_SCHEMA_PATH``);
- the hash cache (``CTAS_HASH_CACHE_PATH``): the schema fingerprint as plain hex, as in the seed;
- the snapshot (``<hash cache>.snapshot.json`` unless given): the canonical JSON of the schema the
  types were generated from, kept for diffs.

``atomic_write`` writes a temporary file in the same directory, fsyncs it, ``os.replace``-s it over
the target and fsyncs the directory: a reader sees the old file or the new one, never a mix, and
a crash at any point leaves the previous file intact (a stray ``.<name>.ctas7-tmp-*`` file at
worst, removed by the next write). ``crash_hook`` is the test seam: it runs between the temporary
file being complete and the rename (``set_crash_hook``; a subprocess test makes it ``os._exit``).

``read_hash_cache`` and ``read_snapshot`` never raise for a missing, empty or corrupt file: they
return the value or None plus the reason it is unknown, which the sync pass puts in its event.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.errors import ArtifactError

TMP_MARKER = ".ctas7-tmp-"
SNAPSHOT_SUFFIX = ".snapshot.json"
_HEX = re.compile(r"^[0-9a-f]{8,128}$")

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


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_snapshot_path(hash_cache_path: str | Path) -> Path:
    """Where the snapshot lives when not configured: next to the hash cache."""
    p = Path(hash_cache_path)
    return p.with_name(p.name + SNAPSHOT_SUFFIX)


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


def atomic_write(path: str | Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + rename + fsync of the directory).

    Raises ``ArtifactError`` naming the file and the reason; the previous file is then untouched.
    """
    target = Path(path)
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
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if _crash_hook is not None:
            _crash_hook(tmp, target)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise ArtifactError(
            f"cannot write {target}: {exc.strerror or exc} (check free space and permissions)"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def file_sha256(path: str | Path) -> str | None:
    """The SHA-256 of a file's bytes, or None when it does not exist or cannot be read."""
    try:
        return sha256_hex(Path(path).read_bytes())
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Loaded:
    """What was read from an artifact: the value, or None and why it is unknown."""

    value: Any
    problem: str | None = None  # "missing", "empty", "corrupt: ...", "unreadable: ..."

    @property
    def ok(self) -> bool:
        return self.problem is None


def _read_bytes(path: Path) -> tuple[bytes | None, str | None]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except IsADirectoryError:
        return None, "unreadable: it is a directory"
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or exc}"
    if not data.strip():
        return None, "empty"
    return data, None


def read_hash_cache(path: str | Path) -> Loaded:
    """The cached fingerprint (lowercase hex) or None with ``missing``/``empty``/``corrupt``."""
    data, problem = _read_bytes(Path(path))
    if data is None:
        return Loaded(None, problem)
    try:
        text = data.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return Loaded(None, "corrupt: not ASCII hex")
    if not _HEX.match(text):
        shown = text if len(text) <= 20 else text[:17] + "..."
        return Loaded(None, f"corrupt: {shown!r} is not a hex fingerprint")
    return Loaded(text)


def write_hash_cache(path: str | Path, fingerprint: str) -> None:
    """Write the fingerprint as plain hex (no newline), as the seed's ``.last_schema_hash``."""
    atomic_write(path, fingerprint.encode("ascii"))


def read_snapshot(path: str | Path) -> Loaded:
    """The snapshot object (a dict) or None with ``missing``/``empty``/``corrupt``."""
    data, problem = _read_bytes(Path(path))
    if data is None:
        return Loaded(None, problem)
    return parse_snapshot(data)


def read_bytes(path: str | Path) -> tuple[bytes | None, str | None]:
    """A file's bytes, or None and ``missing``/``empty``/``unreadable: ...``."""
    return _read_bytes(Path(path))


def stat_key(path: str | Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime ns): changes whenever the file is replaced or rewritten."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def parse_snapshot(data: bytes) -> Loaded:
    """``read_snapshot`` for bytes already read."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Loaded(None, f"corrupt: not JSON ({exc})")
    if not isinstance(obj, dict):
        return Loaded(None, "corrupt: not a JSON object")
    return Loaded(obj)
