"""Tiny network helpers shared by servers, tests and benchmarks."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ctas7_panel.access import is_loopback


def endpoint_is_local(url: str) -> bool:
    """True when ``url``'s host is this machine (loopback, ``localhost`` or none)."""
    host = urlsplit(url).hostname or ""
    return is_loopback(host) or host in {"", "localhost"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def refusing_port(host: str = "127.0.0.1") -> socket.socket:
    """A socket bound to a free port and never listening: connecting to that port is refused,
    and no other process can take it while the socket is open. Its port:
    ``sock.getsockname()[1]``; close it when done. For a URL that must reach nothing."""
    sock = socket.socket()
    sock.bind((host, 0))
    return sock
