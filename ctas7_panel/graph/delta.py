"""The difference between two graphs as data (pure): what a new schema version added, removed
and changed, node by node and edge by edge.

``graph_delta(old, new)`` is the delta; ``apply_delta(old, delta)`` gives ``new`` back exactly
(nodes, edges, fingerprint). The mirror writes only a delta (``mirror.plan_delta``), and the
Schema Sync Node's impact tracker hands the delta of each version it saw to the bridge's graph
target (``write_delta`` / ``read_delta``: ``<hash cache>.graph_deltas/<new hash>.json``), so
the target need not read the database's whole graph again for a one-column DDL.

A node is *changed* when its ``attrs`` or ``sig`` differ; an edge is identified by (dependent,
referenced, scope), so an edge whose ``breaking`` flips is removed and added again.
``changes_of(old, delta)`` is the node-level summary the impact walk uses (``sig`` changes
only), equal to ``impact.graph_changes(old, new)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.atomic import atomic_write
from ctas7_panel.errors import SchemaError
from ctas7_panel.graph.impact import ADDED, CHANGED, REMOVED, Change
from ctas7_panel.graph.model import Edge, Graph, Node, NodeId, sort_edges

log = logging.getLogger(__name__)

DELTAS_SUFFIX = ".graph_deltas"
KEEP_DELTAS = 16  # delta files kept: enough for a burst of DDLs the bridge has not caught up on
FORMAT = 1


@dataclass(frozen=True)
class GraphDelta:
    """What turns the graph ``old_fingerprint`` into the graph ``new_fingerprint``."""

    old_fingerprint: str | None
    new_fingerprint: str | None
    added: tuple[Node, ...] = ()
    removed: tuple[NodeId, ...] = ()
    changed: tuple[Node, ...] = ()  # the new value of nodes present in both
    edges_added: tuple[Edge, ...] = ()
    edges_removed: tuple[Edge, ...] = ()

    @property
    def empty(self) -> bool:
        """No node or edge differs (the fingerprints may still)."""
        return not (
            self.added or self.removed or self.changed or self.edges_added or self.edges_removed
        )

    @property
    def size(self) -> int:
        return (
            len(self.added)
            + len(self.removed)
            + len(self.changed)
            + len(self.edges_added)
            + len(self.edges_removed)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "old_fingerprint": self.old_fingerprint,
            "new_fingerprint": self.new_fingerprint,
            "added": [_node_dict(n) for n in self.added],
            "removed": [n.to_list() for n in self.removed],
            "changed": [_node_dict(n) for n in self.changed],
            "edges_added": [_edge_list(e) for e in self.edges_added],
            "edges_removed": [_edge_list(e) for e in self.edges_removed],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GraphDelta:
        """The inverse of ``to_dict``; ``SchemaError`` naming what is malformed."""
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            return cls(
                _fp(data["old_fingerprint"]),
                _fp(data["new_fingerprint"]),
                tuple(_node_of(n) for n in data["added"]),
                tuple(NodeId.from_list(n) for n in data["removed"]),
                tuple(_node_of(n) for n in data["changed"]),
                tuple(_edge_of(e) for e in data["edges_added"]),
                tuple(_edge_of(e) for e in data["edges_removed"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(
                f"graph delta is malformed ({type(exc).__name__}: {exc}); it is ignored and the "
                "graph is read from the database instead"
            ) from exc


def _fp(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"fingerprint {value!r} is not a string")


def _node_dict(node: Node) -> dict[str, Any]:
    return {"id": node.id.to_list(), "attrs": [[k, v] for k, v in node.attrs], "sig": node.sig}


def _node_of(data: Mapping[str, Any]) -> Node:
    attrs = tuple((str(k), v) for k, v in data["attrs"])
    return Node(NodeId.from_list(data["id"]), attrs, str(data["sig"]))


def _edge_list(e: Edge) -> list[Any]:
    return [e.dependent.to_list(), e.referenced.to_list(), e.breaking, e.scope]


def _edge_of(data: Any) -> Edge:
    dep, ref, breaking, scope = data
    return Edge(NodeId.from_list(dep), NodeId.from_list(ref), bool(breaking), str(scope))


def graph_delta(old: Graph, new: Graph) -> GraphDelta:
    """The delta from ``old`` to ``new`` (each part sorted: equal graphs, equal deltas)."""
    old_nodes, new_nodes = old.nodes, new.nodes
    added = [new_nodes[n] for n in new_nodes if n not in old_nodes]
    removed = [n for n in old_nodes if n not in new_nodes]
    changed = []
    for n, node in new_nodes.items():
        was = old_nodes.get(n)
        if was is not None and was is not node and was != node:
            changed.append(node)
    if old.edges == new.edges:
        edges_added: tuple[Edge, ...] = ()
        edges_removed: tuple[Edge, ...] = ()
    else:
        old_edges, new_edges = set(old.edges), set(new.edges)
        edges_added = sort_edges(new_edges - old_edges)
        edges_removed = sort_edges(old_edges - new_edges)
    return GraphDelta(
        old.fingerprint,
        new.fingerprint,
        tuple(sorted(added, key=_node_id)),
        tuple(sorted(removed)),
        tuple(sorted(changed, key=_node_id)),
        edges_added,
        edges_removed,
    )


def _node_id(node: Node) -> NodeId:
    return node.id


class DeltaMismatch(SchemaError):
    """A delta that does not start from the graph it is applied to."""


def apply_delta(old: Graph, delta: GraphDelta, *, strict: bool = True) -> Graph:
    """``old`` with ``delta`` applied: ``apply_delta(a, graph_delta(a, b)) == b``.

    ``strict``: ``DeltaMismatch`` unless the delta starts from ``old`` (its fingerprint, the
    nodes and edges it removes or changes are there, those it adds are not, and every edge of
    the result joins two of its nodes), so a delta computed on another copy of the graph is
    never applied to this one blindly.
    """
    if strict:
        _check(old, delta)
    nodes = dict(old.nodes)
    for nid in delta.removed:
        nodes.pop(nid, None)
    for node in (*delta.added, *delta.changed):
        nodes[node.id] = node
    if delta.edges_added or delta.edges_removed:
        gone = set(delta.edges_removed)
        kept = [e for e in old.edges if e not in gone]
        edges = sort_edges({*kept, *delta.edges_added})
    else:
        edges = old.edges
    if strict:
        for e in delta.edges_added:
            if e.dependent not in nodes or e.referenced not in nodes:
                raise DeltaMismatch(f"graph delta adds an edge {_edge_text(e)} to a missing node")
        removed = set(delta.removed)
        if removed:
            for e in edges:
                if e.dependent in removed or e.referenced in removed:
                    raise DeltaMismatch(
                        f"graph delta removes a node but keeps the edge {_edge_text(e)}"
                    )
    return Graph(nodes, edges, delta.new_fingerprint)


def _check(old: Graph, delta: GraphDelta) -> None:
    def fail(what: str) -> DeltaMismatch:
        return DeltaMismatch(
            f"graph delta {_short(delta.old_fingerprint)} -> {_short(delta.new_fingerprint)} "
            f"does not apply to graph {_short(old.fingerprint)}: {what}"
        )

    if delta.old_fingerprint != old.fingerprint:
        raise fail("it starts from another schema version")
    for nid in delta.removed:
        if nid not in old.nodes:
            raise fail(f"it removes {nid.kind} {nid.display}, which is not there")
    for node in delta.changed:
        if node.id not in old.nodes:
            raise fail(f"it changes {node.id.kind} {node.id.display}, which is not there")
    for node in delta.added:
        if node.id in old.nodes:
            raise fail(f"it adds {node.id.kind} {node.id.display}, which is there already")
    if delta.edges_added or delta.edges_removed:
        edges = set(old.edges)
        for e in delta.edges_removed:
            if e not in edges:
                raise fail(f"it removes the edge {_edge_text(e)}, which is not there")
        for e in delta.edges_added:
            if e in edges:
                raise fail(f"it adds the edge {_edge_text(e)}, which is there already")


def _short(fp: str | None) -> str:
    return fp[:12] if fp else "unknown"


def _edge_text(e: Edge) -> str:
    return f"{e.dependent.display} -> {e.referenced.display} ({e.scope})"


def changes_of(old: Graph, delta: GraphDelta) -> tuple[Change, ...]:
    """Nodes added, removed or whose ``sig`` changed: ``impact.graph_changes(old, new)``."""
    out = [Change(n, REMOVED) for n in delta.removed]
    out += [Change(n.id, ADDED) for n in delta.added]
    out += [
        Change(n.id, CHANGED)
        for n in delta.changed
        if n.id in old.nodes and old.nodes[n.id].sig != n.sig
    ]
    return tuple(sorted(out))


# --- the hand-over from the sync node's tracker to the bridge's graph target ----------------


def deltas_dir(hash_cache_path: str | Path) -> Path:
    """``<hash cache>.graph_deltas/``: where the tracker leaves the delta of each version."""
    p = Path(hash_cache_path)
    return p.with_name(p.name + DELTAS_SUFFIX)


def delta_path(hash_cache_path: str | Path, new_fingerprint: str) -> Path:
    if not new_fingerprint or not all(c.isalnum() for c in new_fingerprint):
        raise SchemaError(f"fingerprint {new_fingerprint[:80]!r} cannot name a delta file")
    return deltas_dir(hash_cache_path) / f"{new_fingerprint}.json"


def write_delta(hash_cache_path: str | Path, delta: GraphDelta, *, keep: int = KEEP_DELTAS) -> Path:
    """Write ``delta`` atomically as ``<new fingerprint>.json``, keeping the newest ``keep``."""
    if delta.new_fingerprint is None:
        raise SchemaError("a graph delta without a new fingerprint cannot be handed over")
    path = delta_path(hash_cache_path, delta.new_fingerprint)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, orjson.dumps(delta.to_dict()))
    _prune(path.parent, keep)
    return path


def _prune(directory: Path, keep: int) -> None:
    files: list[tuple[float, Path]] = []
    for p in directory.glob("*.json"):
        try:
            files.append((p.stat().st_mtime, p))
        except OSError:
            continue
    for _, p in sorted(files, reverse=True)[keep:]:
        p.unlink(missing_ok=True)


def read_delta(
    hash_cache_path: str | Path, old_fingerprint: str | None, new_fingerprint: str
) -> GraphDelta | None:
    """The tracker's delta ``old_fingerprint -> new_fingerprint``, or None (missing, another
    start, unreadable: the caller reads the whole graph instead)."""
    try:
        path = delta_path(hash_cache_path, new_fingerprint)
        data = orjson.loads(path.read_bytes())
        delta = GraphDelta.from_dict(data)
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError, SchemaError) as exc:
        log.warning("graph delta for %s ignored: %s", new_fingerprint[:12], exc)
        return None
    if delta.new_fingerprint != new_fingerprint or delta.old_fingerprint != old_fingerprint:
        return None
    return delta
