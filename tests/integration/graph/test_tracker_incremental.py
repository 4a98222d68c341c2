"""The impact tracker after each DDL of a scripted sequence (views, foreign keys, functions,
policies, triggers, renames, drops) on a real PostgreSQL: its graph, from the incremental join
of the catalog rows (``facts.FactsJoin``), equals a graph built from scratch, and the
incremental path was taken."""

from __future__ import annotations

from pathlib import Path

from ctas7_panel import pgtools
from ctas7_panel.graph.build import build_graph
from ctas7_panel.graph.facts import read_facts
from ctas7_panel.graph.model import Edge, NodeId
from ctas7_panel.graph.tracker import ImpactTracker
from ctas7_panel.schema.introspect import introspect
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

STEPS = [
    "create table public.gt_a (id int primary key, label text, n int)",
    "create table public.gt_b (id int primary key, a_id int references public.gt_a (id))",
    "create view public.gt_v as select id, label from public.gt_a",
    "create view public.gt_vv as select label from public.gt_v",
    "create function public.gt_f(k int) returns text language sql stable"
    " begin atomic select label from public.gt_a where id = k; end",
    "create function public.gt_touch() returns trigger language plpgsql"
    " as $$ begin return new; end $$",
    # a trigger alone leaves the snapshot (and so the fingerprint) as it was: the tracker reads
    # the facts again only for a new fingerprint, so a column comes with it
    "create trigger gt_t before update of label on public.gt_a"
    " for each row execute function public.gt_touch();"
    " alter table public.gt_a add column m int",
    "alter table public.gt_a enable row level security;"
    " create policy gt_p on public.gt_a using (n > 0);"
    " alter table public.gt_a add column p int",
    "alter table public.gt_a rename column label to title",  # same objects, new names
    "alter table public.gt_b rename to gt_b2",
    "alter function public.gt_f(int) rename to gt_g",
    "alter table public.gt_b2 drop constraint gt_b_a_id_fkey;"
    " alter table public.gt_b2 add constraint gt_fk foreign key (a_id) references public.gt_a",
    "drop view public.gt_v cascade",
    "drop policy gt_p on public.gt_a; drop trigger gt_t on public.gt_a;"
    " alter table public.gt_a drop column m",
    "alter table public.gt_a alter column n type bigint",
    "drop table public.gt_b2, public.gt_a cascade",
    "alter table public.tasks drop column status cascade",
]


def test_each_ddl_gives_the_from_scratch_graph_incrementally(core_db: str, tmp_path: Path) -> None:
    types = (str(tmp_path / "types.ts"),)
    tracker = ImpactTracker(types_files=types, hash_cache_path=tmp_path / ".hash")
    previous = None
    seen = {}
    with pgtools.connect(core_db) as conn:
        for step, ddl in enumerate([None, *STEPS]):
            if ddl is not None:
                pgtools.apply_sql(core_db, ddl)
            snapshot = to_snapshot(introspect(conn, TypegenOptions()))
            fp = fingerprint(snapshot)
            graph = tracker.observe(conn, snapshot, fp)
            scratch = build_graph(
                snapshot, read_facts(conn, ["public"]), types_files=types, fingerprint=fp
            )
            assert graph == scratch, ddl
            assert graph != previous, ddl  # each step changes the graph
            previous = graph
            seen[step] = graph
            if step == 0:
                first = tracker.join.nodes_built  # every object in a dependency, once
            assert tracker.join.joins == step + 1
            assert tracker.join.patched == step  # every pass after the first: incremental
    trigger = NodeId("trigger", "public", "gt_a", "gt_t")
    policy = NodeId("policy", "public", "gt_a", "gt_p")
    assert trigger in seen[7].nodes and policy in seen[8].nodes
    assert Edge(trigger, NodeId("function", "public", "gt_touch", "")) in seen[8].edges
    assert trigger not in seen[14].nodes and policy not in seen[14].nodes
    a_title = NodeId("column", "public", "gt_a", "title")
    # after the first join only the objects whose catalog row changed were built again
    assert first > 40
    assert tracker.join.nodes_built - first < 6 * len(STEPS) < first * len(STEPS)
    assert a_title not in graph.nodes  # the last steps dropped it
    assert NodeId("view", "public", "open_tasks") not in graph.nodes
    assert not any(e.referenced.name == "gt_a" for e in graph.edges if isinstance(e, Edge))
