"""Schema Sync Node: no-change pass, full regeneration, DDL-to-event latency, leader handover.

Goals (issue 4): a no-change sync in-process <= 30 ms on ctas7_core and <= 300 ms on big_1000;
the seed's "schema hash calculation < 50 ms" and "TypeScript generation < 2000 ms"; DDL-to-event
latency with the event trigger p95 <= 200 ms (20 runs); a standby watcher takes over within one
poll interval of the leader's stop (``tests/integration/sync/test_leader.py`` checks that it
does, this measures how soon). On big_1000 also a pass after one DDL (the node's incremental
introspection against a whole-catalog read, issue 18's DDL -> mirror latency). Needs a
PostgreSQL admin URL
(``CTAS7_TEST_DATABASE_URL``, else ``--admin-url``); each schema gets a throwaway database.

``big_1000`` is the typegen speed case (1000 tables, 12,450 columns, 100 views, 100 functions):
pass its SQL with ``--big-sql``; by default the first of ``tests/fixtures/**/big_1000.sql`` and
``/work/shared/typegen/schemas/big_1000.sql`` that exists is used, else the case is skipped.

    .venv/bin/python benchmarks/sync.py [--runs 50] [--latency-runs 20] [--handovers 5]
                                        [--big-sql FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import BIG_CANDIDATES, load_sql, pct, verdict

from ctas7_panel import pgtools
from ctas7_panel.events import Event
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.schema import trigger
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig


def bench_passes(
    label: str, url: str, runs: int, goal_ms: float, work: Path, ddl_table: str | None = None
) -> None:
    from ctas7_panel.schema.inspection import builtin_inspector

    config = SyncConfig(
        db_url=url,
        schema_path=str(work / f"{label}.ts"),
        hash_cache_path=str(work / f".{label}_hash"),
    )
    node = SchemaSyncNode(config)
    t = time.perf_counter()
    first = node.run_pass_blocking("bench")
    full_ms = (time.perf_counter() - t) * 1000
    assert isinstance(first, Event) and first.event_type == "schema_updated", first
    node.run_pass_blocking("bench")  # warm
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = node.run_pass_blocking("bench")
        times.append((time.perf_counter() - t) * 1000)
        assert isinstance(result, Event) and result.event_type == "schema_nochange", result

    # the seed's "schema hash": fingerprint of the introspected schema (no typegen, no files)
    conn = pgtools.connect(url)
    hash_times = []
    render_times = []
    for i in range(max(5, runs // 5)):
        t = time.perf_counter()
        seen = builtin_inspector(conn, None)
        hash_times.append((time.perf_counter() - t) * 1000)
        if i < 3:
            t = time.perf_counter()
            seen.render()
            render_times.append((time.perf_counter() - t) * 1000)
    conn.close()
    node._drop_connection()

    p50, p95 = pct(times, 0.5), pct(times, 0.95)
    tables = first.payload["table_count"]
    print(f"{label} ({tables} tables)")
    print(
        f"  no-change sync   p50 {p50:8.1f} ms  p95 {p95:8.1f} ms   goal <= {goal_ms:g} ms: "
        f"{verdict(p50, goal_ms)}"
    )
    h50 = pct(hash_times, 0.5)
    print(
        f"  schema hash      p50 {h50:8.1f} ms (from scratch)    seed < 50 ms: {verdict(h50, 50)}"
    )
    r50 = pct(render_times, 0.5)
    print(
        f"  typegen (render) p50 {r50:8.1f} ms                   seed < 2000 ms: "
        f"{verdict(r50, 2000)}"
    )
    print(f"  first sync (introspect + typegen + 3 atomic writes): {full_ms:8.1f} ms")
    if ddl_table is not None:
        bench_ddl_passes(label, url, max(10, runs // 2), work, ddl_table)


def bench_ddl_passes(label: str, url: str, runs: int, work: Path, table: str) -> None:
    """A pass after one DDL (a column added to ``table``): the node's default incremental
    inspector against the whole-catalog one, and the introspection alone of each."""
    import functools

    from ctas7_panel.schema.inspection import IncrementalInspector, builtin_inspector

    ddl = pgtools.connect(url)
    step = iter(range(10**6))

    def alter() -> None:
        ddl.execute(f"ALTER TABLE {table} ADD COLUMN bench_{next(step)} int".encode())

    figures: dict[str, list[float]] = {}
    for kind in ("incremental", "whole catalog"):
        inspector = None if kind == "incremental" else functools.partial(builtin_inspector)
        config = SyncConfig(
            db_url=url,
            schema_path=str(work / f"{label}_ddl_{kind[0]}.ts"),
            hash_cache_path=str(work / f".{label}_ddl_{kind[0]}_hash"),
        )
        node = SchemaSyncNode(config, inspector=inspector)
        node.run_pass_blocking("bench")
        times = []
        for _ in range(runs):
            alter()
            t = time.perf_counter()
            result = node.run_pass_blocking("bench")
            times.append((time.perf_counter() - t) * 1000)
            assert isinstance(result, Event) and result.event_type == "schema_updated", result
        if kind == "incremental":
            assert node.introspections.get("partial") == runs, node.introspections
        node._drop_connection()
        figures[f"DDL pass ({kind})"] = times

    conn = pgtools.connect(url)
    incremental = IncrementalInspector()
    incremental(conn, None)
    for kind in ("incremental", "whole catalog"):
        times = []
        for _ in range(runs):
            alter()
            t = time.perf_counter()
            seen = (
                incremental(conn, None) if kind == "incremental" else builtin_inspector(conn, None)
            )
            times.append((time.perf_counter() - t) * 1000)
            assert kind != "incremental" or seen.read_kind == "partial", seen.read_kind
        figures[f"  introspection ({kind})"] = times
    conn.close()
    ddl.close()
    print(f"  after one DDL (ADD COLUMN on {table}; {runs} runs each):")
    for name, times in figures.items():
        print(f"  {name:32s} p50 {pct(times, 0.5):8.1f} ms  p95 {pct(times, 0.95):8.1f} ms")


async def bench_latency(url: str, runs: int, work: Path) -> None:
    trigger.install(url)
    got: asyncio.Queue[tuple[float, Event]] = asyncio.Queue()

    def on_event(event: Event) -> None:
        got.put_nowait((time.perf_counter(), event))

    config = SyncConfig(
        db_url=url,
        schema_path=str(work / "latency.ts"),
        hash_cache_path=str(work / ".latency_hash"),
        poll_interval=3600,  # only NOTIFY can deliver within the run
    )
    stop = asyncio.Event()
    async with SchemaSyncNode(config, on_event=on_event) as node:
        task = asyncio.create_task(node.watch(stop))
        while True:
            _, e = await asyncio.wait_for(got.get(), 30)
            if e.payload.get("trigger") == "connect":
                break
        conn = await asyncio.to_thread(pgtools.connect, url)
        latencies = []
        for i in range(runs):
            await asyncio.sleep(0.3)  # let the previous sync settle: one change per run
            t = time.perf_counter()
            await asyncio.to_thread(
                conn.execute, f"ALTER TABLE public.nodes ADD COLUMN lat_{i} int"
            )
            while True:
                at, e = await asyncio.wait_for(got.get(), 10)
                if e.event_type == "schema_updated":
                    break
            latencies.append((at - t) * 1000)
        conn.close()
        stop.set()
        await task
    p50, p95 = pct(latencies, 0.5), pct(latencies, 0.95)
    print(
        f"DDL -> schema_updated with the trigger ({runs} runs, debounce "
        f"{config.debounce * 1000:g} ms)"
    )
    print(
        f"  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  max {max(latencies):6.1f} ms   "
        f"goal p95 <= 200 ms: {verdict(p95, 200)}"
    )
    print(
        f"  mean {statistics.fmean(latencies):6.1f} ms (of which debounce quiet time "
        f"{config.debounce * 1000:g} ms)"
    )


async def _state(queue: asyncio.Queue[tuple[float, Event]], want: str) -> float:
    """When (perf_counter) the watcher reported ``want``."""
    while True:
        at, e = await asyncio.wait_for(queue.get(), 30)
        if e.event_type == "schema_watcher" and e.payload["state"] == want:
            return at


async def _one_handover(url: str, work: Path, poll: float) -> tuple[float, float]:
    """(stop -> b active, a's connection closed -> b active), ms."""
    got: dict[str, asyncio.Queue[tuple[float, Event]]] = {
        "a": asyncio.Queue(),
        "b": asyncio.Queue(),
    }

    def recorder(name: str) -> Callable[[Event], None]:
        return lambda e: got[name].put_nowait((time.perf_counter(), e))

    nodes = {
        name: SchemaSyncNode(
            SyncConfig(
                db_url=url,
                schema_path=str(work / f"handover_{name}.ts"),
                hash_cache_path=str(work / f".handover_{name}_hash"),
                poll_interval=poll,
            ),
            on_event=recorder(name),
        )
        for name in got
    }
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    async with nodes["a"] as a, nodes["b"] as b:
        task_a = asyncio.create_task(a.watch(stop_a))
        await _state(got["a"], "active")
        task_b = asyncio.create_task(b.watch(stop_b))
        await _state(got["b"], "standby")
        await asyncio.sleep(poll * 1.5)  # the stop falls anywhere in b's poll interval
        t = time.perf_counter()
        stop_a.set()
        active = await _state(got["b"], "active")
        await task_a
        released = await _state(got["a"], "stopped")  # emitted after its connection closed
        stop_b.set()
        await task_b
    return (active - t) * 1000, (active - released) * 1000


async def bench_handover(url: str, runs: int, work: Path, poll: float = 0.4) -> None:
    """Two watchers, the leader stopped: time from its stop to the standby's ``active``."""
    runs_ms = [await _one_handover(url, work, poll) for _ in range(runs)]
    stops, releases = [r[0] for r in runs_ms], [r[1] for r in runs_ms]
    goal = poll * 1000
    print(f"leader handover, in process ({runs} runs, poll interval {goal:g} ms)")
    print(
        f"  lock released -> standby active  p50 {pct(releases, 0.5):6.1f} ms  "
        f"max {max(releases):6.1f} ms   goal <= one poll interval: {verdict(max(releases), goal)}"
    )
    print(
        f"  stop asked -> standby active     p50 {pct(stops, 0.5):6.1f} ms  "
        f"max {max(stops):6.1f} ms   (+ the leader's stop: up to a 250 ms wait on its socket)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("CTAS7_TEST_DATABASE_URL"))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--handovers", type=int, default=5)
    parser.add_argument("--big-sql", type=Path)
    args = parser.parse_args()
    if not args.admin_url:
        print("set CTAS7_TEST_DATABASE_URL or pass --admin-url", file=sys.stderr)
        return 2
    big = args.big_sql or next((p for p in BIG_CANDIDATES if p.exists()), None)
    with tempfile.TemporaryDirectory(prefix="ctas7-bench-sync-") as tmp:
        work = Path(tmp)
        with pgtools.temporary_database(args.admin_url) as url:
            apply_migrations(url)
            bench_passes("ctas7_core", url, args.runs, 30, work)
            asyncio.run(bench_latency(url, args.latency_runs, work))
            asyncio.run(bench_handover(url, args.handovers, work))
        if big is None:
            print("big_1000: skipped (no SQL found; pass --big-sql)")
        else:
            with pgtools.temporary_database(args.admin_url) as url:
                load_sql(url, big)
                bench_passes("big_1000", url, max(5, args.runs // 5), 300, work, "public.tbl_0500")
    return 0


if __name__ == "__main__":
    sys.exit(main())
