"""Telemetry Bridge benchmark: figures beside the seed's thresholds, the goals and raw anchors.

    .venv/bin/python benchmarks/bridge.py [--redis redis://127.0.0.1:6379/7] [--outage 30]
                                          [--skip ws,redis,outage]

Prints, for each part: what was measured, the goal, the seed threshold, and the raw limit of
the machinery underneath (anchor) with the ratio. On a shared machine wall-clock figures move
with the load (printed with each part); the CPU-time figures (events per CPU-second, CPU per
event) move less, and are the ones to compare between runs. Throughput is given twice: to the
last delivery, and to the last bus acknowledgement (which waits for the store commit: issue 12's
end-to-end acknowledgement). Parts:

1. routing core (pure: resolve + transform per target), one core;
2. in-process pipeline: MemoryBus -> TelemetryBridge -> BusTargets (+ SQLite store), max
   throughput and p99 latency paced at 10,000 events/s;
3. websocket fan-out: 300-byte events at 1,000/s to 50 subscribers of /dioxus_events (light
   raw-socket clients, 10 per process in 5 processes), p99 publish -> client receipt;
4. Redis Streams end to end with 2 ``ctas7 bridge`` workers: throughput, and p99 at 5,000/s;
5. success rate under a target outage (default 30 s) with traffic flowing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctas7_panel import events as ev  # noqa: E402
from ctas7_panel.bridge.bridge import TelemetryBridge, tune_gc  # noqa: E402
from ctas7_panel.bridge.delivery import RetryPolicy  # noqa: E402
from ctas7_panel.bridge.routes import DEFAULT_TABLE  # noqa: E402
from ctas7_panel.bridge.targets import BusTarget, WebSocketTarget  # noqa: E402
from ctas7_panel.bridge.transforms import transform  # noqa: E402
from ctas7_panel.events import Event  # noqa: E402
from ctas7_panel.stats import quantile  # noqa: E402
from ctas7_panel.store import open_store  # noqa: E402
from ctas7_panel.streams.bus import MemoryBus  # noqa: E402

NAMES = ("legion", "dashboard", "neural_mux")


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def row(what: str, value: str, goal: str, seed: str = "", anchor: str = "") -> None:
    print(f"  {what:<44} {value:>18}   goal {goal:<16} {seed:<18} {anchor}")


def pct(values: list[float], q: float) -> float:
    return quantile(sorted(values), q) * 1000 if values else 0.0


def sample_events(n: int) -> list[Event]:
    makers = [
        lambda i: ev.schema_updated(
            new_hash=f"h{i}", old_hash=None, schema_path="s", table_count=7
        ),
        lambda i: ev.task_executed(task_id=f"t{i}", name="n", status="ok", duration_ms=1.0),
        lambda i: ev.playwright_test_completed(nodeid=f"n{i}", outcome="passed", duration_ms=2.0),
        lambda i: ev.qa5_validation(status="passed"),
    ]
    return [makers[i % 4](i) for i in range(n)]


# --- anchors --------------------------------------------------------------------------------


async def anchor_queue_fanout(n: int = 200_000) -> float:
    queues: list[asyncio.Queue[Event]] = [asyncio.Queue() for _ in range(3)]
    e = ev.qa5_validation(status="ok")
    t0 = time.perf_counter()
    for _ in range(n):
        for q in queues:
            q.put_nowait(e)
        for q in queues:
            q.get_nowait()
    return n / (time.perf_counter() - t0)


# --- 1 + 2: in-process ----------------------------------------------------------------------


def routing_core(events: list[Event]) -> float:
    t0 = time.perf_counter()
    for e in events:
        for name in DEFAULT_TABLE.resolve(e.event_type).targets:
            transform(name, e)
    return len(events) / (time.perf_counter() - t0)


def freeze_inputs() -> None:
    """Keep the benchmark's own input data out of the cyclic GC's full passes (as ``ctas7
    bridge`` does with what it holds after start-up, ``tune_gc``): otherwise each full pass
    rescans hundreds of thousands of prepared events, which no bridge process holds."""
    gc.collect()
    gc.freeze()


async def in_process(n: int, paced_rate: float, paced_n: int) -> dict[str, float]:
    tmp = tempfile.mkdtemp()
    store = open_store(f"sqlite:///{tmp}/events.db")
    bus = MemoryBus(capacity=1_000_000)
    targets = {name: BusTarget(name, bus) for name in NAMES}
    sinks = {name: await bus.subscribe(f"sink.{name}", topic=f"target.{name}") for name in NAMES}
    events = sample_events(n)
    expected = sum(len(DEFAULT_TABLE.resolve(e.event_type).targets) for e in events)
    freeze_inputs()
    bridge = TelemetryBridge(bus, store, targets=targets, metrics_interval=None, batch=512)
    async with bridge:
        t0, c0 = time.perf_counter(), time.process_time()
        for e in events:
            await bus.publish(e)
        delivered = 0
        while delivered < expected:
            for s in sinks.values():
                msgs = await s.get(100_000, timeout=0.01)
                delivered += len(msgs)
                await s.ack(*msgs)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        while bus.stats()["events"].get("acked", 0) < n:  # noqa: ASYNC110 - the bridge's acks
            await asyncio.sleep(0.001)
        wall_acked, cpu_acked = time.perf_counter() - t0, time.process_time() - c0
    stored = store.count()
    # paced: publish -> target topic receipt, at paced_rate (producers publish what is due
    # every ~0.5 ms: bursts of ~5 events at 10,000/s)
    bus = MemoryBus(capacity=1_000_000)
    targets = {name: BusTarget(name, bus) for name in NAMES}
    sink = await bus.subscribe("sink", topic="target.dashboard")
    sent: dict[str, float] = {}
    lat: list[float] = []
    bridge = TelemetryBridge(bus, store, targets=targets, metrics_interval=None, poll_timeout=0.05)

    async def consume() -> None:
        while len(lat) < paced_n:
            msgs = await sink.get(1000, timeout=0.5)
            now = time.perf_counter()
            lat.extend(now - sent[m.event.event_id] for m in msgs)
            await sink.ack(*msgs)

    paced = [ev.qa5_validation(status="passed", i=i) for i in range(paced_n)]
    freeze_inputs()
    async with bridge:
        task = asyncio.create_task(consume())
        start = time.perf_counter()
        i = 0
        while i < paced_n:
            due = min(paced_n, int((time.perf_counter() - start) * paced_rate) + 1)
            while i < due:
                e = paced[i]
                sent[e.event_id] = time.perf_counter()
                await bus.publish(e)
                i += 1
            await asyncio.sleep(0.0005)
        await asyncio.wait_for(task, 30)
        bridge_p99 = bridge.metrics_snapshot()["targets"]["dashboard"]["p99_ms"]
    store.close()
    gc.unfreeze()
    return {
        "rate": n / wall,
        "cpu_rate": n / cpu,
        "rate_acked": n / wall_acked,
        "cpu_rate_acked": n / cpu_acked,
        "stored": stored,
        "n": n,
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "bridge_p99": float(bridge_p99 or 0),
    }


# --- 3: websocket fan-out -------------------------------------------------------------------

# A light subscriber (the point is the gateway, not a client library): one raw websocket per
# client, frames parsed by hand, the send time read out of each frame's payload.
CLIENTS = r"""
import asyncio, base64, os, sys, time
LAST = [0.0]
async def one(port, path, expect, lat, up):
    r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = await r.readuntil(b"\r\n\r\n")
    assert b" 101 " in head, head
    up()
    buf, got = b"", 0
    while got < expect:
        chunk = await r.read(1 << 20)
        if not chunk:
            break
        now = time.time()
        buf += chunk
        i, n = 0, len(buf)
        while n - i >= 2:
            ln, h = buf[i + 1] & 0x7F, 2
            if ln == 126:
                ln, h = int.from_bytes(buf[i + 2:i + 4], "big"), 4
            elif ln == 127:
                ln, h = int.from_bytes(buf[i + 2:i + 10], "big"), 10
            if n - i < h + ln:
                break
            if buf[i] & 0x0F == 1:
                j = buf.find(b'"sent":', i + h) + 7
                lat.append(now - float(buf[j:buf.find(b",", j)]))
                got += 1
                LAST[0] = max(LAST[0], now)
            i += h + ln
        buf = buf[i:]
    w.close()
