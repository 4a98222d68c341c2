"""Delivery targets: where the bridge hands each transformed event.

A ``Target`` has a ``name``, ``async deliver(event)`` that returns when the target has taken
the event and raises ``DeliveryError`` otherwise (``EventError`` when the event itself cannot be
sent, e.g. it cannot be encoded: the bridge dead-letters it at once instead of retrying),
``deliver_many(events)`` (a batch; returns one ``None`` or exception per event: one round trip
where the target can, else ``deliver`` each: ``TargetBase``) and ``close()``.

Which targets exist, and where each one's feed is, is the target table
(``ctas7_panel/targetspec.py``); ``build_targets`` makes one per ``TargetSpec``.

- ``BusTarget`` publishes to the bus topic ``target.<name>`` (Legion reads it in group
  ``legion``, Neural Mux in ``neural_mux``, each dashboard process in its own group; the
  gateway relays it to ``/legion_events``, ``/dioxus_events``, ``/mux_events``).
- ``WebSocketTarget`` sends to a remote system's websocket (e.g. ``CTAS_LEGION_ENDPOINT``
  on another host). Wire protocol: one text frame per event (the envelope JSON); the remote
  answers ``{"ack": "<event_id>"}`` once it has applied (or already had) the event. No ack
  within ``ack_timeout`` seconds, a refused connection or a closed socket is a failed
  attempt; the bridge retries with backoff. With ``ack=False`` a written frame counts as
  delivered (for receivers that do not answer).

Both de-duplicate by ``event_id`` with a bounded ``SeenIds`` (see ``delivery.py``): an event
already delivered by this process is skipped, so a redelivery is harmless; the receivers
de-duplicate too (across processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from ctas7_panel.errors import BusError, ConfigError, DeliveryError
from ctas7_panel.events import Event
from ctas7_panel.netutil import endpoint_is_local
from ctas7_panel.streams.dedup import SeenIds
from ctas7_panel.targetspec import target_names, target_specs, target_topic

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from ctas7_panel.settings import Settings
    from ctas7_panel.streams.bus import Bus


@runtime_checkable
class Target(Protocol):
    """Something that takes events. ``deliver`` raises ``DeliveryError`` when it cannot."""

    name: str

    async def deliver(self, event: Event) -> None: ...

    async def deliver_many(self, events: Sequence[Event]) -> list[BaseException | None]: ...

    async def close(self) -> None: ...


class TargetBase:
    """The parts of ``Target`` a target without batches or resources shares: ``deliver_many``
    delivers one by one (each failure is that event's result), ``close`` does nothing."""

    name: str

    async def deliver(self, event: Event) -> None:
        raise NotImplementedError

    async def deliver_many(self, events: Sequence[Event]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for e in events:
            try:
                await self.deliver(e)
                results.append(None)
            except Exception as exc:  # the bridge decides per result (retry, dead letter)
                results.append(exc)
        return results

    async def close(self) -> None:
        return None


class BusTarget(TargetBase):
    """Publishes to ``target.<name>`` on the bus; de-duplicates by ``event_id``."""

    def __init__(self, name: str, bus: Bus, *, seen: SeenIds | None = None) -> None:
        self.name = name
        self.bus = bus
        self.topic = target_topic(name)
        self.seen = seen if seen is not None else SeenIds()
        self.duplicates = 0

    async def deliver(self, event: Event) -> None:
        if self.seen.seen(event.event_id):
            self.duplicates += 1
            return
        try:
            await self.bus.publish(event, topic=self.topic)
        except BusError as exc:
            raise DeliveryError(
                f"target {self.name}: cannot publish to {self.topic}: {exc}"
            ) from exc
        self.seen.add(event.event_id)

    async def deliver_many(self, events: Sequence[Event]) -> list[BaseException | None]:
        """A batch in one ``publish_many``; one result per event."""
        seen = self.seen
        now = time.monotonic()
        event_ids = [e.event_id for e in events]
        keep = seen.fresh(event_ids, now)
        self.duplicates += len(events) - len(keep)
        ok: list[BaseException | None] = [None] * len(events)
        if not keep:
            return ok
        if len(keep) == len(events):
            fresh, fresh_ids = list(events), event_ids
        else:
            fresh, fresh_ids = [events[i] for i in keep], [event_ids[i] for i in keep]
        try:
            await self.bus.publish_many(fresh, topic=self.topic)
        except BusError as exc:
            err = DeliveryError(f"target {self.name}: cannot publish to {self.topic}: {exc}")
            err.__cause__ = exc
            return [None if seen.seen(e.event_id, now) else err for e in events]
        seen.add_many(fresh_ids, now)
        return ok


class WebSocketTarget(TargetBase):
    """Sends to a remote websocket and waits for its ack (see the module docstring)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        token: str | None = None,
        ack: bool = True,
        ack_timeout: float = 2.0,
        open_timeout: float = 2.0,
        max_size: int = 1 << 20,
        seen: SeenIds | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.ack = ack
        self.ack_timeout = ack_timeout
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.seen = seen if seen is not None else SeenIds()
        self.duplicates = 0
        self._conn: ClientConnection | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> ClientConnection:
        from websockets.asyncio.client import connect

        if self._conn is not None:
            return self._conn
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            self._conn = await connect(
                self.url,
                additional_headers=headers,
                open_timeout=self.open_timeout,
                max_size=self.max_size,
                close_timeout=1,
            )
        except (OSError, TimeoutError, Exception) as exc:
            raise DeliveryError(f"target {self.name}: cannot connect to {self.url}: {exc}") from exc
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def deliver(self, event: Event) -> None:
        if self.seen.seen(event.event_id):
            self.duplicates += 1
            return
        frame = event.to_json().decode()  # EventError: the event itself, never retried
        async with self._lock:
            conn = await self._connect()
            try:
                await conn.send(frame)
                if self.ack:
                    async with asyncio.timeout(self.ack_timeout):
                        await self._await_ack(conn, event.event_id)
            except (TimeoutError, OSError, Exception) as exc:
                await self._drop()
                if isinstance(exc, DeliveryError):
                    raise
                what = "no ack" if isinstance(exc, TimeoutError) else "connection lost"
                raise DeliveryError(
                    f"target {self.name}: {what} from {self.url} for {event.event_id}: {exc!r}"
                ) from exc
        self.seen.add(event.event_id)

    async def _await_ack(self, conn: ClientConnection, event_id: str) -> None:
        while True:
            frame = await conn.recv()
            try:
                reply: Any = orjson.loads(frame)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(reply, dict):
                continue
            if reply.get("ack") == event_id:
                return
            if "error" in reply and reply.get("event_id") in (None, event_id):
                raise DeliveryError(
                    f"target {self.name}: {self.url} refused {event_id}: {reply['error']}"
                )

    async def close(self) -> None:
        await self._drop()


def build_targets(
    settings: Settings,
    bus: Bus,
    *,
    forward: dict[str, str] | None = None,
    seen_capacity: int = 100_000,
) -> dict[str, Target]:
    """One target per ``TargetSpec`` of the target table, for ``settings``.

    A target whose endpoint (its setting: ``CTAS_LEGION_ENDPOINT``, ``CTAS_DIOXUS_ENDPOINT``,
    ``CTAS_NEURAL_MUX_ENDPOINT``, ...) is on this machine is a ``BusTarget`` (the gateway serves
    its feed); one on another host, or named in ``forward`` (``{"legion": "ws://..."}``), is a
    ``WebSocketTarget`` sending there with ``CTAS7_TOKEN``.
    """
    forward = dict(forward or {})
    names = target_names()
    for name in forward:
        if name not in names:
            raise ConfigError(
                f"--forward {name}=...: unknown target {name!r}, use one of {', '.join(names)}"
            )
    targets: dict[str, Target] = {}
    for spec in target_specs():
        name = spec.name
        url = forward.get(name) or settings.endpoint(name)
        if url is not None and (name in forward or not endpoint_is_local(url)):
            targets[name] = WebSocketTarget(
                name, url, token=settings.token, seen=SeenIds(seen_capacity)
            )
        else:
            targets[name] = BusTarget(name, bus, seen=SeenIds(seen_capacity))
    return targets
