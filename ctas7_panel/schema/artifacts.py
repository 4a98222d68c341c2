"""The Schema Sync Node's files: written atomically, read forgivingly.

Three artifacts per watched database:

- the TypeScript types file (``CTAS_SCHEMA_PATH``);
- the hash cache (``CTAS_HASH_CACHE_PATH``): the schema fingerprint as plain hex, as in the seed;
- the snapshot (``<hash cache>.snapshot.json`` unless given): the canonical JSON of the schema the
  types were generated from, kept for diffs.

They are written with ``atomic_write`` (``ctas7_panel.atomic``, re-exported here with its test
seam ``set_crash_hook``/``crash_hook``): temp file + fsync + rename, keeping an existing file's
mode and owner, writing through a symlink to its target.

``read_hash_cache`` and ``read_snapshot`` never raise for a missing, empty or corrupt file: they
return the value or None plus the reason it is unknown, which the sync pass puts in its event.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.atomic import TMP_MARKER, atomic_write, crash_hook, set_crash_hook

__all__ = [
    "SNAPSHOT_SUFFIX",
    "TMP_MARKER",
    "Loaded",
    "atomic_write",
    "crash_hook",
    "default_snapshot_path",
    "file_sha256",
    "parse_snapshot",
    "read_bytes",
    "read_hash_cache",
    "read_snapshot",
    "set_crash_hook",
    "sha256_hex",
    "stat_key",
    "write_hash_cache",
]

SNAPSHOT_SUFFIX = ".snapshot.json"
_HEX = re.compile(r"^[0-9a-f]{8,128}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_snapshot_path(hash_cache_path: str | Path) -> Path:
    """Where the snapshot lives when not configured: next to the hash cache."""
    p = Path(hash_cache_path)
    return p.with_name(p.name + SNAPSHOT_SUFFIX)


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
