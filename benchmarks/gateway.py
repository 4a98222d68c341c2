"""Gateway ingress under malformed traffic: frames per second and the process's memory.

One client on ``/telemetry_bridge`` sends ``--bad`` malformed frames (eight kinds: not JSON,
wrong shapes, a bad timestamp, bytes that are not UTF-8) among ``--good`` valid events, one
frame at a time, waiting for each answer (ack or error), after a warm-up round of a fifth of
that. A MemoryBus, a TelemetryBridge with in-process targets and a SQLite store (every reject
kept) run in the same process. Prints the frame rate and RSS before and after the measured
round; goal: RSS growth under 25 MiB for 10,000 rejects (memory flat: a reject is answered,
counted and kept, never held). ``tests/integration/streams/test_gateway.py`` checks the
counts; this measures the cost.

    .venv/bin/python benchmarks/gateway.py [--bad 10000] [--good 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ctas7_panel.bridge.bridge import TelemetryBridge  # noqa: E402
from ctas7_panel.bridge.targets import BusTarget  # noqa: E402
from ctas7_panel.store import open_store  # noqa: E402
from ctas7_panel.streams.bus import MemoryBus  # noqa: E402
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig  # noqa: E402

GOAL_MIB = 25.0
VALID = orjson.dumps(
    {"event_type": "qa5_validation", "payload": {"status": "passed"}, "source_node": "qa5"}
)
BAD = [
    b"not json",
    b"[]",
    b'{"event_type": "x"}',
    b'{"event_type": 7, "payload": {}}',
    b'{"event_type": "schema_updated", "payload": {"status": 1}}',
    b'{"event_type": "x", "payload": {}, "extra": 1}',
    b'{"event_type": "x", "payload": {}, "timestamp": -1}',
    b"\xff\xfe",
]


async def run(n_bad: int, n_good: int, work: Path) -> None:
    proc = psutil.Process()
    bus = MemoryBus(capacity=10 * (n_bad + n_good))
    store = open_store(f"sqlite:///{work / 'events.db'}")
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    config = GatewayConfig(ports=dict.fromkeys(DEFAULT_PORTS, 0), ping_interval=None)
    try:
        async with (
            TelemetryBridge(bus, store, targets=targets, metrics_interval=None),
            Gateway(None, bus, store=store, config=config) as gw,
            connect(gw.url("telemetry_bridge")) as ws,
        ):

            async def round_(bad: int, good: int) -> float:
                every = (bad + good) // good
                t = time.perf_counter()
                for i in range(bad + good):
                    await ws.send(VALID if i % every == 0 else BAD[i % len(BAD)])
                    await ws.recv()
                return time.perf_counter() - t

            await round_(n_bad // 5, max(1, n_good // 5))  # warm up allocators and caches
            rss0 = proc.memory_info().rss
            seconds = await round_(n_bad, n_good)
            rss1 = proc.memory_info().rss
            kept_by = time.monotonic() + 60
            while gw.stats.rejects_kept < gw.stats.rejected and time.monotonic() < kept_by:  # noqa: ASYNC110 (polls the gateway's counters)
                await asyncio.sleep(0.05)
            rss2 = proc.memory_info().rss
            kept = gw.stats.rejects_kept
    finally:
        store.close()
    frames = n_bad + n_good
    growth = (max(rss1, rss2) - rss0) / 2**20
    print(f"ingress: {n_bad} malformed among {frames} frames, one at a time (answer awaited)")
    print(f"  {frames / seconds:,.0f} frames/s ({seconds:.2f} s); rejects kept {kept:,}")
    print(
        f"  RSS {rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB (after the round), "
        f"{rss2 / 2**20:.1f} MiB (rejects stored): growth {growth:+.1f} MiB, "
        f"goal < {GOAL_MIB:g} MiB (ratio {growth / GOAL_MIB:.2f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bad", type=int, default=10_000)
    parser.add_argument("--good", type=int, default=1000)
    args = parser.parse_args()
    print("load average {:.2f} {:.2f} {:.2f} (before)".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="ctas7-bench-gateway-") as tmp:
        asyncio.run(run(args.bad, args.good, Path(tmp)))
    print("load average {:.2f} {:.2f} {:.2f} (after)".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
