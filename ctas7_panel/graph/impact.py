"""Change impact (pure): what depends on a table, column, type or function, by hop.

``impact_of(graph, "public.tasks.status")`` answers "what does dropping (or changing) this
break?"; ``impact_of_changes(old_graph, changes)`` does the same for what a migration or a
schema version changed (``graph_changes(old, new)``). Both walk ``Graph.dependents``
breadth-first: ``hop`` is the length of the shortest chain of dependencies from a changed
object; ``breaking`` means some chain of breaking dependencies reaches it (PostgreSQL would
need CASCADE, or a Legion query would fail); ``via`` names the nodes one hop closer through
which it is reached. The changed objects themselves, and the columns of a changed relation,
are not listed as dependents.

``render(impact)`` is the text ``ctas7 schema impact`` prints: the SurrealDB mirror answers
through SurrealQL and prints the very same text with this function (``--from-graph``).
``summary(impact)`` is the compact form ``schema_updated`` events carry as ``impact``.
This is the function the MCP server calls: ``impact_of(graph, target) -> Impact``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ctas7_panel.errors import UsageError
from ctas7_panel.graph.model import RELATION_KINDS, Graph, NodeId

DEFAULT_MAX_HOPS = 32
SUMMARY_LIMIT = 100
NAMES_LIMIT = 1000
VIA_SHOWN = 3
SEED_KINDS = frozenset(
    {*RELATION_KINDS, "column", "function", "type", "sequence", "foreign_key", "trigger", "policy"}
)

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
DROPPED = "dropped or changed"  # the hypothetical change of a named target


@dataclass(frozen=True, slots=True, order=True)
class Change:
    """A node that a schema version (or migration) added, removed or changed."""

    node: NodeId
    change: str


@dataclass(frozen=True, slots=True)
class Dependent:
    node: NodeId
    hop: int
    breaking: bool
    via: tuple[NodeId, ...] = ()


@dataclass(frozen=True, slots=True)
class Impact:
    """The answer: the changed objects (``seeds``) and what depends on them."""

    target: str
    seeds: tuple[Change, ...]
    dependents: tuple[Dependent, ...]
    fingerprint: str | None = None
    to_fingerprint: str | None = None  # a migration's or schema version's resulting schema
    max_hops: int = DEFAULT_MAX_HOPS
    capped: bool = False  # something more lies beyond max_hops

    @property
    def breaking(self) -> tuple[Dependent, ...]:
        return tuple(d for d in self.dependents if d.breaking)

    def of_kind(self, kind: str) -> tuple[Dependent, ...]:
        return tuple(d for d in self.dependents if d.node.kind == kind)


# --- targets -------------------------------------------------------------------------------


def split_name(text: str) -> list[str]:
    """``public."My Table".col`` -> ``["public", "My Table", "col"]`` (PostgreSQL quoting)."""
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    quoted_part = False
    while i < n:
        ch = text[i]
        if ch == '"':
            quoted_part = True
            i += 1
            while True:
                if i >= n:
                    raise UsageError(f"target {text!r}: unbalanced double quote")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        buf.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                buf.append(text[i])
                i += 1
            continue
        if ch == ".":
            parts.append("".join(buf))
            buf, quoted_part = [], False
            i += 1
            continue
        buf.append(ch if quoted_part else ch.lower())
        i += 1
    parts.append("".join(buf))
    if any(p == "" for p in parts):
        raise UsageError(
            f"target {text!r} has an empty name: use [schema.]table[.column] or [schema.]type"
        )
    return parts


def resolve_target(graph: Graph, text: str) -> tuple[NodeId, ...]:
    """The node(s) ``text`` names: ``[schema.]table[.column]``, ``[schema.]type`` or
    ``[schema.]function`` (every overload; ``name(args)`` picks one). ``UsageError`` if none."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty target: give [schema.]table[.column] or [schema.]type")
    if "(" in raw and raw.endswith(")"):
        head, _, args = raw[:-1].partition("(")
        found = _functions(graph, split_name(head.strip()), args.strip())
        if found:
            return found
        return _unknown(graph, raw)
    parts = split_name(raw)
    candidates: list[NodeId] = []
    if len(parts) == 1:
        candidates += _named(graph, "public", parts[0])
    elif len(parts) == 2:
        candidates += _named(graph, parts[0], parts[1])
        if not candidates:
            col = NodeId("column", "public", parts[0], parts[1])
            if col in graph:
                candidates.append(col)
    elif len(parts) == 3:
        col = NodeId("column", *parts)
        if col in graph:
            candidates.append(col)
    else:
        raise UsageError(
            f"target {raw!r} has {len(parts)} dotted parts: use [schema.]table[.column] or "
            '[schema.]type (quote names containing dots: public."a.b")'
        )
    if candidates:
        return tuple(candidates)
    return _unknown(graph, raw)


