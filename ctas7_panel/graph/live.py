"""Read a live database into a ``Graph``: introspection, ``pg_depend`` facts, tasks, types files.

The thin I/O shell around ``build.build_graph``. ``GraphInputs`` says where the Legion task
manifest and the generated types files are (``GraphInputs.from_settings`` uses the hash cache
and ``CTAS_SCHEMA_PATH``); a types file that does not exist is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ctas7_panel.graph.build import build_graph
from ctas7_panel.graph.facts import read_facts
from ctas7_panel.graph.model import Graph
from ctas7_panel.graph.tasks import TaskUse, default_manifest_path, read_manifest


@dataclass(frozen=True, slots=True)
class GraphInputs:
    """What besides the database goes into the graph."""

    tasks: tuple[TaskUse, ...] = ()
    types_files: tuple[str, ...] = ()
    options: Any = None  # TypegenOptions (None: the generator's defaults)

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        tasks_file: str | None = None,
        types_files: Sequence[str] = (),
        options: Any = None,
    ) -> GraphInputs:
        """Tasks from ``tasks_file`` (or the engine's manifest next to the hash cache, if any);
        types files given, or those of ``CTAS7_TYPES`` (else ``CTAS_SCHEMA_PATH``) that exist."""
        if tasks_file is not None:
            tasks = read_manifest(tasks_file, missing_ok=False)
        else:
            tasks = read_manifest(default_manifest_path(settings.hash_cache_path))
        configured = [path for _, path in getattr(settings, "types", None) or ()] or [
            settings.schema_path
        ]
        files = tuple(types_files) or tuple(p for p in configured if p and Path(p).is_file())
        return cls(tasks, files, options)


def graph_of_snapshot(
    conn: psycopg.Connection[Any], snapshot: dict[str, Any], fingerprint: str, inputs: GraphInputs
) -> Graph:
    """The graph of a snapshot already taken (the sync node's), with the facts read now."""
    schemas = [str(s["name"]) for s in snapshot.get("schemas", [])]
    facts = read_facts(conn, schemas)
    return build_graph(
        snapshot,
        facts,
        tasks=inputs.tasks,
        types_files=inputs.types_files,
        fingerprint=fingerprint,
    )


def read_graph(conn: psycopg.Connection[Any], inputs: GraphInputs) -> tuple[Graph, dict[str, Any]]:
    """The graph of the database ``conn`` is connected to, and its snapshot."""
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

    options = inputs.options if inputs.options is not None else TypegenOptions()
    catalog = introspect(conn, options)
    snapshot = to_snapshot(catalog)
    facts = read_facts(conn, catalog.schema_names)
    graph = build_graph(
        snapshot,
        facts,
        tasks=inputs.tasks,
        types_files=inputs.types_files,
        fingerprint=fingerprint(snapshot),
    )
    return graph, snapshot