async def main(port, path, n_clients, expect):
    lat = []
    ready = [0]
    def up():
        ready[0] += 1
        if ready[0] == n_clients:
            print("up", flush=True)
    await asyncio.gather(*(one(port, path, expect, lat, up) for _ in range(n_clients)))
    import json
    sys.stdout.write(json.dumps({"lat": lat, "last": LAST[0]}) + "\n")
    sys.stdout.flush()
asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


async def ws_fanout(
    rate: float, seconds: float, n_clients: int = 50, n_procs: int = 5
) -> dict[str, float]:
    from ctas7_panel.streams.gateway import DEFAULT_PORTS, DIOXUS, Gateway, GatewayConfig

    bus = MemoryBus(capacity=1_000_000)
    cfg = GatewayConfig(ports=dict.fromkeys(DEFAULT_PORTS, 0), ping_interval=None)
    n = int(rate * seconds)
    async with Gateway(None, bus, config=cfg) as gw:
        procs = []
        for k in range(n_procs):
            share = n_clients // n_procs + (k < n_clients % n_procs)
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CLIENTS,
                str(gw.ports[DIOXUS]),
                DIOXUS,
                str(share),
                str(n),
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 26,
            )
            procs.append(proc)
        for proc in procs:
            assert proc.stdout is not None
            await proc.stdout.readline()
        await asyncio.sleep(0.3)
        pad = "x" * 160
        start, c0, wall0 = time.perf_counter(), time.process_time(), time.time()
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            e = Event.create("tick", {"sent": time.time(), "i": i, "pad": pad}, source_node="bench")
            await bus.publish(e, topic="target.dashboard")
        size = len(e.to_json())
        cpu = time.process_time() - c0
        lat: list[float] = []
        last = 0.0
        for proc in procs:
            assert proc.stdout is not None
            out = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
            lat.extend(out["lat"])
            last = max(last, out["last"])
        for proc in procs:
            await proc.wait()
    return {
        "rate": len(lat) / (last - wall0),  # first publish to last receipt
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "size": size,
        "deliveries": len(lat),
        "expected": n * n_clients,
        "server_cpu_us": cpu / max(1, len(lat)) * 1e6,
    }