def _named(graph: Graph, schema: str, name: str) -> list[NodeId]:
    rel = graph.relation(schema, name)
    if rel is not None:
        return [rel]
    for kind in ("type", "sequence"):
        nid = NodeId(kind, schema, name)
        if nid in graph:
            return [nid]
    return list(_functions(graph, [schema, name], None))


def _functions(graph: Graph, parts: Sequence[str], args: str | None) -> tuple[NodeId, ...]:
    if len(parts) == 1:
        schema, name = "public", parts[0]
    elif len(parts) == 2:
        schema, name = parts[0], parts[1]
    else:
        return ()
    found = [
        n
        for n in graph.nodes
        if n.kind == "function" and n.schema == schema and n.name == name
        and (args is None or _norm_args(n.sub) == _norm_args(args))
    ]  # fmt: skip
    return tuple(sorted(found))


def _norm_args(args: str) -> str:
    return " ".join(args.replace(",", " , ").split()).lower()


def _unknown(graph: Graph, raw: str) -> tuple[NodeId, ...]:
    names = [n.display for n in graph.nodes if n.kind in SEED_KINDS]
    close = difflib.get_close_matches(raw, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    fp = (graph.fingerprint or "unknown")[:12]
    raise UsageError(
        f"target {raw!r} is not in the schema (hash {fp}): no table, view, column, type or "
        f"function by that name{hint}"
    )


def seeds_for(graph: Graph, nodes: Iterable[NodeId], change: str = DROPPED) -> tuple[Change, ...]:
    return tuple(sorted({Change(n, change) for n in nodes}))


# --- the walk ------------------------------------------------------------------------------


def excluded_nodes(graph: Graph, seeds: Iterable[Change]) -> set[NodeId]:
    """Never listed as dependents: the changed nodes and the columns of a changed relation."""
    out: set[NodeId] = set()
    for s in seeds:
        out.add(s.node)
        if s.node.kind in RELATION_KINDS:
            out.update(graph.columns_of(s.node))
    return out


def walk(
    graph: Graph, seeds: Sequence[Change], max_hops: int = DEFAULT_MAX_HOPS
) -> tuple[list[set[NodeId]], set[NodeId], dict[NodeId, set[NodeId]], bool]:
    """Breadth-first levels (level ``d``: first reached at hop ``d``), the breaking set, each
    node's parents, and whether nodes remain beyond ``max_hops``.

    Every node of every level is expanded once. A node is *breaking* when some changed or
    reached node has a breaking step to it: it depends, normally, on something that goes away
    or changes (PostgreSQL would refuse without CASCADE; a Legion query would fail).
    """
    start = {s.node for s in seeds}
    seen = set(start)
    levels: list[set[NodeId]] = []
    parents: dict[NodeId, set[NodeId]] = {}
    broken: set[NodeId] = set()
    frontier = set(start)
    capped = False
    for depth in range(1, max_hops + 2):
        nxt: set[NodeId] = set()
        for node in frontier:
            for step in graph.dependents(node):
                if step.breaking:
                    broken.add(step.node)
                if step.node in seen:
                    continue
                nxt.add(step.node)
                parents.setdefault(step.node, set()).add(node)
        if not nxt:
            break
        if depth > max_hops:
            capped = True
            break
        seen |= nxt
        levels.append(nxt)
        frontier = nxt
    reached = set().union(*levels) if levels else set()
    return levels, broken & reached, parents, capped


def assemble(
    target: str,
    graph: Graph,
    seeds: Sequence[Change],
    levels: Sequence[set[NodeId]],
    breaking: set[NodeId],
    parents: Mapping[NodeId, set[NodeId]],
    *,
    max_hops: int,
    capped: bool,
    fingerprint: str | None,
    to_fingerprint: str | None = None,
) -> Impact:
    """The ``Impact`` from a walk's results (shared by the in-process and the mirror walk)."""
    hidden = excluded_nodes(graph, seeds)
    dependents = []
    previous: set[NodeId] = {s.node for s in seeds}
    for hop, level in enumerate(levels, start=1):
        for node in level:
            if node in hidden:
                continue
            via = tuple(sorted(p for p in parents.get(node, ()) if p in previous))
            dependents.append(Dependent(node, hop, node in breaking, via if hop > 1 else ()))
        previous = level
    dependents.sort(key=lambda d: (d.hop, d.node.kind, d.node.display))
    return Impact(
        target,
        tuple(sorted(seeds)),
        tuple(dependents),
        fingerprint,
        to_fingerprint,
        max_hops,
        capped,
    )


def impact_of(graph: Graph, target: str, *, max_hops: int = DEFAULT_MAX_HOPS) -> Impact:
    """What depends on the object(s) ``target`` names (as if dropped or changed)."""
    seeds = seeds_for(graph, resolve_target(graph, target))
    return analyze(graph, seeds, target=target, max_hops=max_hops)


def analyze(
    graph: Graph,
    seeds: Sequence[Change],
    *,
    target: str,
    max_hops: int = DEFAULT_MAX_HOPS,
    to_fingerprint: str | None = None,
) -> Impact:
    """What depends on ``seeds`` in ``graph``."""
    if max_hops < 1:
        raise UsageError(f"max hops {max_hops!r} must be at least 1")
    walked = [s for s in seeds if s.change != ADDED and s.node in graph]
    levels, breaking, parents, capped = walk(graph, walked, max_hops)
    return assemble(
        target,
        graph,
        seeds,
        levels,
        breaking,
        parents,
        max_hops=max_hops,
        capped=capped,
        fingerprint=graph.fingerprint,
        to_fingerprint=to_fingerprint,
    )


# --- what a version changed ----------------------------------------------------------------


def graph_changes(old: Graph, new: Graph) -> tuple[Change, ...]:
    """Nodes added, removed, or whose ``sig`` changed from ``old`` to ``new``."""
    out = [Change(n, REMOVED) for n in old.nodes if n not in new.nodes]
    out += [Change(n, ADDED) for n in new.nodes if n not in old.nodes]
    out += [
        Change(n, CHANGED)
        for n, node in new.nodes.items()
        if n in old.nodes and old.nodes[n].sig != node.sig
    ]
    return tuple(sorted(out))


def impact_of_changes(
    old: Graph,
    changes: Sequence[Change],
    *,
    target: str,
    to_fingerprint: str | None = None,
    max_hops: int = DEFAULT_MAX_HOPS,
) -> Impact:
    """What depends, in ``old``, on what ``changes`` removed or changed (added: nothing)."""
    seeds = [c for c in changes if c.node.kind in SEED_KINDS]
    return analyze(old, seeds, target=target, max_hops=max_hops, to_fingerprint=to_fingerprint)


# --- output --------------------------------------------------------------------------------


def _short(fp: str | None) -> str:
    return fp[:12] if fp else "unknown"


def shown_changes(seeds: Sequence[Change]) -> list[Change]:
    """The changes worth printing: a removed relation's columns are not listed one by one."""
    removed_rels = {
        (c.node.schema, c.node.name)
        for c in seeds
        if c.node.kind in RELATION_KINDS and c.change == REMOVED
    }
    return [
        c
        for c in seeds
        if not (
            c.node.kind == "column"
            and c.change == REMOVED
            and (c.node.schema, c.node.name) in removed_rels
        )
    ]


def render(impact: Impact) -> str:
    """The text ``ctas7 schema impact`` prints (same from the mirror, byte for byte)."""
    lines = []
    total, breaking = len(impact.dependents), len(impact.breaking)
    if impact.to_fingerprint is not None or any(s.change != DROPPED for s in impact.seeds):
        lines.append(
            f"impact of {impact.target} "
            f"(schema {_short(impact.fingerprint)} -> {_short(impact.to_fingerprint)})"
        )
        shown = shown_changes(impact.seeds)
        if not shown:
            lines.append("no schema changes")
        for c in shown:
            sign = {ADDED: "+", REMOVED: "-", CHANGED: "~"}.get(c.change, "~")
            lines.append(f"  {sign} {c.node.kind} {c.node.display}")
    else:
        kinds = ", ".join(sorted({s.node.kind for s in impact.seeds}))
        lines.append(
            f"impact of dropping or changing {impact.target} "
            f"({kinds}; schema {_short(impact.fingerprint)})"
        )
    lines.append(f"{total} dependents, {breaking} breaking" if total else "nothing depends on it")
    hop = 0
    for d in impact.dependents:
        if d.hop != hop:
            hop = d.hop
            lines.append(f"hop {hop}")
        mark = "BREAKING" if d.breaking else ""
        via = ""
        if d.via:
            names = [v.display for v in d.via[:VIA_SHOWN]]
            more = len(d.via) - VIA_SHOWN
            via = "via " + ", ".join(names) + (f" (+{more} more)" if more > 0 else "")
        row = f"  {d.node.kind:<18} {d.node.display:<44} {mark:<8} {via}"
        lines.append(row.rstrip())
    if impact.capped:
        lines.append(f"(stopped at {impact.max_hops} hops: more lies beyond)")
    return "\n".join(lines) + "\n"


def _relation_of(node: NodeId) -> str | None:
    rn = node.relation_name
    return None if rn is None else f"{rn[0]}.{rn[1]}"


def to_dict(impact: Impact) -> dict[str, Any]:
    """The whole impact as JSON-able data (``--json``; the MCP tool's answer)."""
    return {
        "target": impact.target,
        "fingerprint": impact.fingerprint,
        "to_fingerprint": impact.to_fingerprint,
        "max_hops": impact.max_hops,
        "capped": impact.capped,
        "changes": [
            {
                "kind": c.node.kind,
                "name": c.node.display,
                "change": c.change,
                "id": c.node.to_list(),
            }
            for c in impact.seeds
        ],
        "dependents": [
            {
                "kind": d.node.kind,
                "name": d.node.display,
                "hop": d.hop,
                "breaking": d.breaking,
                "via": [v.display for v in d.via],
                "id": d.node.to_list(),
            }
            for d in impact.dependents
        ],
        "total": len(impact.dependents),
        "breaking": len(impact.breaking),
    }


def summary(impact: Impact, *, limit: int = SUMMARY_LIMIT) -> dict[str, Any]:
    """The compact, JSON-able impact a ``schema_updated`` event carries.

    ``relations``/``columns``: every relation and column that changed or is a dependent
    (Legion's affected tasks are the running tasks that use one of them); ``truncated`` is
    true when a list was cut, and then a consumer must assume everything is affected.
    """
    counts: dict[str, int] = {}
    for d in impact.dependents:
        counts[d.node.kind] = counts.get(d.node.kind, 0) + 1
    relations: set[str] = set()
    columns: set[str] = set()
    for node in [s.node for s in impact.seeds if s.change != ADDED] + [
        d.node for d in impact.dependents
    ]:
        rel = _relation_of(node)
        if rel is None:
            continue
        if node.kind in RELATION_KINDS or node.kind == "column":
            relations.add(rel)
        if node.kind == "column":
            columns.add(f"{rel}.{node.sub}")
    truncated = len(impact.dependents) > limit or len(relations) > NAMES_LIMIT
    truncated = truncated or len(columns) > NAMES_LIMIT
    return {
        "from_hash": impact.fingerprint,
        "to_hash": impact.to_fingerprint,
        "changes": [
            {"kind": c.node.kind, "name": c.node.display, "change": c.change}
            for c in shown_changes(impact.seeds)[:limit]
        ],
        "dependents": [
            {
                "kind": d.node.kind,
                "name": d.node.display,
                "hop": d.hop,
                "breaking": d.breaking,
            }
            for d in impact.dependents[:limit]
        ],
        "counts": dict(sorted(counts.items())),
        "total": len(impact.dependents),
        "breaking": len(impact.breaking),
        "relations": sorted(relations)[:NAMES_LIMIT],
        "columns": sorted(columns)[:NAMES_LIMIT],
        "truncated": truncated,
    }


def summary_text(impact_summary: Mapping[str, Any]) -> str:
    """A few lines for a person (the dashboard shows this under the diff)."""
    total = impact_summary.get("total", 0)
    if not total:
        return "impact: nothing depends on what changed"
    counts = impact_summary.get("counts") or {}
    parts = ", ".join(f"{n} {k}" for k, n in counts.items())
    lines = [f"impact: {total} dependents ({parts}), {impact_summary.get('breaking', 0)} breaking"]
    for d in impact_summary.get("dependents", []):
        mark = "  BREAKING" if d.get("breaking") else ""
        lines.append(f"  hop {d.get('hop')}: {d.get('kind')} {d.get('name')}{mark}")
    if impact_summary.get("truncated") or len(impact_summary.get("dependents", [])) < total:
        lines.append(f"  ... ({total} in all)")
    return "\n".join(lines)
