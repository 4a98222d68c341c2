"""``RedisStreamsBus``: the bus on Redis Streams, for many processes and hosts.

Same semantics as ``MemoryBus`` (see ``bus.py``), mapped onto Redis:

- one stream per topic, key ``<prefix><topic>`` (default prefix ``ctas7:stream:``), entries
  ``{"e": <event JSON>}``; ``XADD ... MAXLEN ~ maxlen`` trims old entries (default 100,000 per
  stream: a group lagging further behind than that loses the trimmed entries, which Redis
  reports as deleted and this bus counts as ``trimmed``);
- a consumer group per group name (``XGROUP CREATE ... MKSTREAM``; ``start="new"`` = ``$``,
  ``"earliest"`` = ``0``); competing consumers by ``XREADGROUP ... >``;
- ``ack`` = ``XACK``. An entry read but not acked stays in the group's pending list:

  * the same consumer name re-reads its own pending entries first after a restart or after a
    cancelled read (``XREADGROUP ... 0``);
  * every ``claim_idle / 2`` seconds a consumer takes over entries idle for more than
    ``claim_idle`` seconds (``XAUTOCLAIM``): this is how a sibling worker delivers what a
    ``kill -9``-ed worker had read (``delivery_count`` 2 on such messages);
  * a live consumer refreshes its own unacked entries every ``claim_idle / 3`` seconds
    (``XCLAIM ... JUSTID``) so that slow work (e.g. retries during a target outage) is not
    stolen by a sibling;
  * ``Subscription.close()`` marks its unacked entries as long idle, so a sibling claims them
    at its next claim pass (redelivered, like ``MemoryBus``).

Cleaning up after crashes (a ``kill -9`` leaves consumers and groups behind):

- after each full claim pass (at most every ``claim_idle`` seconds) a consumer removes the
  other consumers of its group that hold no pending entry and have been idle for more than
  ``consumer_expiry`` seconds (default ``5 * claim_idle``): a dead worker's consumer goes once
  a sibling has claimed its entries (``_REAP_LUA``, atomic; a live consumer removed by mistake
  would only be created again by its next read, as it holds nothing);
- a group subscribed with ``ephemeral=True`` (one process's own group: a gateway feed, a
  dashboard process) is destroyed when its subscription closes, and is listed in the hash
  ``<prefix>ephemeral`` with a heartbeat: every ``group_expiry / 4`` seconds (at most every
  minute) each bus refreshes the heartbeat of its own open ephemeral groups and destroys the
  listed groups whose heartbeat is older than ``group_expiry`` seconds (default 600: their
  process died) (``_EXPIRE_LUA``, atomic).

``publish_many(events, topic)`` sends a batch as one command (used by the bridge's targets), and
``get`` reads what is waiting as one command and one reply: two small Lua scripts (``_ADD_LUA``,
``_READ_LUA``), because redis-py's per-command and per-item costs, not Redis, set the pace
otherwise. Only when nothing is waiting does ``get`` block in a plain ``XREADGROUP``.
A stream entry that is not a valid event (written by something else) is acked and handed to
``overflow_sink`` as a ``bus_rejected`` event (target ``bus:<group>``), or logged and counted
as ``rejected`` without a sink. Connection failures raise ``BusError`` naming the
(password-redacted) URL.

Cancel-safety: ``publish`` may be cancelled (the entry may or may not have been added);
``Subscription.get`` may be cancelled: anything Redis handed over meanwhile stays pending for
this consumer and comes back at the next ``get``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from ctas7_panel.errors import BusError, EventError
from ctas7_panel.events import Event
from ctas7_panel.lifecycle import cancel_and_wait
from ctas7_panel.settings import redact_url
from ctas7_panel.streams.bus import (
    DEFAULT_TOPIC,
    CountingBus,
    Message,
    OverflowSink,
    Start,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "ctas7:stream:"
DEFAULT_MAXLEN = 100_000
DEFAULT_CLAIM_IDLE = 30.0
DEFAULT_GROUP_EXPIRY = 600.0
CONSUMER_EXPIRY_FACTOR = 5.0  # consumer_expiry = 5 * claim_idle unless given
_FIELD = b"e"
_LONG_IDLE_MS = 10**9
_ADD_CHUNK = 1000  # entries per XADD script call

# Batches go through two small Lua scripts, so that a batch costs the client one command and
# one reply to parse instead of one (or five RESP items) per entry:
# - _ADD_LUA: XADD ... MAXLEN ~ <maxlen> * e <event> per argument; returns the ids, space-joined;
# - _READ_LUA: XREADGROUP (never blocking) and the entries framed in one string,
#   "<id> <byte length>\n<event JSON>" each ("<id> -1\n" for an entry without the event field).
_ADD_LUA = """
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return table.concat(ids, ' ')
"""
_READ_LUA = """
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                     'STREAMS', KEYS[1], ARGV[4])
if not r then return '' end
local out = {}
for _, entry in ipairs(r[1][2]) do
  local data = nil
  local f = entry[2]
  if f then
    for i = 1, #f, 2 do
      if f[i] == 'e' then data = f[i + 1] end
    end
  end
  if data then
    out[#out + 1] = entry[1] .. ' ' .. #data .. '\\n' .. data
  else
    out[#out + 1] = entry[1] .. ' -1\\n'
  end
end
return table.concat(out)
"""


# XINFO CONSUMERS answers, per consumer, flat pairs: name, pending, idle (ms), ...
_REAP_LUA = """
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0
     and tonumber(f['idle']) > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
"""
# KEYS: stream, registry hash; ARGV: group, registry field, expiry ms, now ms. 1 = destroyed.
# Liveness is the entry's heartbeat (a consumer's idle time is no sign of death: before Redis
# 7.2 it only counts from the last entry delivered, so a live reader of a quiet topic looks idle).
_EXPIRE_LUA = """
local beat = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if tonumber(ARGV[4]) - beat <= tonumber(ARGV[3]) then return 0 end
pcall(redis.call, 'XGROUP', 'DESTROY', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
"""


def unframe(blob: bytes) -> list[tuple[str, bytes | None]]:
    """The entries of a ``_READ_LUA`` reply: ``(entry id, event JSON or None)``."""
    out: list[tuple[str, bytes | None]] = []
    pos, end = 0, len(blob)
    while pos < end:
        nl = blob.index(b"\n", pos)
        entry_id, _, size = blob[pos:nl].partition(b" ")
        n = int(size)
        if n < 0:
            out.append((entry_id.decode(), None))
            pos = nl + 1
        else:
            out.append((entry_id.decode(), blob[nl + 1 : nl + 1 + n]))
            pos = nl + 1 + n
    return out


def _entry(raw_id: Any, fields: Any) -> tuple[str, bytes | None]:
    """``(entry id, event JSON or None)`` of an entry as redis-py returns it."""
    entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
    return entry_id, (fields or {}).get(_FIELD)


class RedisSubscription:
    """A consumer of one group of one stream (see the module docstring)."""

    def __init__(
        self,
        bus: RedisStreamsBus,
        topic: str,
        group: str,
        name: str,
        claim_idle: float,
        *,
        ephemeral: bool = False,
    ) -> None:
        self._bus = bus
        self.topic = topic
        self.key = bus.key(topic)
        self.group = group
        self.name = name
        self.claim_idle = claim_idle
        self.ephemeral = ephemeral
        self.consumer_expiry = bus.consumer_expiry or CONSUMER_EXPIRY_FACTOR * claim_idle
        self._held: set[str] = set()
        self._check_own = True  # re-read our own pending entries before new ones
        self._claim_cursor = "0-0"
        self._last_claim = 0.0
        self._last_reap = time.monotonic()
        self._closed = False
        self._keeper = asyncio.create_task(self._keep_alive(), name=f"ctas7-redis-keep-{name}")

    async def get(self, max_count: int = 1, timeout: float | None = None) -> list[Message]:
        if self._closed:
            raise BusError(f"subscription {self.name!r} is closed")
        from redis.exceptions import ResponseError

        r = self._bus.redis
        try:
            if self._check_own:
                out = await self._read_now("0", max_count, redelivered=True)
                if out:
                    return out
                self._check_own = False
            now = time.monotonic()
            if self._claim_cursor != "0-0" or now - self._last_claim >= self.claim_idle / 2:
                # a pass goes on at the next get until it has been round the whole group
                self._last_claim = now
                out = await self._autoclaim(r, max_count)
                if self._claim_cursor == "0-0" and now - self._last_reap >= self.claim_idle:
                    self._last_reap = now
                    await self._reap()
                if out:
                    return out
            out = await self._read_now(">", max_count)
            if out or timeout == 0:
                return out
            # nothing waiting: block in Redis until something comes (or the timeout)
            block = 0 if timeout is None else max(1, int(timeout * 1000))
            return await self._read(r, ">", max_count, block)
        except asyncio.CancelledError:
            self._check_own = True  # whatever Redis handed over is pending for us
            raise
        except BusError:
            raise
        except ResponseError as exc:
            if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):  # stream deleted under us
                await self._bus._create_group(self.key, self.group, "0")
                return []
            raise BusError(self._bus.describe(f"cannot read {self.key!r}", exc)) from exc
        except Exception as exc:
            raise BusError(self._bus.describe(f"cannot read {self.key!r}", exc)) from exc

    async def _read_now(
        self, start: str, count: int, *, redelivered: bool = False
    ) -> list[Message]:
        """XREADGROUP without blocking, through ``_READ_LUA`` (one reply for the batch)."""
        blob: Any = await self._bus._read_script(
            keys=[self.key], args=[self.group, self.name, count, start]
        )
        if not blob:
            return []
        return await self._messages(unframe(bytes(blob)), 2 if redelivered else 1)

    async def _read(self, r: aioredis.Redis, start: str, count: int, block: int) -> list[Message]:
        """XREADGROUP, blocking up to ``block`` ms (0: until something comes)."""
        reply: Any = await r.xreadgroup(
            self.group, self.name, {self.key: start}, count=count, block=block
        )
        entries: list[tuple[Any, Any]]
        if not reply:
            entries = []
        elif isinstance(reply, dict):  # RESP3
            entries = next(iter(reply.values()))[0]
        else:
            entries = reply[0][1]
        return await self._messages([_entry(i, f) for i, f in entries], 1)

    async def _autoclaim(self, r: aioredis.Redis, count: int) -> list[Message]:
        reply: Any = await r.xautoclaim(
            self.key,
            self.group,
            self.name,
            min_idle_time=int(self.claim_idle * 1000),
            start_id=self._claim_cursor,
            count=count,
        )
        cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if deleted:
            self._bus._count(self.topic, "trimmed", len(deleted))
        msgs = await self._messages([_entry(i, f) for i, f in entries], 2)
        self._bus._count(self.topic, "claimed", len(msgs))
        return msgs

    async def _reap(self) -> None:
        """Remove the group's consumers that hold nothing and have long been idle (dead)."""
        removed: Any = await self._bus._reap_script(
            keys=[self.key], args=[self.group, self.name, int(self.consumer_expiry * 1000)]
        )
        if removed:
            self._bus._count(self.topic, "consumers_removed", int(removed))
            log.info(
                "redis bus: removed %d idle consumer(s) of group %r on %s",
                int(removed),
                self.group,
                self.key,
            )

    async def _messages(
        self, entries: Sequence[tuple[str, bytes | None]], count: int
    ) -> list[Message]:
        out: list[Message] = []
        bad: list[str] = []
        for entry_id, data in entries:
            if data is None:  # trimmed while pending
                bad.append(entry_id)
                self._bus._count(self.topic, "trimmed")
                continue
            try:
                event = Event.decode(data, max_bytes=self._bus.max_event_bytes)
            except EventError as exc:
                bad.append(entry_id)
                await self._bus._reject(self.topic, self.group, entry_id, data, exc)
                continue
            out.append(Message(entry_id, self.topic, self.group, event, count))
        if bad:
            await self._bus.redis.xack(self.key, self.group, *bad)
        self._held.update(m.id for m in out)
        self._bus._count(self.topic, "delivered", len(out))
        return out

    async def ack(self, *messages: Message) -> None:
        if not messages:
            return
        ids = [m.id for m in messages]
        try:
            n = await self._bus.redis.xack(self.key, self.group, *ids)
        except Exception as exc:
            raise BusError(self._bus.describe(f"cannot ack on {self.key!r}", exc)) from exc
        self._held.difference_update(ids)
        self._bus._count(self.topic, "acked", int(n))

    async def _keep_alive(self) -> None:
        """Refresh the idle time of our unacked entries so siblings do not claim them."""
        while not self._closed:  # checked too: a cancel may be absorbed inside redis-py
            await asyncio.sleep(self.claim_idle / 3)
            held: list[Any] = list(self._held)
            if not held:
                continue
            with contextlib.suppress(Exception):
                await self._bus.redis.xclaim(
                    self.key, self.group, self.name, min_idle_time=0, message_ids=held, justid=True
                )

    async def close(self) -> None:
        """Stop consuming; unacked entries become claimable by siblings right away."""
        if self._closed:
            return
        self._closed = True
        await cancel_and_wait(self._keeper)
        held: list[Any] = list(self._held)
        self._held = set()
        self._bus._subs.discard(self)
        if self.ephemeral and not self._bus.closed:
            with contextlib.suppress(Exception):
                await self._bus.drop_group(self.group, topic=self.topic)
            return
        if held and not self._bus.closed:
            with contextlib.suppress(Exception):
                await self._bus.redis.xclaim(
                    self.key,
                    self.group,
                    self.name,
                    min_idle_time=0,
                    message_ids=held,
                    idle=_LONG_IDLE_MS,
                    justid=True,
                )
                self._bus._count(self.topic, "redelivered", len(held))

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while not self._closed:
            for msg in await self.get(1, timeout=1.0):
                yield msg


class RedisStreamsBus(CountingBus):
    """The bus on Redis Streams. ``async with RedisStreamsBus(url) as bus: ...``."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = DEFAULT_MAXLEN,
        claim_idle: float = DEFAULT_CLAIM_IDLE,
        max_event_bytes: int = 16 << 20,
        overflow_sink: OverflowSink | None = None,
        consumer_expiry: float | None = None,
        group_expiry: float = DEFAULT_GROUP_EXPIRY,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.maxlen = maxlen
        self.claim_idle = claim_idle
        self.consumer_expiry = consumer_expiry  # None: CONSUMER_EXPIRY_FACTOR * claim_idle
        self.group_expiry = group_expiry
        self._janitor: asyncio.Task[None] | None = None
        self._stop_sweep = asyncio.Event()
        self._reap_obj: AsyncScript | None = None
        self._expire_obj: AsyncScript | None = None
        self.max_event_bytes = max_event_bytes
        self.overflow_sink = overflow_sink
        self._redis: aioredis.Redis | None = None
        self._add_script: AsyncScript | None = None
        self._read_script_obj: AsyncScript | None = None
        self._subs: set[RedisSubscription] = set()
        self._stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._consumer_seq = 0
        self.closed = False

    def key(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    @property
    def registry(self) -> str:
        """The hash listing ephemeral groups: ``"<stream key>\\n<group>"`` -> created (ms)."""
        return f"{self.prefix}ephemeral"

    def describe(self, what: str, exc: BaseException) -> str:
        return f"redis bus {redact_url(self.url)}: {what}: {exc} (is Redis running? CTAS7_BUS_URL)"

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise BusError("the redis bus is not started: use `async with bus` or await start()")
        return self._redis

    async def start(self) -> None:
        import redis.asyncio as aioredis

        if self._redis is not None:
            return
        self.closed = False
        client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=5, health_check_interval=30
        )
        try:
            await client.ping()
        except Exception as exc:
            await client.aclose()
            raise BusError(self.describe("cannot connect", exc)) from exc
        self._redis = client
        self._add_script = client.register_script(_ADD_LUA)
        self._read_script_obj = client.register_script(_READ_LUA)
        self._reap_obj = client.register_script(_REAP_LUA)
        self._expire_obj = client.register_script(_EXPIRE_LUA)
        if self.group_expiry > 0:
            self._stop_sweep = asyncio.Event()
            self._janitor = asyncio.create_task(self._sweep_loop(), name="ctas7-redis-janitor")

    async def close(self) -> None:
        if self._janitor is not None:
            self._stop_sweep.set()
            await cancel_and_wait(self._janitor)
            self._janitor = None
        for sub in list(self._subs):
            await sub.close()
        self.closed = True
        if self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()

    async def publish(self, event: Event, *, topic: str = DEFAULT_TOPIC) -> str:
        if self.closed:
            raise BusError("the bus is closed: publish before close()")
        data = event.to_json()  # EventError: this event cannot be encoded (not a bus failure)
        try:
            entry = await self.redis.xadd(
                self.key(topic), {_FIELD: data}, maxlen=self.maxlen, approximate=True
            )
        except BusError:
            raise
        except Exception as exc:
            raise BusError(self.describe(f"cannot publish to {topic!r}", exc)) from exc
        self._count(topic, "published")
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    async def publish_many(
        self, events: Sequence[Event], *, topic: str = DEFAULT_TOPIC
    ) -> list[str]:
        """Publish a batch in one round trip; all or nothing from the caller's view (``EventError``
        and nothing sent when one of the events cannot be encoded)."""
        if self.closed:
            raise BusError("the bus is closed: publish before close()")
        if not events:
            return []
        key = self.key(topic)
        script = self._add_script
        if script is None:
            raise BusError("the redis bus is not started: use `async with bus` or await start()")
        ids: list[str] = []
        frames = [e.to_json() for e in events]  # EventError: one cannot be encoded, none sent
        try:
            for k in range(0, len(frames), _ADD_CHUNK):
                chunk = frames[k : k + _ADD_CHUNK]
                reply: Any = await script(keys=[key], args=[self.maxlen, *chunk])
                ids += bytes(reply).decode().split(" ")
        except BusError:
            raise
        except Exception as exc:
            raise BusError(self.describe(f"cannot publish to {topic!r}", exc)) from exc
        self._count(topic, "published", len(ids))
        return ids

    async def _reap_script(self, *, keys: list[Any], args: list[Any]) -> Any:
        if self._reap_obj is None:
            raise BusError("the redis bus is not started: use `async with bus` or await start()")
        return await self._reap_obj(keys=keys, args=args)

    async def expire_groups(self) -> list[tuple[str, str]]:
        """Refresh the heartbeat of this bus's open ephemeral groups, then destroy the listed
        groups whose heartbeat is older than ``group_expiry`` seconds (their process died);
        return ``(stream key, group)`` of the ones destroyed."""
        script = self._expire_obj
        if script is None:
            raise BusError("the redis bus is not started: use `async with bus` or await start()")
        now_ms = int(time.time() * 1000)
        mine = {f"{sub.key}\n{sub.group}": now_ms for sub in self._subs if sub.ephemeral}
        if mine:
            await self.redis.hset(self.registry, mapping=mine)  # type: ignore[arg-type]
        entries: Any = await self.redis.hgetall(self.registry)
        gone: list[tuple[str, str]] = []
        for raw in entries:
            entry = raw.decode() if isinstance(raw, bytes) else str(raw)
            key, _, group = entry.partition("\n")
            done: Any = await script(
                keys=[key, self.registry],
                args=[group, entry, int(self.group_expiry * 1000), now_ms],
            )
            if done:
                gone.append((key, group))
        if gone:
            log.info(
                "redis bus: forgot %d ephemeral group(s) of dead processes: %s", len(gone), gone
            )
        return gone

    async def _sweep_loop(self) -> None:
        interval = min(60.0, self.group_expiry / 4)
        stop = self._stop_sweep
        while not stop.is_set():  # checked: redis-py may absorb a cancel
            try:
                await self.expire_groups()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away for a moment: try at the next round
                log.debug("redis bus: group sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await stop.wait()

    async def _read_script(self, *, keys: list[Any], args: list[Any]) -> Any:
        if self._read_script_obj is None:
            raise BusError("the redis bus is not started: use `async with bus` or await start()")
        return await self._read_script_obj(keys=keys, args=args)

    async def subscribe(
        self,
        group: str,
        *,
        topic: str = DEFAULT_TOPIC,
        consumer: str | None = None,
        start: Start = "new",
        ephemeral: bool = False,
        claim_idle: float | None = None,
    ) -> RedisSubscription:
        """A consumer of ``group``; ``ephemeral``: the group is this process's own (destroyed
        when the subscription closes, expired by any bus when the process died)."""
        key = self.key(topic)
        await self._create_group(key, group, "$" if start == "new" else "0", listed=ephemeral)
        if consumer is None:
            self._consumer_seq += 1
            consumer = f"{group}-{socket.gethostname()}-{os.getpid()}-{self._consumer_seq}"
        sub = RedisSubscription(
            self, topic, group, consumer, claim_idle or self.claim_idle, ephemeral=ephemeral
        )
        self._subs.add(sub)
        return sub

    async def _create_group(
        self, key: str, group: str, start_id: str, *, listed: bool = False
    ) -> None:
        """Create ``group`` on ``key`` (an existing one is kept); ``listed``: an ephemeral group,
        entered in the registry first, so a crash in between leaves no orphan."""
        from redis.exceptions import ResponseError

        try:
            if listed:
                await self.redis.hset(self.registry, f"{key}\n{group}", int(time.time() * 1000))
            await self.redis.xgroup_create(key, group, id=start_id, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise BusError(self.describe(f"cannot create group {group!r}", exc)) from exc
        except BusError:
            raise
        except Exception as exc:
            raise BusError(self.describe(f"cannot create group {group!r}", exc)) from exc

    async def drop_group(self, group: str, *, topic: str = DEFAULT_TOPIC) -> None:
        """Delete a consumer group (and its ephemeral listing)."""
        key = self.key(topic)
        with contextlib.suppress(Exception):
            await self.redis.xgroup_destroy(key, group)
            await self.redis.hdel(self.registry, f"{key}\n{group}")

    async def _reject(
        self, topic: str, group: str, entry_id: str, data: bytes, exc: EventError
    ) -> None:
        self._count(topic, "rejected")
        reason = f"stream entry {entry_id} of {topic!r} is not a valid event: {exc}"
        if self.overflow_sink is None:
            log.error("redis bus: %s (dropped from the stream; no sink configured)", reason)
            return
        shown = data[:4096].decode("utf-8", "replace")
        rejected = Event.create(
            "bus_rejected",
            {"entry_id": entry_id, "topic": topic, "raw": shown, "error": str(exc)},
            source_node="redis_bus",
        )
        await self.overflow_sink(rejected, f"bus:{group}", reason)
