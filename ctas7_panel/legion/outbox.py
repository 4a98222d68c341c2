"""Legion's outbox: events that could not be published yet wait here, in order.

Bounded (``maxsize``; when full the oldest waiting event is dropped, a stated trade-off: a long
bus outage keeps the newest ``maxsize`` events). ``publish(bus, event, topic)`` appends the event
and sends everything waiting, oldest first, stopping at the first failure (logged; the rest go
out with the next publish). Not thread-safe: used from the engine's event loop.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from ctas7_panel.errors import Ctas7Error
from ctas7_panel.events import Event

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, maxsize: int) -> None:
        self._waiting: deque[Event] = deque(maxlen=maxsize)

    def __len__(self) -> int:
        return len(self._waiting)

    async def publish(self, bus: Any, event: Event, topic: str) -> None:
        """Queue ``event`` and send what waits (see the module docstring); never raises."""
        self._waiting.append(event)
        while self._waiting:
            head = self._waiting[0]
            try:
                await bus.publish(head, topic=topic)
            except Ctas7Error as exc:
                log.warning("legion: cannot publish %s yet (%s); kept in the outbox", head, exc)
                return
            self._waiting.popleft()
