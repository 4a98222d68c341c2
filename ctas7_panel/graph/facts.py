"""What ``pg_depend`` knows: dependency edges between the objects of the included schemas.

One catalog query per ``.sql`` file in ``ctas7_panel/graph/queries/``, loaded once with
``importlib.resources``: ``dependency_rows`` (the raw rows) and ``dependency_nodes`` (each
object resolved to a ``NodeId``), read in one repeatable-read, read-only transaction and joined
here (a hash join in Python is immune to the planner's row estimates on a catalog nobody has
analysed, which made the same join in SQL take minutes on 1,000 tables); the resolution of each
object to its names runs with nested loops off (hash joins over the catalogs). OIDs never leave
this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import psycopg

from ctas7_panel.errors import SchemaError
from ctas7_panel.graph.model import Edge, NodeId, dedupe_edges


@cache
def query_text(name: str) -> str:
    """The text of ``graph/queries/<name>.sql``."""
    return resources.files("ctas7_panel.graph.queries").joinpath(f"{name}.sql").read_text()


@dataclass(frozen=True, slots=True)
class DependencyFacts:
    """The dependency edges ``pg_depend`` records between objects of ``schemas``."""

    schemas: tuple[str, ...]
    edges: tuple[Edge, ...]


def read_facts(conn: psycopg.Connection[Any], schemas: Sequence[str]) -> DependencyFacts:
    """Read the dependency facts of ``schemas``; ``SchemaError`` if the catalog cannot be read."""
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
    return DependencyFacts(tuple(names), join_facts(rows, nodes))


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
