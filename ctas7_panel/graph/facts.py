"""What ``pg_depend`` knows: dependency edges between the objects of the included schemas.

One catalog query per ``.sql`` file in ``ctas7_panel/graph/queries/``, loaded once with
``importlib.resources``: ``dependency_rows`` (the raw rows) and ``dependency_nodes`` (each
object resolved to a ``NodeId``), read in one repeatable-read, read-only transaction and joined
here (a hash join in Python is immune to the planner's row estimates on a catalog nobody has
analysed, which made the same join in SQL take minutes on 1,000 tables); the resolution of each
object to its names runs with nested loops off (hash joins over the catalogs). OIDs never leave
this module.

``FactsJoin`` is ``join_facts`` with a memory of its previous call, for a caller that reads
the facts again after each DDL (``tracker.ImpactTracker``): an object whose node row is the
same resolves to the same ``NodeId`` without building it again, and when the set of edges
changed only a little the previous sorted edges are patched (the removed ones left out, the
added ones merged in) instead of sorted again. Its result is always exactly ``join_facts``'s.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import psycopg

from ctas7_panel.errors import SchemaError
from ctas7_panel.graph.model import Edge, NodeId, dedupe_edges, edge_order, sort_edges


@cache
def query_text(name: str) -> str:
    """The text of ``graph/queries/<name>.sql``."""
    return resources.files("ctas7_panel.graph.queries").joinpath(f"{name}.sql").read_text()


@dataclass(frozen=True, slots=True)
class DependencyFacts:
    """The dependency edges ``pg_depend`` records between objects of ``schemas``."""

    schemas: tuple[str, ...]
    edges: tuple[Edge, ...]


Join = Callable[[Sequence[Sequence[Any]], Sequence[Sequence[Any]]], tuple[Edge, ...]]


def read_facts(
    conn: psycopg.Connection[Any], schemas: Sequence[str], *, join: Join | None = None
) -> DependencyFacts:
    """Read the dependency facts of ``schemas``; ``SchemaError`` if the catalog cannot be read.
    ``join``: what joins the two queries' rows (``join_facts``, or a ``FactsJoin``)."""
    names = sorted(set(schemas))
    try:
        if conn.autocommit:
            conn.execute("begin isolation level repeatable read read only")
            try:
                rows, nodes = _read(conn, names)
            finally:
                conn.execute("rollback")
        else:
            with conn.transaction():
                rows, nodes = _read(conn, names)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SchemaError(f"cannot read the dependency catalog (pg_depend): {reason}") from exc
    return DependencyFacts(tuple(names), (join or join_facts)(rows, nodes))


def _read(
    conn: psycopg.Connection[Any], schemas: list[str]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with conn.cursor() as cur:
        # hash joins: the planner's nested loops probe the catalogs once per dependency row
        # (23,000 on big_1000), 1.7x slower than hashing them. Set for this transaction only,
        # and put back (the caller's transaction, if any, goes on with its own setting)
        before = cur.execute(b"select current_setting('enable_nestloop')").fetchone()
        cur.execute(b"select set_config('enable_nestloop', 'off', true)")
        cur.execute(query_text("dependency_rows").encode())
        rows = cur.fetchall()
        cur.execute(query_text("dependency_nodes").encode(), {"schemas": schemas})
        nodes = cur.fetchall()
        cur.execute(
            b"select set_config('enable_nestloop', %s, true)", (before[0] if before else "on",)
        )
    return rows, nodes


def join_facts(rows: Sequence[Sequence[Any]], nodes: Sequence[Sequence[Any]]) -> tuple[Edge, ...]:
    """Edges from the two queries' rows (pure).

    ``rows``: (classid, objid, objsubid, refclassid, refobjid, refobjsubid, breaking);
    ``nodes``: (classid, objid, objsubid, kind, schema, name, sub, scope). A row whose either
    side resolves to no node (an index, an object of another schema...) is left out; a
    dependency on a relation's row type gets ``scope='row'``.
    """
    resolved: dict[tuple[int, int, int], tuple[NodeId, str]] = {
        (int(c), int(o), int(s)): (NodeId(kind, schema, name, sub or ""), scope)
        for c, o, s, kind, schema, name, sub, scope in nodes
    }
    edges = []
    for c, o, s, rc, ro, rs, breaking in rows:
        dep = resolved.get((int(c), int(o), int(s)))
        ref = resolved.get((int(rc), int(ro), int(rs)))
        if dep is None or ref is None:
            continue
        edges.append(Edge(dep[0], ref[0], bool(breaking), ref[1]))
    return dedupe_edges(edges)


_EdgeKey = tuple[NodeId, NodeId, str]


class FactsJoin:
    """``join_facts`` remembering its previous call (see the module docstring); same result.

    Counters: ``joins`` (calls), ``patched`` (calls that reused the previous edges: patched or
    unchanged), ``nodes_built`` (node rows not seen in the previous call). Not thread-safe.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[Any, ...], tuple[NodeId, str]] = {}
        self._merged: dict[_EdgeKey, bool] = {}
        self._edges: tuple[Edge, ...] = ()
        self.joins = 0
        self.patched = 0
        self.nodes_built = 0

    def __call__(
        self, rows: Sequence[Sequence[Any]], nodes: Sequence[Sequence[Any]]
    ) -> tuple[Edge, ...]:
        previous, ids = self._ids, {}
        resolved: dict[tuple[int, int, int], tuple[NodeId, str]] = {}
        for row in nodes:
            key = tuple(row)
            hit = previous.get(key)
            if hit is None:
                _, _, _, kind, schema, name, sub, scope = key
                hit = (NodeId(kind, schema, name, sub or ""), scope)
                self.nodes_built += 1
            ids[key] = hit
            resolved[(int(key[0]), int(key[1]), int(key[2]))] = hit
        # dedupe_edges's merge, on keys: one edge per (dependent, referenced, scope), breaking
        # if any duplicate is; self loops left out
        merged: dict[_EdgeKey, bool] = {}
        for c, o, s, rc, ro, rs, breaking in rows:
            dep = resolved.get((int(c), int(o), int(s)))
            ref = resolved.get((int(rc), int(ro), int(rs)))
            if dep is None or ref is None or dep[0] == ref[0]:
                continue
            ekey = (dep[0], ref[0], ref[1])
            if breaking and not merged.get(ekey, False):
                merged[ekey] = True
            elif ekey not in merged:
                merged[ekey] = False
        self.joins += 1
        if self.joins > 1:
            edges = self._patch(merged)
            self.patched += 1
        else:
            edges = sort_edges(Edge(d, r, b, sc) for (d, r, sc), b in merged.items())
        self._ids, self._merged, self._edges = ids, merged, edges
        return edges

    def _patch(self, merged: dict[_EdgeKey, bool]) -> tuple[Edge, ...]:
        old = self._merged
        if merged == old:
            return self._edges
        gone = {Edge(d, r, b, sc) for (d, r, sc), b in old.items() if merged.get((d, r, sc)) != b}
        added = sort_edges(
            Edge(d, r, b, sc) for (d, r, sc), b in merged.items() if old.get((d, r, sc)) != b
        )
        kept = (e for e in self._edges if e not in gone) if gone else iter(self._edges)
        return tuple(heapq.merge(kept, added, key=edge_order))
