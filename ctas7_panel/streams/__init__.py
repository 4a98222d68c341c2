"""Buses, the websocket gateway and bounded stream buffers.

``open_bus(url)`` picks the bus from ``CTAS7_BUS_URL``: ``memory://`` (``MemoryBus``, one process)
or ``redis://`` (``RedisStreamsBus``, many processes and hosts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctas7_panel.errors import ConfigError

if TYPE_CHECKING:
    from ctas7_panel.streams.bus import Bus, OverflowSink


def open_bus(
    url: str, *, overflow_sink: OverflowSink | None = None, claim_idle: float | None = None
) -> Bus:
    """A bus for ``url`` (not started: ``await bus.start()`` or ``async with bus``);
    ``claim_idle``: see ``Bus`` (None: the bus's default)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from ctas7_panel.streams.bus import MemoryBus

        bus: Bus = MemoryBus(overflow_sink=overflow_sink)
    elif scheme in {"redis", "rediss"}:
        from ctas7_panel.streams.redis_bus import RedisStreamsBus

        bus = RedisStreamsBus(url, overflow_sink=overflow_sink)
    else:
        raise ConfigError(f"CTAS7_BUS_URL={url!r} is not supported: use memory:// or redis://...")
    if claim_idle is not None:
        bus.claim_idle = claim_idle
    return bus
