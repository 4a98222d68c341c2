"""One owner per embedded SurrealDB store: an exclusive ``flock`` on ``<store>.lock``.

SurrealDB 2.0's embedded engine takes no lock of its own: two processes opening the same
``surrealkv://`` directory both succeed and corrupt it. ``StoreLock(path).acquire()`` takes a
non-blocking exclusive lock on a file next to the store (not inside it: the directory belongs
to the engine) and writes the owner's pid and host into it; a second opener, in this process
or another, gets a ``DatabaseError`` naming the owner. The kernel releases the lock when the
owner exits, however it exits (kill -9 included), so a stale lock cannot block a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from ctas7_panel.errors import DatabaseError


class StoreLock:
    """An exclusive lock on ``<store path>.lock``; ``release()`` (or closing) frees it."""

    def __init__(self, store_path: str | Path) -> None:
        store = Path(store_path)
        self.path = store.with_name(store.name + ".lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise DatabaseError(
                f"graph store {str(self.path)[: -len('.lock')]!r} is already open by {owner} "
                f"(lock {str(self.path)!r}): one process owns an embedded store; stop that "
                "process, use its mirror, or point CTAS_DB_URL at a SurrealDB server "
                "(ws://host:8000)"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_owner(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process"
