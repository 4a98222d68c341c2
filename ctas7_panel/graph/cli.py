"""``ctas7 graph sync|query|examples``: the SurrealDB mirror of the schema graph.

- ``ctas7 graph sync [--db-url URL]`` reads the database (``--db-url``, else
  ``CTAS7_DATABASE_URL``, else the embedded one) and mirrors its graph once into ``CTAS_DB_URL``
  (or ``--graph-url``): one-shot use and backfill; the bridge's ``graph`` target keeps it live.
- ``ctas7 graph query "SURQL"`` runs SurrealQL on the mirror and prints each statement's
  result as JSON (several statements are fine).
- ``ctas7 graph examples`` prints the documented example queries.

Lean at import time (argparse only). Exit codes: 0, 1 when a statement fails, 2 for a bad URL,
a store another process owns, or a missing ``ctas7-panel[graph]`` extra.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ctas7_panel.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "graph",
        help="the schema graph's SurrealDB mirror (CTAS_DB_URL): sync, query",
        description="Mirror the schema graph into SurrealDB and query it with SurrealQL.",
    )
    graph_sub = parser.add_subparsers(dest="graph_command", metavar="SUBCOMMAND")
    from ctas7_panel.cli import needs_subcommand

    needs_subcommand(parser)

    sync = graph_sub.add_parser(
        "sync",
        help="mirror the current schema graph once (backfill)",
        description="Read the database's schema graph and mirror it into CTAS_DB_URL.",
    )
    sync.add_argument("--db-url", metavar="URL", help="postgresql:// URL to read")
    _graph_url(sync)
    group = sync.add_mutually_exclusive_group()
    group.add_argument("--schema", metavar="A,B", help="schemas (default: public,graphql_public)")
    group.add_argument("--all-schemas", action="store_true", help="every non-system schema")
    sync.add_argument("--tasks", metavar="FILE", help="Legion task manifest")
    sync.add_argument(
        "--types-file", action="append", default=[], metavar="PATH", help="a types file"
    )
    sync.set_defaults(handler=sync_handler)

    query = graph_sub.add_parser(
        "query",
        help="run SurrealQL on the mirror",
        description="Run SurrealQL on the mirror; print each statement's result as JSON.",
    )
    query.add_argument("surql", metavar="SURQL", help="one or more SurrealQL statements")
    _graph_url(query)
    query.set_defaults(handler=query_handler)

    examples = graph_sub.add_parser("examples", help="print example SurrealQL queries")
    examples.set_defaults(handler=examples_handler)


def _graph_url(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--graph-url",
        metavar="URL",
        help="surrealkv://PATH, mem:// or ws://HOST:8000 (default: CTAS_DB_URL)",
    )


def _url(args: argparse.Namespace, settings: Any) -> str:
    url = args.graph_url or getattr(settings, "graph_url", None)
    if not url:
        raise UsageError(
            "no graph store: set CTAS_DB_URL (surrealkv://PATH, mem:// or ws://HOST:8000) or "
            "pass --graph-url"
        )
    from ctas7_panel.graph.store import parse_graph_url

    parse_graph_url(str(url))  # a bad URL is a usage error before anything else runs
    return str(url)


def sync_handler(args: argparse.Namespace, settings: Any) -> int:
    import asyncio

    from ctas7_panel.errors import ConfigError, DatabaseError
    from ctas7_panel.graph.impact_cli import live_graph

    url = _url(args, settings)
    graph = live_graph(args, settings)

    async def run() -> Any:
        from ctas7_panel.graph.store import GraphStore

        async with GraphStore(url) as store:
            return await store.sync(graph), store.url.shown

    try:
        plan, shown = asyncio.run(run())
    except (ConfigError, DatabaseError) as exc:
        raise UsageError(str(exc)) from exc
    counts = graph.counts()
    edges = counts.pop("edges")
    fp = (graph.fingerprint or "unknown")[:12]
    version = "a new schema version" if plan.new_version else "no new version"
    print(
        f"mirrored schema {fp} to {shown}: {sum(counts.values())} nodes, {edges} edges "
        f"(+{plan.added} -{plan.removed} ~{plan.changed} nodes, +{plan.edges_added} "
        f"-{plan.edges_removed} edges; {version})"
    )
    return 0


def query_handler(args: argparse.Namespace, settings: Any) -> int:
    import asyncio

    import orjson

    from ctas7_panel.errors import ConfigError, DatabaseError

    url = _url(args, settings)

    async def run() -> list[dict[str, Any]]:
        from ctas7_panel.graph.store import GraphStore

        async with GraphStore(url) as store:
            return await store.query_raw(args.surql)

    try:
        results = asyncio.run(run())
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    except DatabaseError as exc:
        if "already open" in str(exc) or "cannot open" in str(exc):
            raise UsageError(str(exc)) from exc
        raise
    failed = 0
    for r in results:
        if r.get("status") != "OK":
            failed += 1
            print(f"error: {r.get('result')}", file=sys.stderr)
            continue
        out = orjson.dumps(r.get("result"), default=str, option=orjson.OPT_INDENT_2)
        sys.stdout.write(out.decode() + "\n")
    return 1 if failed else 0


def examples_handler(args: argparse.Namespace, settings: Any) -> int:
    from ctas7_panel.graph.mirror import EXAMPLES

    for title, text in EXAMPLES.items():
        print(f"-- {title}\n{text}\n")
    return 0
