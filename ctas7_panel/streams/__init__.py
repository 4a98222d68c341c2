"""Buses, the websocket gateway and bounded stream buffers.

``open_bus(url)`` picks the bus from ``CTAS7_BUS_URL``: ``memory://`` (``MemoryBus``, one process)
or ``redis://`` (``RedisStreamsBus``, many processes and hosts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctas7_panel.errors import ConfigError

if TYPE_CHECKING:
    from ctas7_panel.streams.bus import Bus, OverflowSink


def open_bus(url: str, *, overflow_sink: OverflowSink | None = None) -> Bus:
    """A bus for ``url`` (not started: ``await bus.start()`` or ``async with bus``)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from ctas7_panel.streams.bus import MemoryBus

        return MemoryBus(overflow_sink=overflow_sink)
    if scheme in {"redis", "rediss"}:
        from ctas7_panel.streams.redis_bus import RedisStreamsBus

        return RedisStreamsBus(url, overflow_sink=overflow_sink)
    raise ConfigError(f"CTAS7_BUS_URL={url!r} is not supported: use memory:// or redis://...")
