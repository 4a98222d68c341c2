"""The impact a schema_updated carries, from a real Schema Sync Node: computed on the previous
version's graph (a dropped view's dependency is known), and 'partial' after a restart."""

from __future__ import annotations

from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.graph import delta as gd
from ctas7_panel.graph.model import NodeId
from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig


def config(url: str, home: Path) -> SyncConfig:
    return SyncConfig(
        db_url=url,
        schema_path=str(home / "types.ts"),
        hash_cache_path=str(home / ".last_schema_hash"),
        watch_artifacts=False,
    )


async def test_impact_uses_the_graph_from_before_the_change(core_db: str, tmp_path: Path) -> None:
    cfg = config(core_db, tmp_path)
    async with SchemaSyncNode(cfg) as node:
        await node.sync()
        nochange = await node.sync()
        assert nochange.event_type == "schema_nochange" and "impact" not in nochange.payload
        assert not gd.deltas_dir(cfg.hash_cache_path).exists()  # nothing changed yet
        before = node._impact.graph
        pgtools.apply_sql(core_db, "alter table public.tasks drop column status cascade")
        event = await node.sync()
        after = node._impact.graph
    # the graph delta is left for the bridge's graph target, and turns one graph into the other
    old_hash, new_hash = nochange.payload["new_hash"], event.payload["new_hash"]
    delta = gd.read_delta(cfg.hash_cache_path, old_hash, new_hash)
    assert delta is not None and before is not None and after is not None
    assert gd.apply_delta(before, delta) == after
    assert NodeId("view", "public", "open_tasks") in delta.removed
    impact = event.payload["impact"]
    assert impact["basis"] == "catalog"
    assert impact["from_hash"] == nochange.payload["new_hash"]
    assert impact["to_hash"] == event.payload["new_hash"]
    changes = {(c["kind"], c["name"], c["change"]) for c in impact["changes"]}
    assert ("column", "public.tasks.status", "removed") in changes
    assert ("view", "public.open_tasks", "removed") in changes  # the cascade took it
    names = {(d["kind"], d["name"]) for d in impact["dependents"]}
    assert ("types_file", str(tmp_path / "types.ts")) in names
    assert "public.tasks.status" in impact["columns"]


async def test_after_a_restart_the_impact_is_partial(core_db: str, tmp_path: Path) -> None:
    async with SchemaSyncNode(config(core_db, tmp_path)) as node:
        await node.sync()
    pgtools.apply_sql(core_db, "alter table public.nodes drop column labels")
    async with SchemaSyncNode(config(core_db, tmp_path)) as node:  # a new process
        event = await node.sync()
    assert event.event_type == "schema_updated"
    impact = event.payload["impact"]
    assert impact["basis"] == "partial"
    # the old graph was rebuilt with the new facts: no delta is handed over from it
    assert not gd.deltas_dir(tmp_path / ".last_schema_hash").exists()
    assert {"kind": "column", "name": "public.nodes.labels", "change": "removed"} in impact[
        "changes"
    ]