# --- 4: Redis Streams with 2 workers ----------------------------------------------------------


class CpuMeter:
    """CPU seconds used by this process, the given worker processes and redis-server."""

    def __init__(self, pids: list[int], redis: Any) -> None:
        import psutil

        self.procs = [psutil.Process(pid) for pid in pids]
        self.redis = redis

    async def read(self) -> dict[str, float]:
        info = await self.redis.info("cpu")
        workers = 0.0
        for p in self.procs:
            t = p.cpu_times()
            workers += t.user + t.system
        return {
            "bench": time.process_time(),
            "workers": workers,
            "redis": float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        }

    @staticmethod
    def per_event(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
        return {k: (after[k] - before[k]) / n * 1e6 for k in before}


async def redis_e2e(url: str, n: int, paced_rate: float, paced_n: int) -> dict[str, Any]:
    from ctas7_panel.streams.redis_bus import RedisStreamsBus

    tmp = tempfile.mkdtemp()
    env = {**os.environ, "CTAS7_BUS_URL": url, "CTAS7_LOG_LEVEL": "WARNING"}
    async with RedisStreamsBus(url) as bus:
        await bus.redis.flushdb()
        sink = await bus.subscribe("sink", topic="target.dashboard")
        workers = []
        for i in range(2):
            w_env = {**env, "CTAS7_STORE_URL": f"sqlite:///{tmp}/w{i}.db"}
            p = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ctas7_panel",
                "bridge",
                "--no-gateway",
                "--consumer",
                f"bench{i}",
                "--metrics-interval",
                "0",
                env=w_env,
                stdout=asyncio.subprocess.PIPE,
            )
            assert p.stdout is not None
            await p.stdout.readline()
            workers.append(p)
        meter = CpuMeter([p.pid for p in workers], bus.redis)
        try:
            events = [
                ev.schema_nochange(current_hash="h", schema_path="s", table_count=i)
                for i in range(n)
            ]
            freeze_inputs()
            c0 = await meter.read()
            t0 = time.perf_counter()
            for k in range(0, n, 500):
                await bus.publish_many(events[k : k + 500])
            got = 0
            while got < n:
                msgs = await sink.get(5000, timeout=1)
                got += len(msgs)
                await sink.ack(*msgs)
            rate = n / (time.perf_counter() - t0)
            cpu = CpuMeter.per_event(c0, await meter.read(), n)
            while (await bus.redis.xpending(bus.key("events"), "bridge"))["pending"]:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            rate_acked = n / (time.perf_counter() - t0)
            sent: dict[str, float] = {}
            lat: list[float] = []

            async def consume() -> None:
                while len(lat) < paced_n:
                    msgs = await sink.get(5000, timeout=1)
                    now = time.perf_counter()
                    lat.extend(now - sent[m.event.event_id] for m in msgs)
                    await sink.ack(*msgs)

            task = asyncio.create_task(consume())
            paced = [
                ev.schema_nochange(current_hash="p", schema_path="s", table_count=i)
                for i in range(paced_n)
            ]
            freeze_inputs()
            start = time.perf_counter()
            batch = 5  # producers send what is due every ~1 ms
            for k in range(0, paced_n, batch):
                due = start + k / paced_rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = paced[k : k + batch]
                now = time.perf_counter()
                for e in chunk:
                    sent[e.event_id] = now
                await bus.publish_many(chunk)
            await asyncio.wait_for(task, 60)
        finally:
            for p in workers:
                p.send_signal(signal.SIGTERM)
            for p in workers:
                await p.wait()
            gc.unfreeze()
        await bus.redis.flushdb()
    return {
        "rate": rate,
        "rate_acked": rate_acked,
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "cpu_us": cpu,
    }


