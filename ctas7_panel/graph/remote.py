"""The impact walk through SurrealQL on the mirror (``ctas7 schema impact --from-graph``).

The same question as ``impact.impact_of``, answered by the mirror's own data and engine:

- the target is resolved against the mirror's present nodes (with ``impact.resolve_target``,
  so an unknown name fails with the same message);
- hop levels come from recursive collection over the computed ``dependents`` field:
  ``$seeds.{1..d+collect}.dependents`` holds every node within ``d`` hops (several depths
  per round trip, with ``query_raw``: ``query`` would return only the first statement's);
  level ``d`` is what depth ``d`` adds;
- ``via`` and ``breaking`` come from the computed ``dependents`` / ``breaking_dependents`` of
  the nodes reached;
- ``impact.assemble`` and ``impact.render`` turn that into the very text the in-process walk
  prints, so the two can be compared line by line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from ctas7_panel.graph import impact as im
from ctas7_panel.graph.model import Graph, Node, NodeId
from ctas7_panel.graph.store import GraphStore
from ctas7_panel.graph.surql import TABLES, Rid, lit, rid

DEPTHS_PER_TRIP = 8


class RemoteGraph:
    """Impact questions answered by the mirror in ``store``."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._index: Graph | None = None
        self._by_rid: dict[tuple[str, str], NodeId] = {}

    async def index(self) -> Graph:
        """The mirror's present nodes (no edges), with the mirrored fingerprint."""
        if self._index is None:
            keys, fp = await self.store.query(
                f"SELECT VALUE key FROM {', '.join(TABLES)} WHERE present = true;\n"
                "RETURN (SELECT VALUE hash FROM ONLY mirror:state);"
            )
            nodes = {}
            for key in keys or []:
                nid = NodeId.from_list(orjson.loads(key))
                nodes[nid] = Node(nid)
            self._index = Graph(nodes, (), fp if isinstance(fp, str) else None)
            self._by_rid = {_rid_key(rid(n)): n for n in nodes}
        return self._index

    def _node(self, record: Any) -> NodeId | None:
        table = getattr(record, "table_name", None)
        key = getattr(record, "id", None)
        if table is None:
            return None
        return self._by_rid.get((str(table), orjson.dumps(key).decode()))

    def _nodes(self, records: Iterable[Any]) -> set[NodeId]:
        out = set()
        for r in records or []:
            n = self._node(r)
            if n is not None:
                out.add(n)
        return out

    async def impact_of(self, target: str, *, max_hops: int = im.DEFAULT_MAX_HOPS) -> im.Impact:
        graph = await self.index()
        seeds = im.seeds_for(graph, im.resolve_target(graph, target))
        return await self._walk(graph, seeds, target=target, max_hops=max_hops)

    async def impact_of_changes(
        self,
        changes: Sequence[im.Change],
        *,
        target: str,
        to_fingerprint: str | None = None,
        max_hops: int = im.DEFAULT_MAX_HOPS,
    ) -> im.Impact:
        graph = await self.index()
        seeds = [c for c in changes if c.node.kind in im.SEED_KINDS]
        return await self._walk(
            graph, seeds, target=target, max_hops=max_hops, to_fingerprint=to_fingerprint
        )

    async def _walk(
        self,
        graph: Graph,
        seeds: Sequence[im.Change],
        *,
        target: str,
        max_hops: int,
        to_fingerprint: str | None = None,
    ) -> im.Impact:
        start = sorted({s.node for s in seeds if s.change != im.ADDED and s.node in graph})
        levels: list[set[NodeId]] = []
        capped = False
        if start:
            levels, capped = await self._levels(start, max_hops)
        expanded = [*start, *(n for level in levels for n in level)]
        parents: dict[NodeId, set[NodeId]] = {}
        broken: set[NodeId] = set()
        if expanded:
            rows = await self._adjacency(expanded)
            for node, deps, brk in rows:
                for d in deps:
                    parents.setdefault(d, set()).add(node)
                broken |= brk
        reached = set().union(*levels) if levels else set()
        return im.assemble(
            target,
            graph,
            seeds,
            levels,
            broken & reached,
            parents,
            max_hops=max_hops,
            capped=capped,
            fingerprint=graph.fingerprint,
            to_fingerprint=to_fingerprint,
        )

    async def _levels(
        self, start: Sequence[NodeId], max_hops: int
    ) -> tuple[list[set[NodeId]], bool]:
        seeds = set(start)
        within: list[set[NodeId]] = [set()]  # within[d]: reached in at most d hops
        depth = 0
        while True:
            depths = list(range(depth + 1, min(depth + DEPTHS_PER_TRIP, max_hops + 1) + 1))
            text = f"LET $seeds = {lit([rid(n) for n in start])};\n" + "\n".join(
                f"RETURN $seeds.{{1..{d}+collect}}.dependents;" for d in depths
            )
            results = (await self.store.query(text))[1:]
            for d, found in zip(depths, results, strict=True):
                within.append(self._nodes(_flatten(found)) - seeds)
                if within[d] == within[d - 1]:
                    return _levels_of(within[:d]), False
                if d > max_hops:
                    return _levels_of(within[:d]), True
            depth = depths[-1]

    async def _adjacency(
        self, nodes: Sequence[NodeId]
    ) -> list[tuple[NodeId, set[NodeId], set[NodeId]]]:
        text = (
            f"LET $nodes = {lit([rid(n) for n in nodes])};\n"
            "SELECT id, dependents, breaking_dependents FROM $nodes;"
        )
        rows = (await self.store.query(text))[1]
        out = []
        for row in rows or []:
            node = self._node(row.get("id"))
            if node is None:
                continue
            out.append(
                (
                    node,
                    self._nodes(_flatten(row.get("dependents"))),
                    self._nodes(_flatten(row.get("breaking_dependents"))),
                )
            )
        return out


def _levels_of(within: Sequence[set[NodeId]]) -> list[set[NodeId]]:
    return [within[d] - within[d - 1] for d in range(1, len(within))]


def _flatten(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        out: list[Any] = []
        for v in value:
            out.extend(_flatten(v) if isinstance(v, list) else [v])
        return out
    return [value]


def _rid_key(r: Rid) -> tuple[str, str]:
    return (r.table, orjson.dumps(list(r.key)).decode())
