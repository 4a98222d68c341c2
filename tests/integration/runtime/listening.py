"""What a process tree listens on, as ``ss`` (iproute2) sees it: the kernel's view, not ours."""

from __future__ import annotations

import re
import subprocess

import psutil

_PID = re.compile(r"pid=(\d+)")


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN held by ``pid`` or its descendants."""
    try:
        root = psutil.Process(pid)
        pids = {pid, *(p.pid for p in root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return []
    out = subprocess.run(
        ["ss", "-H", "-l", "-t", "-n", "-p"], check=True, capture_output=True, text=True
    ).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 6 or not {int(p) for p in _PID.findall(line)} & pids:
            continue
        host, _, port = fields[3].rpartition(":")
        found.append((host.strip("[]").split("%")[0], int(port)))
    return sorted(found)
