"""The pure core of the schema graph: building, the impact walk, targets, summaries, SurrealQL
literals. Hand-made snapshots and facts: no database (the integration tests use real ones)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from ctas7_panel.errors import ArtifactError, UsageError
from ctas7_panel.graph import impact as im
from ctas7_panel.graph.build import build_graph
from ctas7_panel.graph.facts import DependencyFacts, FactsJoin, join_facts
from ctas7_panel.graph.model import Edge, NodeId, quote_ident
from ctas7_panel.graph.surql import edge_rid, lit, rid
from ctas7_panel.graph.tasks import (
    TableUse,
    TaskUse,
    decode_manifest,
    encode_manifest,
    task_uses,
)

T = NodeId("table", "public", "t")
V = NodeId("view", "public", "v")
V2 = NodeId("view", "public", "v2")
C = NodeId("column", "public", "t", "c")
D = NodeId("column", "public", "t", "d")
OC = NodeId("column", "public", "o", "t_c")
FN = NodeId("function", "public", "f", "x integer")
FK = NodeId("foreign_key", "public", "o", "o_t_c_fkey")
TRG = NodeId("trigger", "public", "t", "touch")
SEQ = NodeId("sequence", "public", "t_d_seq")
ENUM = NodeId("type", "public", "mood")


def rel(schema: str, name: str, kind: str, *cols: str) -> dict[str, Any]:
    return {
        "schema": schema,
        "name": name,
        "kind": kind,
        "columns": [{"name": c, "type": "integer", "nullable": True} for c in cols],
        "constraints": [],
    }


SNAPSHOT: dict[str, Any] = {
    "format": 1,
    "schemas": [{"name": "public", "comment": None}],
    "relations": [
        rel("public", "t", "table", "c", "d", "e"),
        rel("public", "o", "table", "id", "t_c"),
        rel("public", "v", "view", "c"),
        rel("public", "v2", "view", "c"),
    ],
    "functions": [{"schema": "public", "name": "f", "identity_arguments": "x integer"}],
    "enums": [{"schema": "public", "name": "mood", "labels": ["a"]}],
    "composites": [],
    "domains": [],
}
FACTS = DependencyFacts(
    ("public",),
    (
        Edge(V, C, True),  # view on t.c
        Edge(V2, NodeId("column", "public", "v", "c"), True),  # view on the view's column
        Edge(FN, C, True),  # SQL-standard body uses t.c
        Edge(FK, OC, False),  # the key's own column: dropped along
        Edge(FK, C, True),  # the referenced column: needs CASCADE
        Edge(TRG, T, False),  # a trigger on t
        Edge(TRG, D, True),  # ... UPDATE OF d
        Edge(SEQ, D, False),  # owned by t.d
        Edge(NodeId("column", "public", "t", "e"), ENUM, True),
    ),
)
TASKS = (
    TaskUse("recent", (TableUse("public.t", ("c",)),)),
    TaskUse("count_t", (TableUse("public.t"),)),
    TaskUse("gone", (TableUse("public.nowhere", ("x",)),)),
)


def graph(**kw: Any) -> Any:
    return build_graph(
        SNAPSHOT, FACTS, tasks=TASKS, types_files=["types.ts"], fingerprint="ab" * 32, **kw
    )


def by_node(impact: im.Impact) -> dict[NodeId, im.Dependent]:
    return {d.node: d for d in impact.dependents}


def test_dropping_a_column_lists_view_function_fk_and_task_with_hops() -> None:
    result = im.impact_of(graph(), "public.t.c")
    deps = by_node(result)
    task = NodeId("legion_task", "", "recent")
    types = NodeId("types_file", "", "types.ts")
    assert {V, FN, FK, task, types, V2} == set(deps)
    assert all(deps[n].hop == 1 for n in (V, FN, FK, task, types))
    assert deps[V2].hop == 2 and deps[V2].via == (V,)
    assert {n for n, d in deps.items() if d.breaking} == {V, V2, FN, FK, task}
    assert not deps[types].breaking  # regenerated, not broken
    assert NodeId("legion_task", "", "count_t") not in deps  # uses the table, not the column


def test_dropping_a_table_keeps_what_hangs_on_it_non_breaking() -> None:
    deps = by_node(im.impact_of(graph(), "t"))
    assert deps[TRG].hop == 1 and not deps[TRG].breaking  # goes with the table
    assert deps[SEQ].hop == 1 and not deps[SEQ].breaking
    assert deps[FK].breaking  # on another table: needs CASCADE
    assert deps[NodeId("legion_task", "", "count_t")].breaking
    assert not any(n.kind == "column" and n.name == "t" for n in deps)  # its own columns


def test_a_type_reaches_the_columns_using_it_then_their_relation_row() -> None:
    deps = by_node(im.impact_of(graph(), "mood"))
    e = NodeId("column", "public", "t", "e")
    assert deps[e].hop == 1 and deps[e].breaking
    types = NodeId("types_file", "", "types.ts")
    assert deps[types].hop == 1  # the types file covers the enum itself


def test_max_hops_caps_and_says_so() -> None:
    result = im.impact_of(graph(), "public.t.c", max_hops=1)
    assert result.capped and V2 not in by_node(result)
    assert "(stopped at 1 hops: more lies beyond)" in im.render(result)
    with pytest.raises(UsageError, match="at least 1"):
        im.impact_of(graph(), "t", max_hops=0)


def test_render_is_stable_text() -> None:
    text = im.render(im.impact_of(graph(), "t.c"))
    lines = text.splitlines()
    assert lines[0] == f"impact of dropping or changing t.c (column; schema {'ab' * 6})"
    assert lines[1] == "6 dependents, 5 breaking"
    assert lines[2] == "hop 1"
    assert lines[-2] == "hop 2"
    assert lines[-1].split() == ["view", "public.v2", "BREAKING", "via", "public.v"]
    assert text == im.render(im.impact_of(graph(), "t.c"))  # deterministic


def test_targets_resolve_with_quotes_and_fail_clearly() -> None:
    assert im.split_name('public."My.Table".Col') == ["public", "My.Table", "col"]
    assert im.split_name('"a""b"') == ['a"b']
    g = graph()
    assert im.resolve_target(g, "t.c") == (C,)
    assert im.resolve_target(g, "f") == (FN,)
    assert im.resolve_target(g, "public.f(x integer)") == (FN,)
    with pytest.raises(UsageError, match=r"not in the schema .*did you mean public\.t\.c"):
        im.resolve_target(g, "public.t.cc")
    with pytest.raises(UsageError, match="unbalanced double quote"):
        im.resolve_target(g, '"t')
    with pytest.raises(UsageError, match="empty name"):
        im.resolve_target(g, "public..t")
    with pytest.raises(UsageError, match="4 dotted parts"):
        im.resolve_target(g, "a.b.c.d")


def test_graph_changes_and_migration_impact() -> None:
    old = graph()
    snap = orjson.loads(orjson.dumps(SNAPSHOT))
    snap["relations"][0]["columns"] = [
        c for c in snap["relations"][0]["columns"] if c["name"] != "c"
    ]
    snap["relations"][1]["columns"].append({"name": "new", "type": "text"})
    snap["relations"][1]["columns"][0]["type"] = "bigint"
    new = build_graph(snap, None, fingerprint="cd" * 32)
    changes = {(c.node, c.change) for c in im.graph_changes(old, new)}
    assert (C, "removed") in changes
    assert (NodeId("column", "public", "o", "new"), "added") in changes
    assert (NodeId("column", "public", "o", "id"), "changed") in changes
    result = im.impact_of_changes(
        old, im.graph_changes(old, new), target="migration m.sql", to_fingerprint=new.fingerprint
    )
    assert V in by_node(result)
    text = im.render(result)
    assert text.startswith(f"impact of migration m.sql (schema {'ab' * 6} -> {'cd' * 6})\n")
    assert "  - column public.t.c\n" in text and "  + column public.o.new\n" in text


def test_summary_for_events_names_relations_and_columns() -> None:
    s = im.summary(im.impact_of(graph(), "t.c"), limit=2)
    assert s["total"] == 6 and s["breaking"] == 5 and s["truncated"]
    assert len(s["dependents"]) == 2
    assert "public.t" in s["relations"] and "public.v" in s["relations"]
    assert "public.t.c" in s["columns"]
    assert orjson.loads(orjson.dumps(s)) == s
    assert "6 dependents" in im.summary_text(s)


def test_facts_join_drops_unresolved_rows_and_self_loops() -> None:
    nodes = [
        (1259, 10, 0, "view", "public", "v", "", "object"),
        (2618, 11, 0, "view", "public", "v", "", "object"),  # the view's rule: the view
        (1259, 12, 3, "column", "public", "t", "c", "object"),
        (1247, 13, 0, "table", "public", "t", "", "row"),  # t's row type
    ]
    rows = [
        (2618, 11, 0, 1259, 12, 3, True),
        (2618, 11, 0, 1259, 10, 0, False),  # rule -> its own view: a self loop
        (2618, 11, 0, 1259, 99, 0, True),  # an index: unresolved
        (1259, 10, 0, 1247, 13, 0, True),
    ]
    edges = join_facts(rows, nodes)
    assert edges == (
        Edge(V, C, True, "object"),
        Edge(V, T, True, "row"),
    )


def test_task_manifest_round_trip_and_errors() -> None:
    class Dep:
        def __init__(self, table: str, columns: tuple[str, ...]) -> None:
            self.table, self.columns = table, frozenset(columns)

    tasks = task_uses({"a": [Dep("tasks", ("id",)), Dep("public.tasks", ("name",))]})
    assert tasks == (TaskUse("a", (TableUse("public.tasks", ("id", "name")),)),)
    assert decode_manifest(encode_manifest(tasks)) == tasks
    with pytest.raises(ArtifactError, match="not a Legion task manifest"):
        decode_manifest(b'{"format": "x"}')
    with pytest.raises(ArtifactError, match="not valid JSON"):
        decode_manifest(b"{")
    with pytest.raises(ArtifactError, match="'table' string"):
        decode_manifest(b'{"format": "ctas7-legion-tasks/1", "tasks": {"a": [{"t": 1}]}}')


def test_surql_literals_and_record_ids() -> None:
    assert lit(None) == "NONE"
    assert lit({"a": [1, True, 'x"y']}) == '{"a":[1,true,"x\\"y"]}'
    assert lit({"r": rid(C), "n": None}) == '{"r": pg_column:["public","t","c"], "n":null}'
    assert str(rid(C)) == 'pg_column:["public","t","c"]'
    assert str(rid(V)) == str(rid(NodeId("table", "public", "v")))  # one table for relations
    assert str(rid(NodeId("legion_task", "", 'a"]; DELETE x; --'))).startswith("legion_task:[")
    assert str(edge_rid(V, C, "object")).startswith('depends_on:[["pg_relation","public","v"]')
    with pytest.raises(TypeError):
        lit(object())


def test_display_quotes_identifiers_that_need_it() -> None:
    assert quote_ident("plain_1") == "plain_1"
    assert quote_ident("Mixed") == '"Mixed"'
    assert quote_ident('a"b') == '"a""b"'
    assert NodeId("trigger", "public", "My T", "x").display == 'x on public."My T"'


def test_the_incremental_join_equals_the_join_from_scratch() -> None:
    """``FactsJoin`` over a random sequence of catalog states (objects added, dropped, renamed;
    dependencies added, dropped, made breaking or not) gives ``join_facts``'s edges each time."""
    rng = random.Random(7)
    kinds = [("table", ""), ("column", "c"), ("view", ""), ("function", "int"), ("trigger", "t")]
    nodes = {
        (1259, oid, 0): (kinds[oid % 5][0], "public", f"o{oid}", kinds[oid % 5][1], "object")
        for oid in range(1, 60)
    }
    rows = {(1259, rng.randrange(1, 70), 0, 1259, rng.randrange(1, 70), 0) for _ in range(150)}
    breaking = {r: rng.random() < 0.5 for r in rows}
    join = FactsJoin()
    for step in range(40):
        node_rows = [(*k, *v) for k, v in nodes.items()]
        dep_rows = [(*r, breaking[r]) for r in rows] + [(*r, True) for r in list(rows)[:3]]
        rng.shuffle(node_rows)
        assert join(dep_rows, node_rows) == join_facts(dep_rows, node_rows), step
        for _ in range(rng.randrange(0, 4)):  # rename, drop, create objects
            oid = rng.randrange(1, 70)
            if oid in {k[1] for k in nodes} and rng.random() < 0.5:
                del nodes[(1259, oid, 0)]
            else:
                kind, sub = kinds[rng.randrange(5)]
                nodes[(1259, oid, 0)] = (kind, "public", f"o{oid}_{step}", sub, "row")
        for _ in range(rng.randrange(0, 6)):  # dependencies come, go, change type
            r = (1259, rng.randrange(1, 70), 0, 1259, rng.randrange(1, 70), 0)
            if r in rows and rng.random() < 0.5:
                rows.discard(r)
            else:
                rows.add(r)
                breaking[r] = rng.random() < 0.5
    assert join.joins == 40 and join.patched == 39
    assert join.nodes_built < 59 + 40 * 4  # unchanged objects are not built again
