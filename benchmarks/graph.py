"""Schema graph and its SurrealDB mirror on big_1000 (issue 18).

Prints, each with ``os.getloadavg()``:

- build: introspection, ``pg_depend`` facts, ``build_graph`` (the three make a graph of
  1,100 relations, 12,450 columns, ~2,400 other nodes, ~6,000 edges), cold and again;
- mirror: a first full ``GraphStore.sync`` into an embedded ``surrealkv://`` store, a re-sync of
  the same graph (a no-op delta), and one DDL (add a column with a foreign key) mirrored
  incrementally: ``graph_delta`` of the two graphs, ``GraphStore.apply`` of that delta (what the
  graph target does with the sync node's delta), beside the old way for reference (the delta
  found by comparing the whole graph with the mirror's state, ``plan_sync``);
- impact: p50/p95 of ``impact_of`` in-process and through SurrealQL on the mirror
  (``RemoteGraph``, what ``--from-graph`` runs) over a mix of column, table and type targets,
  with a check that both print the same text;
- tracker: the impact tracker's part of a sync pass after a DDL (``ImpactTracker.observe``:
  ``pg_depend`` read, incremental join, build) beside the same from scratch (``read_facts``
  with ``join_facts`` and ``build_graph``), p50/p95 over ``--ddls`` DDLs, with a check that
  both give the same graph;
- DDL -> mirror: the latency from a committed DDL to the new ``schema_version`` in the mirror,
  through the real path (DDL trigger + LISTEN, sync node, bus, bridge, graph target) on the
  small ctas7_core schema and on big_1000, with the sync node's own pass time (introspection,
  types, diff, impact; its ``duration_ms``) and how many versions the target took from the sync
  node's delta. The issue's anchor is 1 s.

Needs a PostgreSQL admin URL: ``CTAS7_TEST_DATABASE_URL`` (throwaway databases are created
and dropped), else the embedded server.

    .venv/bin/python benchmarks/graph.py [--impacts 40] [--ddls 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BIG_CANDIDATES, ROOT, load_sql, pct, verdict

from ctas7_panel import pgtools
from ctas7_panel.graph import impact as im
from ctas7_panel.graph.live import GraphInputs

ANCHOR_S = 1.0
TARGETS = [
    "public.tbl_0074.id",
    "public.tbl_0089",
    "public.enum_25",
    "public.tbl_0500.id",
    "public.view_002",
    "public.tbl_0001.status_enum_25",
    "public.tbl_0900",
    "public.enum_07",
]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    url = os.environ.get("CTAS7_TEST_DATABASE_URL")
    if url:
        yield url
        return
    from ctas7_panel.embedded import EmbeddedPostgres

    with tempfile.TemporaryDirectory() as home:
        server = EmbeddedPostgres(Path(home) / "pg", database="postgres")
        server.start(migrate=False)
        try:
            yield server.admin_url
        finally:
            server.stop()


def build(url: str, label: str) -> Any:
    from ctas7_panel.graph.build import build_graph
    from ctas7_panel.graph.facts import read_facts
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    with pgtools.connect(url) as conn:
        catalog, t_intro = timed(lambda: introspect(conn, TypegenOptions()))
        snapshot = to_snapshot(catalog)
        facts, t_facts = timed(lambda: read_facts(conn, catalog.schema_names))
    graph, t_build = timed(
        lambda: build_graph(
            snapshot, facts, types_files=["types.ts"], fingerprint=fingerprint(snapshot)
        )
    )
    counts = graph.counts()
    print(
        f"build {label}: introspect {t_intro * 1000:.0f} ms, "
        f"pg_depend facts {t_facts * 1000:.0f} ms, "
        f"build_graph {t_build * 1000:.0f} ms: {sum(v for k, v in counts.items() if k != 'edges')} "
        f"nodes, {counts['edges']} edges  [{load()}]"
    )
    return graph


async def mirror_and_impacts(url: str, graph: Any, store_dir: Path, n: int) -> None:
    from ctas7_panel.graph.delta import graph_delta
    from ctas7_panel.graph.live import read_graph
    from ctas7_panel.graph.mirror import plan_sync
    from ctas7_panel.graph.remote import RemoteGraph
    from ctas7_panel.graph.store import GraphStore

    async with GraphStore(f"surrealkv://{store_dir}") as store:
        t0 = time.perf_counter()
        plan = await store.sync(graph)
        t_full = time.perf_counter() - t0
        print(
            f"mirror full sync {t_full:.2f} s (+{plan.added} nodes, +{plan.edges_added} edges)"
            f"  [{load()}]"
        )
        t0 = time.perf_counter()
        plan = await store.sync(graph)
        print(f"mirror re-sync, no change {(time.perf_counter() - t0) * 1000:.0f} ms  [{load()}]")
        t0 = time.perf_counter()
        await store.state()
        print(f"  (reading the whole state back {(time.perf_counter() - t0) * 1000:.0f} ms)")
        pgtools.apply_sql(
            url,
            "alter table public.tbl_0500 add column bench_ref bigint "
            "references public.tbl_0074 (id)",
        )
        with pgtools.connect(url) as conn:
            after, _ = read_graph(conn, GraphInputs((), ("types.ts",)))
        delta, t_delta = timed(lambda: graph_delta(graph, after))
        state = store.kept_state  # as it was before the DDL: for the reference plan
        assert state is not None
        t0 = time.perf_counter()
        plan = await store.apply(delta)
        t_apply = time.perf_counter() - t0
        assert plan is not None
        _, t_whole = timed(lambda: plan_sync(state, after, at=time.time()))
        print(
            f"mirror one DDL incrementally: graph_delta {t_delta * 1000:.0f} ms "
            f"({delta.size} nodes+edges), apply {t_apply * 1000:.0f} ms "
            f"(+{plan.added} ~{plan.changed} nodes, +{plan.edges_added} edges, new version "
            f"{plan.new_version}); comparing the whole graph instead: {t_whole * 1000:.0f} ms "
            f"of planning  [{load()}]"
        )
        here: list[float] = []
        there: list[float] = []
        remote = RemoteGraph(store)
        await remote.index()
        for i in range(n):
            target = TARGETS[i % len(TARGETS)]
            a, t_here = timed(lambda: im.impact_of(after, target))  # noqa: B023
            t0 = time.perf_counter()
            b = await remote.impact_of(target)
            there.append(time.perf_counter() - t0)
            here.append(t_here)
            if im.render(a) != im.render(b):
                raise SystemExit(f"MISMATCH for {target}")
        ms = 1000
        print(
            f"impact in-process p50 {pct(here, 0.5) * ms:.2f} ms p95 {pct(here, 0.95) * ms:.2f} ms;"
            f" from the mirror p50 {pct(there, 0.5) * ms:.1f} ms p95 {pct(there, 0.95) * ms:.1f} ms"
            f" ({n} queries, same text every time)  [{load()}]"
        )


async def ddl_to_mirror(url: str, tmp: Path, ddls: int, label: str) -> None:
    from ctas7_panel.bridge.bridge import TelemetryBridge
    from ctas7_panel.bridge.routes import DEFAULT_TABLE
    from ctas7_panel.bridge.targets import build_targets
    from ctas7_panel.graph.target import GRAPH, register_graph
    from ctas7_panel.schema import trigger
    from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
    from ctas7_panel.settings import Settings
    from ctas7_panel.store import open_store
    from ctas7_panel.streams.bus import MemoryBus

    settings = Settings(
        graph_url=f"surrealkv://{tmp / f'live-{label}'}",
        hash_cache_path=str(tmp / label / ".last_schema_hash"),
        schema_path=str(tmp / label / "types.ts"),
    )
    trigger.install(url)
    stop = asyncio.Event()
    async with MemoryBus() as bus:
        targets = build_targets(settings, bus)
        routes = register_graph(settings, targets, DEFAULT_TABLE, database_url=url)
        target: Any = targets[GRAPH]
        bridge = TelemetryBridge(
            bus, open_store(f"sqlite:///{tmp / f'{label}.db'}"), targets=targets, routes=routes,
            metrics_interval=None,
        )  # fmt: skip
        node = SchemaSyncNode(SyncConfig.from_settings(settings, url, poll_interval=60.0), bus=bus)
        async with bridge, node:
            watcher = asyncio.create_task(node.watch(stop))
            async with asyncio.timeout(300):
                while target.versions < 1:  # noqa: ASYNC110 - the first sync, mirrored
                    await asyncio.sleep(0.05)
            latencies, passes = [], []
            for i in range(ddls):
                versions = target.versions
                t0 = time.perf_counter()
                await asyncio.to_thread(
                    pgtools.apply_sql,
                    url,
                    f"alter table public.{label_table(label)} add column b{i} int",
                )
                async with asyncio.timeout(60):
                    while target.versions == versions:  # noqa: ASYNC110 - set by the target
                        await asyncio.sleep(0.002)
                latencies.append(time.perf_counter() - t0)
                updated = [e for e in node.emitted if e.event_type == "schema_updated"]
                passes.append(float(updated[-1].payload.get("duration_ms") or 0) / 1000)
            stop.set()
            await watcher
    med, worst = pct(latencies, 0.5), max(latencies)
    print(
        f"DDL -> mirror on {label}: p50 {med * 1000:.0f} ms, max {worst * 1000:.0f} ms "
        f"({ddls} DDLs, {target.from_deltas} from the sync node's delta; of which the sync "
        f"node's pass p50 {pct(passes, 0.5) * 1000:.0f} ms; anchor {ANCHOR_S:.0f} s: "
        f"{verdict(med, ANCHOR_S)})  [{load()}]"
    )


def tracker_passes(url: str, ddls: int) -> None:
    from ctas7_panel.graph.build import build_graph
    from ctas7_panel.graph.facts import read_facts
    from ctas7_panel.graph.tracker import ImpactTracker
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    with tempfile.TemporaryDirectory() as tmp, pgtools.connect(url) as conn:
        tracker = ImpactTracker(types_files=("types.ts",), hash_cache_path=Path(tmp) / ".h")
        incremental, scratch = [], []
        for i in range(ddls + 1):
            if i:
                pgtools.apply_sql(
                    url,
                    f"alter table public.tbl_{i + 100:04d} add column t{i} bigint"
                    f" references public.tbl_0074 (id)",
                )
            snapshot = to_snapshot(introspect(conn, TypegenOptions()))
            fp = fingerprint(snapshot)
            graph, t_inc = timed(lambda: tracker.observe(conn, snapshot, fp))  # noqa: B023
            whole, t_whole = timed(
                lambda: build_graph(
                    snapshot,  # noqa: B023
                    read_facts(conn, ["public"]),
                    types_files=("types.ts",),
                    fingerprint=fp,  # noqa: B023
                )
            )
            if graph != whole:
                raise SystemExit(f"MISMATCH: the tracker's graph after DDL {i}")
            if i:
                incremental.append(t_inc)
                scratch.append(t_whole)
    ms = 1000
    print(
        f"tracker per DDL (add a column with a foreign key): incremental p50"
        f" {pct(incremental, 0.5) * ms:.0f} ms p95 {pct(incremental, 0.95) * ms:.0f} ms;"
        f" from scratch p50 {pct(scratch, 0.5) * ms:.0f} ms p95 {pct(scratch, 0.95) * ms:.0f} ms"
        f" ({ddls} DDLs, {tracker.join.patched} joins patched, same graph every time)"
        f"  [{load()}]"
    )


def label_table(label: str) -> str:
    return "nodes" if label == "ctas7_core" else "tbl_0074"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impacts", type=int, default=40)
    parser.add_argument("--ddls", type=int, default=5)
    args = parser.parse_args()
    big = next((p for p in BIG_CANDIDATES if p.exists()), None)
    if big is None:
        raise SystemExit("big_1000.sql not found")
    core = ROOT / "tests/fixtures/typegen/schemas/ctas7_core.sql"
    print(f"benchmarks/graph.py on {os.cpu_count()} cores  [{load()}]")
    with admin_url() as admin, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with pgtools.temporary_database(admin) as url:
            load_sql(url, big)
            build(url, "cold")
            graph = build(url, "again (relations' nodes memoised, as in a live process)")
            asyncio.run(mirror_and_impacts(url, graph, tmp / "big", args.impacts))
            tracker_passes(url, args.ddls)
            asyncio.run(ddl_to_mirror(url, tmp, args.ddls, "big_1000"))
        with pgtools.temporary_database(admin) as url:
            load_sql(url, core)
            asyncio.run(ddl_to_mirror(url, tmp, args.ddls, "ctas7_core"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
