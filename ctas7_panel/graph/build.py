"""Build the ``Graph`` of one schema state (pure): snapshot + pg_depend facts + tasks + types files.

- From the canonical snapshot (``ctas7_panel.schema.to_snapshot()``; a file is read with
  ``schema.snapshot_file``, which unwraps the sync node's record): schema, relation and column
  nodes; functions; enum, composite and domain types; partitions (edge partition -> parent).
- From the facts (``facts.read_facts``): every dependency ``pg_depend`` records: views and
  materialized views on columns and types, functions (argument and return types, and the
  columns their SQL-standard bodies use), policies, triggers (table, columns, function),
  foreign keys (their own columns: non-breaking, dropped along; the referenced columns:
  breaking), sequences owned by columns and column defaults using sequences, generated columns,
  columns of enum/composite/domain types. An edge whose relation or column is not in the
  snapshot (an object outside the included schemas, or a DDL that landed between the two
  reads) is left out; objects only the facts know (triggers, policies, sequences...) become
  nodes.
- Legion tasks: one node per task, edges to each table it uses and each column it names
  (breaking: the task's query fails without them).
- Types files: one node per file, edges to every relation (row scope: a column change
  changes the file), function and type of the snapshot (not breaking: it is regenerated).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from ctas7_panel.graph.facts import DependencyFacts
from ctas7_panel.graph.model import (
    OBJECT,
    RELATION_KINDS,
    ROW,
    Edge,
    Graph,
    Node,
    NodeId,
    column_id,
    dedupe_edges,
)
from ctas7_panel.graph.tasks import TaskUse

_COLUMN_SIG = ("type", "nullable", "default", "identity", "generated", "collation")
_FUNCTION_SIG = (
    "arguments",
    "result",
    "returns_set",
    "language",
    "volatility",
    "security_definer",
    "definition_md5",
)


def _sig(*values: Any) -> str:
    return hashlib.sha1(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def build_graph(
    snapshot: Mapping[str, Any],
    facts: DependencyFacts | None = None,
    *,
    tasks: Iterable[TaskUse] = (),
    types_files: Sequence[str] = (),
    fingerprint: str | None = None,
) -> Graph:
    """The graph of one schema state (``fingerprint``: the snapshot's, when known)."""
    snap = snapshot
    nodes: dict[NodeId, Node] = {}
    edges: list[Edge] = []
    for s in snap.get("schemas", []):
        nid = NodeId("schema", "", str(s["name"]))
        nodes[nid] = Node(nid)
    fk_defs: dict[NodeId, str] = {}
    for rel in snap.get("relations", []):
        _add_relation(rel, nodes, edges, fk_defs)
    for fn in snap.get("functions", []):
        nid = NodeId("function", fn["schema"], fn["name"], fn.get("identity_arguments", ""))
        attrs = (("returns", fn.get("returns")), ("language", fn.get("language")))
        nodes[nid] = Node(nid, attrs, _sig(*(fn.get(k) for k in _FUNCTION_SIG)))
    for key, type_kind, sig_keys in (
        ("enums", "enum", ("labels",)),
        ("composites", "composite", ("attributes",)),
        ("domains", "domain", ("base_type", "not_null", "default", "checks")),
    ):
        for t in snap.get(key, []):
            nid = NodeId("type", t["schema"], t["name"])
            nodes[nid] = Node(nid, (("type_kind", type_kind),), _sig(*(t.get(k) for k in sig_keys)))
    if facts is not None:
        for e in facts.edges:
            if _known(e.dependent, nodes) and _known(e.referenced, nodes):
                for end in (e.dependent, e.referenced):
                    if end not in nodes:
                        sig = fk_defs.get(end, "") if end.kind == "foreign_key" else ""
                        nodes[end] = Node(end, (), sig)
                edges.append(e)
    covered = [n for n in nodes if n.kind in RELATION_KINDS or n.kind in ("function", "type")]
    for path in types_files:
        tf = NodeId("types_file", "", str(path))
        nodes[tf] = Node(tf, (("path", str(path)),))
        for target in covered:
            scope = ROW if target.kind in RELATION_KINDS else OBJECT
            edges.append(Edge(tf, target, breaking=False, scope=scope))
    by_name = {(n.schema, n.name): n for n in nodes if n.kind in RELATION_KINDS}
    for task in tasks:
        _add_task(task, by_name, nodes, edges)
    edges = [e for e in edges if e.dependent in nodes and e.referenced in nodes]
    return Graph(nodes, dedupe_edges(edges), fingerprint)


def _known(nid: NodeId, nodes: Mapping[NodeId, Node]) -> bool:
    """Relations and columns must come from the snapshot; the rest may come from the facts."""
    if nid.kind in RELATION_KINDS or nid.kind == "column":
        return nid in nodes
    return True


def _add_relation(
    rel: Mapping[str, Any],
    nodes: dict[NodeId, Node],
    edges: list[Edge],
    fk_defs: dict[NodeId, str],
) -> None:
    key = orjson.dumps(rel, option=orjson.OPT_SORT_KEYS)
    parts = _RELATION_PARTS.get(key)
    if parts is None:
        parts = _relation_parts(rel)
        if len(_RELATION_PARTS) >= _RELATION_PARTS_MAX:
            _RELATION_PARTS.clear()
        _RELATION_PARTS[key] = parts
    rel_nodes, rel_edges, rel_fks = parts
    for node in rel_nodes:
        nodes[node.id] = node
    edges.extend(rel_edges)
    fk_defs.update(rel_fks)


# A relation's nodes by its snapshot entry: between two versions nearly every relation is the
# same, and its nodes (the sigs of its columns above all) cost most of a build. Pure: the
# same entry always gives the same nodes; bounded, emptied when full.
_RelationParts = tuple[tuple[Node, ...], tuple[Edge, ...], tuple[tuple[NodeId, str], ...]]
_RELATION_PARTS: dict[bytes, _RelationParts] = {}
_RELATION_PARTS_MAX = 20_000


def _relation_parts(rel: Mapping[str, Any]) -> _RelationParts:
    schema, name, kind = str(rel["schema"]), str(rel["name"]), str(rel.get("kind", "table"))
    nid = NodeId(kind, schema, name)
    nodes = [
        Node(
            nid,
            (("kind", kind),),
            _sig(
                kind,
                rel.get("view_definition"),
                rel.get("partition_of"),
                rel.get("partition_bound"),
            ),
        )
    ]
    for position, col in enumerate(rel.get("columns", []), start=1):
        cid = column_id(schema, name, str(col["name"]))
        attrs = (
            ("position", position),
            ("type", col.get("type")),
            ("nullable", bool(col.get("nullable", True))),
        )
        nodes.append(Node(cid, attrs, _sig(*(col.get(k) for k in _COLUMN_SIG))))
    fks = tuple(
        (NodeId("foreign_key", schema, name, str(con["name"])), _sig(con.get("definition")))
        for con in rel.get("constraints", [])
        if con.get("kind") == "f"
    )
    edges: tuple[Edge, ...] = ()
    parent = rel.get("partition_of")
    if isinstance(parent, str) and "." in parent:
        p_schema, _, p_name = parent.partition(".")
        # the parent's kind is not known yet: resolved by name once every relation is in
        edges = (Edge(nid, NodeId("partitioned_table", p_schema, p_name), False, OBJECT),)
    return tuple(nodes), edges, fks


def _add_task(
    task: TaskUse,
    by_name: Mapping[tuple[str, str], NodeId],
    nodes: dict[NodeId, Node],
    edges: list[Edge],
) -> None:
    tid = NodeId("legion_task", "", task.name)
    uses = [[u.table, list(u.columns)] for u in task.uses]
    nodes[tid] = Node(tid, (("uses", uses),), _sig(uses))
    for use in task.uses:
        rel = by_name.get(use.schema_and_name)
        if rel is None:
            continue  # the task uses a table that is not there: it is broken already
        edges.append(Edge(tid, rel, breaking=True, scope=OBJECT))
        for col in use.columns:
            cid = column_id(rel.schema, rel.name, col)
            if cid in nodes:
                edges.append(Edge(tid, cid, breaking=True, scope=OBJECT))
