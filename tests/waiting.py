"""Waiting on conditions instead of fixed sleeps: a test waits for what it needs to see, with a
deadline that names it."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path


async def wait_until(condition: Callable[[], bool], what: str, *, timeout: float = 10.0) -> None:
    """Poll ``condition`` (every 20 ms) until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def inotify_watches(directory: Path) -> bool:
    """Whether this process holds an inotify watch on ``directory`` (Linux, from
    ``/proc/self/fdinfo``): watchfiles sees changes there from then on."""
    st = os.stat(directory)
    sdev = (os.major(st.st_dev) << 20) | os.minor(st.st_dev)  # the kernel's dev_t
    want = f" ino:{st.st_ino:x} sdev:{sdev:x} "
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:  # closed meanwhile
            continue
        if want in info:
            return True
    return False
