"""The impact summary a ``schema_updated`` event carries (used by the Schema Sync Node).

PostgreSQL forgets what depended on a dropped object as soon as it is dropped, so the impact of
a change must be computed on the graph of the schema *before* it. ``ImpactTracker`` keeps the
graph of the last schema version a pass saw (``pg_depend`` facts read right after that pass's
introspection, once per new fingerprint) and, when a pass sees a new one, walks what changed in
the old graph (``impact.impact_of_changes``): ``summary()`` of that is the event's ``impact``.

When the previous graph is unknown (the first pass after a restart meets a changed schema), the
old graph is rebuilt from the previous snapshot with the *new* facts: dependencies among
objects that still exist are right, those of dropped objects are missing; the summary then says
``"basis": "partial"`` (else ``"catalog"``). Nothing here ever fails a pass: an error is logged
and the event goes out without ``impact``.

The graph delta of each version (``delta.graph_delta``, on the ``catalog`` basis only) is left
in ``<hash cache>.graph_deltas/<new hash>.json`` before the event goes out: the bridge's graph
target applies it to the graph it mirrored last instead of reading the database again.

Per new fingerprint the tracker still reads all of ``pg_depend`` (two catalog queries), but the
join of their rows is incremental (``facts.FactsJoin``: unchanged objects and edges reused, the
previous sorted edges patched) and ``build_graph`` reuses each unchanged relation's nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ctas7_panel.graph.build import build_graph
from ctas7_panel.graph.delta import GraphDelta, changes_of, graph_delta, write_delta
from ctas7_panel.graph.facts import DependencyFacts, FactsJoin, read_facts
from ctas7_panel.graph.impact import impact_of_changes, summary
from ctas7_panel.graph.model import Graph
from ctas7_panel.graph.tasks import default_manifest_path, read_manifest

log = logging.getLogger(__name__)

MAX_HANDED_OVER = 50_000  # nodes + edges in a delta handed to the graph target


class ImpactTracker:
    """See the module docstring. Not thread-safe: the sync node serialises its passes."""

    def __init__(self, *, types_files: Sequence[str], hash_cache_path: str | Path) -> None:
        self.types_files = tuple(str(p) for p in types_files)
        self.hash_cache_path = Path(hash_cache_path)
        self.manifest_path = default_manifest_path(hash_cache_path)
        self.graph: Graph | None = None
        self._facts: DependencyFacts | None = None
        # the join of the catalog rows remembers the previous version's: after a DDL only the
        # objects and edges that changed are built (same result as a join from scratch)
        self.join = FactsJoin()

    def observe(self, conn: Any, snapshot: Mapping[str, Any], fingerprint: str) -> Graph:
        """The graph of the schema just introspected (facts read only for a new fingerprint)."""
        if self.graph is not None and self.graph.fingerprint == fingerprint:
            return self.graph
        schemas = [str(s["name"]) for s in snapshot.get("schemas", [])]
        self._facts = read_facts(conn, schemas, join=self.join)
        self.graph = self._build(snapshot, self._facts, fingerprint)
        return self.graph

    def _build(self, snapshot: Mapping[str, Any], facts: DependencyFacts, fp: str | None) -> Graph:
        try:
            tasks = read_manifest(self.manifest_path)
        except Exception as exc:  # a bad manifest must not cost the schema its impact
            log.warning("impact: Legion task manifest ignored: %s", exc)
            tasks = ()
        return build_graph(
            snapshot, facts, tasks=tasks, types_files=self.types_files, fingerprint=fp
        )

    def impact(
        self,
        conn: Any,
        snapshot: Mapping[str, Any],
        fingerprint: str,
        *,
        old_hash: str | None,
        old_snapshot: Mapping[str, Any] | None,
    ) -> dict[str, Any] | None:
        """The ``impact`` of going from ``old_hash`` to ``fingerprint``; None if unknowable."""
        try:
            previous = self.graph
            new = self.observe(conn, snapshot, fingerprint)
            basis = "catalog"
            if previous is None or previous.fingerprint != old_hash:
                if old_snapshot is None or self._facts is None:
                    return None
                previous = self._build(old_snapshot, self._facts, old_hash)
                basis = "partial"
            old12, new12 = (old_hash or "unknown")[:12], fingerprint[:12]
            delta = graph_delta(previous, new)
            if basis == "catalog":
                self._hand_over(delta)
            result = impact_of_changes(
                previous,
                changes_of(previous, delta),
                target=f"schema {old12} -> {new12}",
                to_fingerprint=fingerprint,
            )
            return {"basis": basis, **summary(result)}
        except Exception as exc:  # the event matters more than its impact
            log.warning("impact of schema %s not computed: %s", fingerprint[:12], exc)
            return None

    def _hand_over(self, delta: GraphDelta) -> None:
        """Leave the delta for the bridge's graph target (``delta.write_delta``): it then
        mirrors the new version without reading the database's graph again."""
        if delta.size > MAX_HANDED_OVER or delta.new_fingerprint is None:
            return  # a big migration: the target compares whole graphs, as it would anyway
        try:
            write_delta(self.hash_cache_path, delta)
        except Exception as exc:  # the mirror falls back to reading the graph
            log.warning("graph delta of %s not written: %s", delta.new_fingerprint[:12], exc)
