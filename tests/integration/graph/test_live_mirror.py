"""The live loop on real parts: DDL on the watched database -> Schema Sync Node (LISTEN) ->
schema_updated with its impact -> bridge -> graph target -> the embedded SurrealDB mirror, with
the new schema_version linked to its diff; then Legion's reload and a task run on the new hash
appear as lineage. On big_1000 the DDL reaches the mirror by the sync node's graph delta alone,
and the mirror then holds exactly the graph a full read gives. Latencies are printed here and
measured in benchmarks/graph.py (not asserted: a shared machine)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.routes import DEFAULT_TABLE
from ctas7_panel.bridge.targets import build_targets
from ctas7_panel.events import Event
from ctas7_panel.graph import delta as gd
from ctas7_panel.graph import impact as im
from ctas7_panel.graph.live import GraphInputs, read_graph
from ctas7_panel.graph.mirror import edge_key
from ctas7_panel.graph.model import Graph, NodeId
from ctas7_panel.graph.remote import RemoteGraph
from ctas7_panel.graph.store import GraphStore
from ctas7_panel.graph.surql import node_key
from ctas7_panel.graph.target import GRAPH, GraphTarget, register_graph, with_graph_routes
from ctas7_panel.legion import LegionExecutionEngine, Query, Task
from ctas7_panel.schema import trigger
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
from ctas7_panel.settings import Settings
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus


async def until(pred: Callable[[], object], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # noqa: ASYNC110 - polling state owned by other components
            await asyncio.sleep(0.01)


def test_registration_only_with_ctas_db_url(tmp_path: Path) -> None:
    targets: dict[str, object] = {}
    assert register_graph(Settings(), targets, DEFAULT_TABLE, database_url=None) is DEFAULT_TABLE
    assert targets == {}
    s = Settings(graph_url=f"surrealkv://{tmp_path / 'g'}")
    routes = register_graph(s, targets, DEFAULT_TABLE, database_url="postgresql://x/y")
    assert isinstance(targets[GRAPH], GraphTarget)
    for event_type in ("schema_updated", "legion_schema_telemetry", "task_executed"):
        assert GRAPH in routes.resolve(event_type).targets
        assert set(DEFAULT_TABLE.resolve(event_type).targets) < set(
            routes.resolve(event_type).targets
        )
    assert GRAPH not in routes.resolve("schema_nochange").targets
    assert with_graph_routes(routes) is routes  # idempotent


async def test_ddl_reaches_the_mirror_with_its_version_linked_to_the_diff(
    core_db: str, tmp_path: Path
) -> None:
    home = tmp_path / "ctas7"
    store_url = f"surrealkv://{tmp_path / 'mirror'}"
    settings = Settings(
        graph_url=store_url,
        hash_cache_path=str(home / ".last_schema_hash"),
        schema_path=str(home / "types.ts"),
    )
    config = SyncConfig.from_settings(settings, core_db, poll_interval=30.0)
    trigger.install(core_db)
    events = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    stop = asyncio.Event()
    async with MemoryBus() as bus:
        targets = build_targets(settings, bus)
        routes = register_graph(settings, targets, DEFAULT_TABLE, database_url=core_db)
        graph_target = targets[GRAPH]
        assert isinstance(graph_target, GraphTarget)
        bridge = TelemetryBridge(bus, events, targets=targets, routes=routes, metrics_interval=None)
        node = SchemaSyncNode(config, bus=bus)
        legion = LegionExecutionEngine(
            database_url=core_db, bus=bus, settings=settings, watch=False
        )
        async with bridge, node:
            watcher = asyncio.create_task(node.watch(stop))
            try:
                await until(lambda: graph_target.versions >= 1)  # the first sync is mirrored
                async with legion:
                    store: GraphStore = graph_target.store
                    first = await store.current_hash()
                    versions = graph_target.versions
                    t0 = time.perf_counter()
                    ddl = "alter table public.nodes add column zone_0 text"
                    await asyncio.to_thread(pgtools.apply_sql, core_db, ddl)
                    await until(lambda: graph_target.versions > versions)
                    print(f"DDL -> mirror: {time.perf_counter() - t0:.3f} s")
                    assert graph_target.from_deltas == 1  # the sync node's delta, not a re-read
                    new = await store.current_hash()
                    assert new and new != first
                    version_id = f'schema_version:["{new}"]'
                    (version,) = await store.query(
                        f"SELECT previous, impact, ->changed.{{change, display}} AS what "
                        f"FROM ONLY {version_id}"
                    )
                    assert version["previous"] is not None
                    assert {"change": "added", "display": "public.nodes.zone_0"} in version["what"]
                    assert version["impact"]["basis"] == "catalog"
                    (produced,) = await store.query(
                        f"SELECT VALUE in.event_type FROM produced WHERE out = {version_id}"
                    )
                    assert produced == ["schema_updated"]

                    # Legion reloads to the new hash and runs a task on it: lineage
                    await until(lambda: legion.get_schema_status()["current_hash"] == new)
                    result = await legion.execute(
                        Task("count_nodes", query=Query("nodes", op="count"))
                    )
                    assert result.ok and result.schema_hash == new

                    async def lineage() -> tuple[list[str], int]:
                        reloads, runs = await store.query(
                            "SELECT VALUE ->led_to->event.event_type FROM event "
                            f"WHERE event_type = 'schema_updated' AND new_hash = '{new}';"
                            f"SELECT VALUE count FROM ran_on WHERE out = {version_id};"
                        )
                        flat = [t for r in reloads for t in r]
                        return flat, sum(runs)

                    async with asyncio.timeout(15):
                        while await lineage() != (["legion_schema_telemetry"], 1):  # noqa: ASYNC110
                            await asyncio.sleep(0.05)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher


@pytest.mark.slow  # a copy of big_1000 (1,000 tables), mirrored in full once
async def test_ddl_on_big_1000_reaches_the_mirror_by_its_delta(
    big_copy: str, tmp_path: Path
) -> None:
    home = tmp_path / "ctas7"
    settings = Settings(
        graph_url=f"surrealkv://{tmp_path / 'mirror'}",
        hash_cache_path=str(home / ".last_schema_hash"),
        schema_path=str(home / "types.ts"),
    )
    trigger.install(big_copy)
    stop = asyncio.Event()
    async with MemoryBus() as bus:
        targets = build_targets(settings, bus)
        routes = register_graph(settings, targets, DEFAULT_TABLE, database_url=big_copy)
        target = targets[GRAPH]
        assert isinstance(target, GraphTarget)
        events = open_store(f"sqlite:///{tmp_path / 'events.db'}")
        bridge = TelemetryBridge(bus, events, targets=targets, routes=routes, metrics_interval=None)
        config = SyncConfig.from_settings(settings, big_copy, poll_interval=60)
        node = SchemaSyncNode(config, bus=bus)
        async with bridge, node:
            watcher = asyncio.create_task(node.watch(stop))
            try:
                await until(lambda: target.versions >= 1, timeout=300)  # the first: read whole
                assert target.from_deltas == 0
                store: GraphStore = target.store
                first = await store.current_hash()
                t0 = time.perf_counter()
                await asyncio.to_thread(
                    pgtools.apply_sql,
                    big_copy,
                    "alter table public.tbl_0500 add column ref_0074 bigint "
                    "constraint tbl_0500_ref_0074_fkey references public.tbl_0074 (id)",
                )
                await until(lambda: target.versions >= 2, timeout=120)
                print(f"DDL -> mirror on big_1000: {time.perf_counter() - t0:.3f} s")
                assert target.from_deltas == 1  # written from the delta: nothing re-read
                new = await store.current_hash()
                assert new and new != first
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            # the mirror answers the new column and the new foreign key
            (column, fk_deps, version) = await store.query(
                "SELECT VALUE present FROM ONLY pg_column:['public', 'tbl_0500', 'ref_0074'];"
                "RETURN pg_column:['public', 'tbl_0074', 'id'].dependents.display;"
                f"SELECT previous, impact.basis AS basis, ->changed.{{change, display}} AS what "
                f"FROM ONLY schema_version:['{new}'];"
            )
            assert column is True
            assert "tbl_0500_ref_0074_fkey on public.tbl_0500" in fk_deps
            assert version["previous"] == first and version["basis"] == "catalog"
            what = {(w["change"], w["display"]) for w in version["what"]}
            assert {
                ("added", "public.tbl_0500.ref_0074"),
                ("added", "tbl_0500_ref_0074_fkey on public.tbl_0500"),
            } <= what
            (produced,) = await store.query(
                f"SELECT VALUE in.event_type FROM produced WHERE out = schema_version:['{new}']"
            )
            assert produced == ["schema_updated"]
            # ... and holds exactly the graph a full read of the database gives
            with pgtools.connect(big_copy) as conn:
                full, _ = read_graph(conn, GraphInputs.from_settings(settings))
            assert full.fingerprint == new
            held = await store.state()
            assert {k: s for k, (s, present) in held.nodes.items() if present} == {
                node_key(n): node.sig for n, node in full.nodes.items()
            }
            assert dict(held.edges) == {edge_key(e): e.breaking for e in full.edges}
            remote = RemoteGraph(store)
            for name in ("public.tbl_0074.id", "public.tbl_0500"):
                assert im.render(await remote.impact_of(name)) == im.render(
                    im.impact_of(full, name)
                )
    # a restart reopens the store with the data intact
    async with GraphStore(str(settings.graph_url)) as again:
        assert await again.current_hash() == new
        (present,) = await again.query(
            "SELECT VALUE present FROM ONLY pg_column:['public', 'tbl_0500', 'ref_0074']"
        )
        assert present is True


async def test_a_delta_that_does_not_apply_falls_back_to_reading_the_graph(
    core_db: str, tmp_path: Path
) -> None:
    inputs = GraphInputs(types_files=("types.ts",))

    def read_now() -> Graph:
        with pgtools.connect(core_db) as conn:
            return read_graph(conn, inputs)[0]

    first = read_now()
    pgtools.apply_sql(core_db, "alter table public.nodes add column zone text")
    second = read_now()
    pgtools.apply_sql(core_db, "alter table public.nodes add column zone_2 text")
    third = read_now()
    versions = {g.fingerprint: g for g in (first, second, third)}
    good = gd.graph_delta(first, second)
    # a delta computed on another copy of the graph: it removes a node this one lacks
    ghost = NodeId("view", "public", "ghost")
    bad = replace(good, removed=(*good.removed, ghost))
    handed: dict[str, gd.GraphDelta] = {}
    target = GraphTarget(
        GraphStore("mem://"),
        read_graph=lambda new: versions[new],  # the database's graph of the announced hash
        read_delta=lambda old, new: (
            d if (d := handed.get(new)) is not None and d.old_fingerprint == old else None
        ),
    )
    try:

        def updated(old: str | None, new: str | None) -> Event:
            assert new is not None
            return ev.schema_updated(
                new_hash=new, old_hash=old, schema_path="types.ts", table_count=1
            )

        await target.deliver(updated(None, first.fingerprint))  # the first: read whole
        assert (target.versions, target.from_deltas) == (1, 0)
        assert second.fingerprint is not None
        handed[second.fingerprint] = bad
        await target.deliver(updated(first.fingerprint, second.fingerprint))
        assert (target.versions, target.from_deltas) == (2, 0)  # read whole again
        assert target.store.graph == second
        (zone,) = await target.store.query(
            "SELECT VALUE present FROM ONLY pg_column:['public', 'nodes', 'zone']"
        )
        assert zone is True
        # the next version's delta starts from the graph mirrored last: applied, nothing read
        assert third.fingerprint is not None
        handed[third.fingerprint] = gd.graph_delta(second, third)
        await target.deliver(updated(second.fingerprint, third.fingerprint))
        assert (target.versions, target.from_deltas) == (3, 1)
        assert target.store.graph == third
    finally:
        await target.close()
