"""Connectivity checks for the status bar: thin I/O, each returns ``(ok, detail)``, never raises.

- ``tcp_probe(url)``: can a TCP connection be opened to the host and port of a ``ws://`` /
  ``postgresql://`` / ``redis://`` URL (the seed's endpoints are websocket servers);
- ``postgres_probe(url)``: does the database answer ``SELECT 1`` (in a worker thread);
- ``store_probe(health)``: can the event history be written, as this process's store writer
  last found it (``StoreHealth``: down since when, why, how many events wait).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

Probe = Callable[[], Awaitable[tuple[bool, str]]]
DEFAULT_PORTS = {"ws": 80, "wss": 443, "postgresql": 5432, "postgres": 5432, "redis": 6379}


def host_port(url: str) -> tuple[str, int]:
    """Host and port of a URL (the scheme's default port when none is given)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        port = parts.port
    except ValueError:
        port = None
    return host, port or DEFAULT_PORTS.get(parts.scheme, 80)


def tcp_probe(url: str, *, timeout: float = 1.0) -> Probe:
    host, port = host_port(url)

    async def probe() -> tuple[bool, str]:
        try:
            async with asyncio.timeout(timeout):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            return False, f"{host}:{port} {reason}"
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True, f"{host}:{port}"

    return probe


def postgres_probe(url: str, *, timeout: float = 2.0) -> Probe:
    host, port = host_port(url)

    def check() -> tuple[bool, str]:
        import psycopg

        try:
            with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return False, f"{host}:{port} {first[:120]}"
        return True, f"{host}:{port}"

    async def probe() -> tuple[bool, str]:
        try:
            async with asyncio.timeout(timeout + 1):
                return await asyncio.to_thread(check)
        except TimeoutError:
            return False, f"{host}:{port} timed out"

    return probe


def store_probe(health: Callable[[], Any]) -> Probe:
    """``health()`` returns the process's ``StoreHealth`` (None: no store writer here yet)."""

    async def probe() -> tuple[bool, str]:
        h = health()
        if h is None:
            return False, "no store writer in this process yet"
        if h.up:
            return True, f"writing ({h.pending} waiting, {h.errors_total} errors so far)"
        return False, f"writes failing: {h.last_error} ({h.pending} events waiting)"

    return probe
