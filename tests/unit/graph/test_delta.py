"""The graph delta (pure): applying the delta of two graphs to the first gives the second; the
mirror's delta plan writes what comparing whole graphs writes; the hand-over file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctas7_panel.errors import SchemaError
from ctas7_panel.graph import delta as gd
from ctas7_panel.graph.impact import graph_changes
from ctas7_panel.graph.mirror import MirrorState, plan_delta, plan_sync
from ctas7_panel.graph.model import (
    OBJECT,
    ROW,
    Edge,
    Graph,
    Node,
    NodeId,
    dedupe_edges,
    sort_edges,
)

# a small universe, so that two drawn graphs share most of their nodes and edges; relations of
# one name under two kinds share a record id in the mirror (a table that became a view)
POOL: tuple[NodeId, ...] = (
    NodeId("schema", "", "public"),
    NodeId("table", "public", "t"),
    NodeId("view", "public", "t"),
    NodeId("view", "public", "v"),
    NodeId("column", "public", "t", "a"),
    NodeId("column", "public", "t", "b"),
    NodeId("column", "public", "v", "a"),
    NodeId("function", "public", "f", "x integer"),
    NodeId("type", "public", "mood"),
    NodeId("foreign_key", "public", "t", "t_b_fkey"),
    NodeId("trigger", "public", "t", "touch"),
    NodeId("legion_task", "", "scan"),
    NodeId("types_file", "", "types.ts"),
)
SIGS = st.sampled_from(["", "s1", "s2"])
ATTRS = st.sampled_from([(), (("position", 1),), (("uses", [["public.t", ["a"]]]),)])


@st.composite
def graphs(draw: Any) -> Graph:
    ids = draw(st.lists(st.sampled_from(POOL), unique=True))
    if POOL[1] in ids and POOL[2] in ids:  # one relation has one kind
        ids.remove(POOL[draw(st.sampled_from([1, 2]))])
    nodes = {nid: Node(nid, draw(ATTRS), draw(SIGS)) for nid in ids}
    edges: list[Edge] = []
    if len(ids) >= 2:
        pairs = st.tuples(st.sampled_from(ids), st.sampled_from(ids))
        for dep, ref in draw(st.lists(pairs, max_size=12)):
            edges.append(Edge(dep, ref, draw(st.booleans()), draw(st.sampled_from([OBJECT, ROW]))))
    fp = draw(st.sampled_from([None, "h1", "h2", "h3"]))
    return Graph(nodes, dedupe_edges(edges), fp)


def same(a: Graph, b: Graph) -> bool:
    return dict(a.nodes) == dict(b.nodes) and a.edges == b.edges and a.fingerprint == b.fingerprint


@settings(max_examples=300, deadline=None)
@given(graphs(), graphs())
def test_applying_the_delta_gives_the_new_graph(old: Graph, new: Graph) -> None:
    delta = gd.graph_delta(old, new)
    assert same(gd.apply_delta(old, delta), new)
    assert gd.changes_of(old, delta) == graph_changes(old, new)
    assert delta.empty == (dict(old.nodes) == dict(new.nodes) and old.edges == new.edges)
    # the hand-over form: JSON and back, unchanged
    again = gd.GraphDelta.from_dict(orjson.loads(orjson.dumps(delta.to_dict())))
    assert again == delta
    assert gd.graph_delta(new, new).empty


@settings(max_examples=300, deadline=None)
@given(graphs(), graphs(), graphs())
def test_the_delta_plan_writes_what_comparing_whole_graphs_writes(
    first: Graph, old: Graph, new: Graph
) -> None:
    # the mirror has seen `first` then `old` (so it holds tombstones), and now gets `new`
    s1 = plan_sync(MirrorState(), first, at=1.0).next_state
    state = plan_sync(s1, old, at=2.0).next_state
    whole = plan_sync(state, new, at=3.0, generation=7)
    by_delta = plan_delta(state, gd.graph_delta(old, new), new, at=3.0, generation=7)
    assert by_delta.next_state == whole.next_state
    counts = ("added", "removed", "changed", "edges_added", "edges_removed", "new_version")
    assert {c: getattr(by_delta, c) for c in counts} == {c: getattr(whole, c) for c in counts}
    assert by_delta.text.startswith("BEGIN TRANSACTION;") and by_delta.text.endswith(
        "COMMIT TRANSACTION;"
    )


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_edges_sort_by_key_as_by_their_dataclass_order(g: Graph) -> None:
    shuffled = [*reversed(g.edges), Edge(POOL[1], POOL[2], True, ROW)]
    assert sort_edges(shuffled) == tuple(sorted(shuffled))
    assert all(hash(n) == hash(NodeId(*n.to_list())) for n in g.nodes)


def test_a_delta_applies_only_to_the_graph_it_starts_from() -> None:
    t, a = POOL[1], POOL[4]
    old = Graph({t: Node(t), a: Node(a, (), "s1")}, (Edge(a, t, False),), "h1")
    new = Graph({t: Node(t), a: Node(a, (), "s2")}, (), "h2")
    delta = gd.graph_delta(old, new)
    assert delta.changed == (Node(a, (), "s2"),) and delta.edges_removed == old.edges
    with pytest.raises(gd.DeltaMismatch, match="starts from another schema version"):
        gd.apply_delta(Graph(old.nodes, old.edges, "h0"), delta)
    with pytest.raises(
        gd.DeltaMismatch, match=re.escape("changes column public.t.a, which is not there")
    ):
        gd.apply_delta(Graph({t: Node(t)}, (), "h1"), delta)
    with pytest.raises(
        gd.DeltaMismatch, match=re.escape("removes the edge public.t.a -> public.t")
    ):
        gd.apply_delta(Graph(old.nodes, (), "h1"), delta)
    adds = gd.GraphDelta("h2", "h3", edges_added=(Edge(a, POOL[5]),))
    with pytest.raises(gd.DeltaMismatch, match=re.escape("adds an edge public.t.a -> public.t.b")):
        gd.apply_delta(new, adds)
    keeps = gd.GraphDelta("h1", "h2", removed=(t,))
    with pytest.raises(gd.DeltaMismatch, match="removes a node but keeps the edge"):
        gd.apply_delta(old, keeps)
    assert same(gd.apply_delta(Graph(old.nodes, old.edges, "h0"), delta, strict=False), new)


def test_hand_over_files(tmp_path: Path) -> None:
    cache = tmp_path / ".last_schema_hash"
    t = POOL[1]
    deltas = [gd.GraphDelta(f"h{i}", f"h{i + 1}", added=(Node(t, (), f"s{i}"),)) for i in range(5)]
    for d in deltas:
        gd.write_delta(cache, d, keep=3)
    files = sorted(p.name for p in gd.deltas_dir(cache).iterdir())
    assert files == ["h3.json", "h4.json", "h5.json"]  # the newest kept
    assert gd.read_delta(cache, "h4", "h5") == deltas[4]
    assert gd.read_delta(cache, "h3", "h5") is None  # another start: not this one
    assert gd.read_delta(cache, "h0", "h1") is None  # pruned
    (gd.deltas_dir(cache) / "h4.json").write_bytes(b'{"format": 99}')
    assert gd.read_delta(cache, "h3", "h4") is None  # unreadable: ignored, logged
    with pytest.raises(SchemaError, match="format 99"):
        gd.GraphDelta.from_dict({"format": 99})
    with pytest.raises(SchemaError, match="cannot name a delta file"):
        gd.delta_path(cache, "../x")
