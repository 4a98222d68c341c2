"""Where Neural Mux KPI state lives: process memory, or Redis (survives restarts, shared).

Both backends apply an ``Updates`` exactly once per ``event_id`` (at-least-once delivery repeats
events) and return the whole ``KpiState`` for ``compute_kpis``/``to_prometheus``.

Redis layout under ``<prefix>`` (default ``ctas7:mux``): hashes ``:counters`` and ``:gauges``
(field = encoded metric key), sorted sets ``:samples:<key>`` (score = receive time, trimmed to the
window and to ``max_samples``; set ``:series`` lists them), hashes ``:arrivals:<topic>`` (second
-> count, trimmed to the rate window; set ``:topics``), and ``:seen:<event_id>`` (expires after
``dedupe_ttl_s``). One Lua script applies an update atomically: a crash never leaves an event
half-counted, and a replayed event is not counted twice. The script names its keys from the
prefix, so it needs a single Redis (not Redis Cluster).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Protocol

import orjson

from ctas7_panel.errors import BusError
from ctas7_panel.mux.metrics import KpiConfig, KpiState, MetricKey, Updates, decode_key, encode_key
from ctas7_panel.settings import redact_url


class KpiBackend(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def record(self, u: Updates) -> bool:
        """Apply ``u`` unless its event id was applied before; True if applied."""
        ...

    async def state(self, now: float) -> KpiState: ...

    async def reset(self) -> None: ...


class MemoryKpiBackend:
    """KPI state in this process (lost on restart)."""

    def __init__(self, cfg: KpiConfig, *, remember: int = 100_000) -> None:
        self.cfg = cfg
        self._state = KpiState()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def record(self, u: Updates) -> bool:
        if u.event_id:
            if u.event_id in self._seen:
                return False
            self._seen[u.event_id] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        self._state.apply(u, self.cfg)
        return True

    async def state(self, now: float) -> KpiState:
        self._state.trim(now, self.cfg)
        return self._state

    async def reset(self) -> None:
        self._state = KpiState()
        self._seen.clear()


_RECORD_LUA = """
local p = ARGV[1]
local u = cjson.decode(ARGV[2])
if u.id ~= '' then
  if not redis.call('SET', p .. ':seen:' .. u.id, '1', 'NX', 'EX', u.ttl) then return 0 end
end
for _, c in ipairs(u.c) do redis.call('HINCRBYFLOAT', p .. ':counters', c[1], c[2]) end
for _, g in ipairs(u.g) do redis.call('HSET', p .. ':gauges', g[1], g[2]) end
local cutoff = tonumber(u.now) - tonumber(u.window)
for i, s in ipairs(u.s) do
  local k = p .. ':samples:' .. s[1]
  redis.call('ZADD', k, u.now, u.now .. '|' .. s[2] .. '|' .. u.id .. '|' .. i)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. cutoff)
  redis.call('ZREMRANGEBYRANK', k, 0, -(tonumber(u.max) + 1))
  redis.call('SADD', p .. ':series', s[1])
end
local a = p .. ':arrivals:' .. u.topic
redis.call('HINCRBY', a, u.sec, 1)
redis.call('SADD', p .. ':topics', u.topic)
local oldest = tonumber(u.sec) - tonumber(u.rw)
for _, f in ipairs(redis.call('HKEYS', a)) do
  if tonumber(f) <= oldest then redis.call('HDEL', a, f) end
end
return 1
"""


class RedisKpiBackend:
    """KPI state in Redis: survives a restart of the mux, shared by every mux process."""

    def __init__(self, url: str, cfg: KpiConfig, *, prefix: str = "ctas7:mux") -> None:
        self.url = url
        self.cfg = cfg
        self.prefix = prefix
        self._client: Any = None
        self._script: Any = None

    async def start(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5)
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            await self._client.aclose()
            self._client = None
            raise BusError(
                f"neural mux cannot reach Redis at {redact_url(self.url)}: {exc} "
                "(is redis-server running, and is CTAS7_BUS_URL right?)"
            ) from exc
        self._script = self._client.register_script(_RECORD_LUA)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _redis(self) -> Any:
        if self._client is None:
            raise BusError("neural mux Redis backend is not started: call start() first")
        return self._client

    async def record(self, u: Updates) -> bool:
        from redis.exceptions import RedisError

        body = {
            "id": u.event_id,
            "ttl": self.cfg.dedupe_ttl_s,
            "topic": u.topic,
            "now": repr(u.now),
            "sec": str(u.second),
            "window": repr(float(self.cfg.window_s)),
            "rw": str(self.cfg.rate_window_s),
            "max": str(self.cfg.max_samples),
            "c": [[encode_key(k), repr(float(v))] for k, v in u.counters],
            "g": [[encode_key(k), repr(float(v))] for k, v in u.gauges],
            "s": [[encode_key(k), repr(float(v))] for k, v in u.samples],
        }
        self._redis()
        try:
            applied = await self._script(args=[self.prefix, orjson.dumps(body)])
        except (RedisError, OSError) as exc:
            raise BusError(f"neural mux cannot record KPIs in Redis: {exc}") from exc
        return bool(applied)

    async def state(self, now: float) -> KpiState:
        from redis.exceptions import RedisError

        r = self._redis()
        p = self.prefix
        try:
            async with r.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{p}:counters")
                pipe.hgetall(f"{p}:gauges")
                pipe.smembers(f"{p}:series")
                pipe.smembers(f"{p}:topics")
                counters, gauges, series, topics = await pipe.execute()
            series = sorted(s.decode() for s in series)
            topics = sorted(t.decode() for t in topics)
            cutoff = now - self.cfg.window_s
            async with r.pipeline(transaction=False) as pipe:
                for s in series:
                    pipe.zrangebyscore(f"{p}:samples:{s}", cutoff, "+inf")
                for t in topics:
                    pipe.hgetall(f"{p}:arrivals:{t}")
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise BusError(f"neural mux cannot read KPIs from Redis: {exc}") from exc
        state = KpiState(
            counters={decode_key(k): float(v) for k, v in counters.items()},
            gauges={decode_key(k): float(v) for k, v in gauges.items()},
        )
        for s, members in zip(series, results[: len(series)], strict=True):
            k: MetricKey = decode_key(s)
            dq: deque[tuple[float, float]] = deque(maxlen=self.cfg.max_samples)
            for m in members:
                t, v = m.decode().split("|", 2)[:2]
                dq.append((float(t), float(v)))
            state.samples[k] = dq
        for t, buckets in zip(topics, results[len(series) :], strict=True):
            state.arrivals[t] = {int(sec): int(c) for sec, c in buckets.items()}
        state.trim(now, self.cfg)
        return state

    async def reset(self) -> None:
        r = self._redis()
        keys = [k async for k in r.scan_iter(match=f"{self.prefix}:*", count=1000)]
        if keys:
            await r.delete(*keys)