# --- 5: outage ----------------------------------------------------------------------------


async def outage(seconds: float) -> tuple[float, int, int]:
    from websockets.asyncio.server import ServerConnection, serve

    applied: set[str] = set()
    dups = 0

    async def handle(conn: ServerConnection) -> None:
        nonlocal dups
        async for frame in conn:
            eid = orjson.loads(frame)["event_id"]
            dups += eid in applied
            applied.add(eid)
            await conn.send(orjson.dumps({"ack": eid}).decode())

    server = await serve(handle, "127.0.0.1", 0)
    port = next(iter(server.sockets)).getsockname()[1]
    tmp = tempfile.mkdtemp()
    store = open_store(f"sqlite:///{tmp}/events.db")
    bus = MemoryBus(capacity=1_000_000)
    targets = {
        "legion": WebSocketTarget(
            "legion", f"ws://127.0.0.1:{port}/", ack_timeout=1, open_timeout=0.5
        ),
        "dashboard": BusTarget("dashboard", bus),
        "neural_mux": BusTarget("neural_mux", bus),
    }
    retry = RetryPolicy(max_attempts=10_000, max_delay=2.0, max_elapsed=seconds + 60)
    sent: list[str] = []
    async with TelemetryBridge(
        bus, store, targets=targets, retry=retry, metrics_interval=None
    ) as b:

        async def produce(duration: float) -> None:
            end = time.perf_counter() + duration
            while time.perf_counter() < end:
                e = ev.task_executed(
                    task_id="t", name="n", status="ok", duration_ms=random.random()
                )
                sent.append(e.event_id)
                await bus.publish(e)
                await asyncio.sleep(0.01)

        await produce(1.0)
        server.close()
        await server.wait_closed()
        await produce(seconds)
        server = await serve(handle, "127.0.0.1", port)
        await produce(1.0)
        deadline = time.perf_counter() + 60
        while len(applied) < len(sent) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        rate = b.metrics_snapshot()["targets"]["legion"]["success_rate"]
    server.close()
    store.close()
    return float(rate or 0) * (len(applied & set(sent)) / len(sent)), len(sent), dups


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--redis", default=os.environ.get("CTAS7_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    )
    ap.add_argument("--outage", type=float, default=30.0, help="seconds the target is down")
    ap.add_argument("--skip", default="", help="comma list of: ws, redis, outage")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    tune_gc()  # as `ctas7 bridge` does
    print(
        f"ctas7 bridge benchmark ({os.cpu_count()} cores, python {sys.version.split()[0]}, "
        f"load average {load_average()})"
    )
    fan = await anchor_queue_fanout()
    print(
        f"anchors: asyncio queue fan-out (3 queues) {fan:,.0f} events/s measured here "
        "(brief: ~150,000); websockets broadcast ~100,000 msg/s to 50 clients; "
        "redis-py ~45,000 msg/s through a consumer group (brief)"
    )

    print(f"\n1-2. in-process routing (load average {load_average()})")
    core = routing_core(sample_events(100_000))
    row(
        "routing core (resolve+transform)",
        f"{core:,.0f} ev/s",
        ">= 50,000 ev/s",
        "",
        f"{core / fan:.2f}x queue anchor",
    )
    r = await in_process(100_000, 10_000, 20_000)
    row(
        "pipeline: bus->bridge->3 bus targets+store",
        f"{r['rate']:,.0f} ev/s",
        ">= 50,000 ev/s",
        "",
        f"{r['rate'] / fan:.2f}x queue anchor",
    )
    row(
        "  same, per CPU-second (one core, all of it)",
        f"{r['cpu_rate']:,.0f} ev/s",
        ">= 50,000 ev/s",
        "",
        f"(stored {r['stored']:,} of {r['n']:,})",
    )
    row(
        "  to the last ack (after the store commit)",
        f"{r['rate_acked']:,.0f} ev/s",
        "",
        "",
        f"{r['cpu_rate_acked']:,.0f} ev per CPU-s",
    )
    row("p99 publish->target at 10,000 ev/s", f"{r['p99']:.2f} ms", "<= 1 ms", "seed < 25 ms")
    row("  p50", f"{r['p50']:.2f} ms", "", "")
    row(
        "p99 bus receipt->delivered (bridge metric)",
        f"{r['bridge_p99']:.2f} ms",
        "<= 1 ms",
        "seed < 25 ms",
    )

    if "ws" not in skip:
        print(
            "\n3. websocket fan-out, 50 subscribers (light clients in 5 processes; "
            f"load average {load_average()})"
        )
        w = await ws_fanout(1000, 5.0)
        row(
            f"deliveries/s ({w['size']}-byte events at 1,000/s)",
            f"{w['rate']:,.0f} /s",
            ">= 50,000 /s",
            "",
            f"{w['rate'] / 100_000:.2f}x ws anchor",
        )
        row(
            "  delivered of expected",
            f"{w['deliveries']:,}/{w['expected']:,}",
            "all",
            "",
            f"gateway CPU {w['server_cpu_us']:.1f} us/delivery",
        )
        row("p99 publish->client", f"{w['p99']:.2f} ms", "<= 50 ms", "seed UI < 100 ms")
        row("  p50", f"{w['p50']:.2f} ms", "", "")

    if "redis" not in skip:
        print(
            f"\n4. Redis Streams end to end, 2 ctas7 bridge workers (load average {load_average()})"
        )
        x = await redis_e2e(args.redis, 40_000, 5000, 15_000)
        row(
            "throughput (XADD -> target.dashboard)",
            f"{x['rate']:,.0f} ev/s",
            ">= 20,000 ev/s",
            "",
            f"{x['rate'] / 45_000:.2f}x redis anchor",
        )
        row("  to the last ack (after the store commit)", f"{x['rate_acked']:,.0f} ev/s", "")
        cpu = x["cpu_us"]
        row(
            "  CPU per event: workers / redis / bench",
            f"{cpu['workers']:.0f}/{cpu['redis']:.0f}/{cpu['bench']:.0f} us",
            "",
            "",
            f"(workers alone: {1e6 / max(cpu['workers'], 1e-9):,.0f} ev per CPU-s)",
        )
        row("p99 at 5,000 ev/s", f"{x['p99']:.2f} ms", "<= 20 ms", "seed < 25 ms")
        row("  p50", f"{x['p50']:.2f} ms", "", "")

    if "outage" not in skip:
        print(
            f"\n5. target down for {args.outage:.0f} s with 100 ev/s flowing "
            f"(load average {load_average()})"
        )
        rate, n, dups = await outage(args.outage)
        row(f"success rate ({n} events)", f"{rate * 100:.2f} %", "100 %", "seed >= 99.5 %")
        row(
            "redeliveries reaching the target",
            f"{dups}",
            "",
            "",
            "(de-duplicated there by event_id: none applied twice)",
        )


if __name__ == "__main__":
    asyncio.run(main())
