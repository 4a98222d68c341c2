"""``ctas7 schema impact TARGET``: what dropping or changing something would break.

TARGET is ``[schema.]table[.column]``, ``[schema.]type``, ``[schema.]function[(args)]`` or a
migration file (``*.sql``, applied on a scratch copy of the schema in a transaction that is
rolled back). The database is ``--db-url``, else ``CTAS7_DATABASE_URL``, else the embedded one.
``--from-graph`` answers from the SurrealDB mirror (``CTAS_DB_URL``, or ``--graph-url``)
through SurrealQL and prints exactly what the in-process analysis prints.

Exit codes: 0 (1 with ``--fail-on-breaking`` when something breaks), 2 for an unknown target,
a bad URL or an unreadable migration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ctas7_panel.errors import UsageError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``impact`` subcommand of ``ctas7 schema``."""
    p = sub.add_parser(
        "impact",
        help="what depends on a table, column, type or migration, by kind and hop",
        description=(
            "List what depends on TARGET (views, functions, policies, triggers, foreign keys, "
            "sequences, Legion tasks, types files), transitively, by hop; BREAKING marks what "
            "would fail or need CASCADE."
        ),
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        help="[schema.]table[.column], [schema.]type, [schema.]function[(args)] or FILE.sql",
    )
    p.add_argument(
        "--db-url",
        metavar="URL",
        help="postgresql:// URL (default: CTAS7_DATABASE_URL, else the embedded database)",
    )
    p.add_argument(
        "--from-graph",
        action="store_true",
        help="answer from the SurrealDB mirror (CTAS_DB_URL) through SurrealQL",
    )
    p.add_argument("--graph-url", metavar="URL", help="the mirror (default: CTAS_DB_URL)")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--schema", metavar="A,B", help="schemas to read (default: public,graphql_public)"
    )
    group.add_argument("--all-schemas", action="store_true", help="read every non-system schema")
    p.add_argument("--max-hops", type=int, default=None, metavar="N", help="stop after N hops")
    p.add_argument(
        "--tasks",
        metavar="FILE",
        help="Legion task manifest (default: <hash cache>.legion_tasks.json when present)",
    )
    p.add_argument(
        "--types-file",
        action="append",
        default=[],
        metavar="PATH",
        help="a generated types file (repeatable; default: CTAS_SCHEMA_PATH when it exists)",
    )
    p.add_argument("--json", action="store_true", help="print the impact as JSON")
    p.add_argument(
        "--fail-on-breaking", action="store_true", help="exit 1 when something would break"
    )
    p.set_defaults(handler=impact_handler)


def is_migration(target: str) -> bool:
    return target.lower().endswith(".sql") or Path(target).is_file()


def impact_handler(args: argparse.Namespace, settings: Any) -> int:
    from ctas7_panel.graph.impact import DEFAULT_MAX_HOPS, render

    max_hops = DEFAULT_MAX_HOPS if args.max_hops is None else int(args.max_hops)
    if max_hops < 1:
        raise UsageError(f"--max-hops {max_hops}: give 1 or more")
    impact = _impact(args, settings, max_hops)
    if args.json:
        import orjson

        from ctas7_panel.graph.impact import to_dict

        sys.stdout.write(orjson.dumps(to_dict(impact), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render(impact))
    sys.stdout.flush()
    return 1 if args.fail_on_breaking and impact.breaking else 0


def _inputs(args: argparse.Namespace, settings: Any) -> Any:
    from ctas7_panel.graph.live import GraphInputs
    from ctas7_panel.schema.options import TypegenOptions

    options = TypegenOptions.from_schema_list(args.schema, all_schemas=bool(args.all_schemas))
    return GraphInputs.from_settings(
        settings, tasks_file=args.tasks, types_files=args.types_file, options=options
    )


def _impact(args: argparse.Namespace, settings: Any, max_hops: int) -> Any:
    from ctas7_panel.graph import impact as im

    target = str(args.target)
    if is_migration(target):
        changes, after_fp, before = _migration(args, settings, target)
        label = f"migration {Path(target).name}"
        if args.from_graph:
            return _remote(args, settings, lambda r: r.impact_of_changes(
                changes, target=label, to_fingerprint=after_fp, max_hops=max_hops
            ))  # fmt: skip
        return im.impact_of_changes(
            before, changes, target=label, to_fingerprint=after_fp, max_hops=max_hops
        )
    if args.from_graph:
        return _remote(args, settings, lambda r: r.impact_of(target, max_hops=max_hops))
    graph = live_graph(args, settings)
    return im.impact_of(graph, target, max_hops=max_hops)


def live_graph(args: argparse.Namespace, settings: Any) -> Any:
    """The schema graph of the live database (``--db-url``, CTAS7_DATABASE_URL or embedded);
    shared by ``ctas7 graph impact`` and ``ctas7 graph sync``."""
    from ctas7_panel import embedded, pgtools
    from ctas7_panel.errors import DatabaseError
    from ctas7_panel.graph.live import read_graph

    inputs = _inputs(args, settings)
    with embedded.database_url(args.db_url or settings.database_url, settings.home) as url:
        try:
            conn = pgtools.connect(url)
        except DatabaseError as exc:
            raise UsageError(str(exc)) from exc
        with conn:
            graph, _ = read_graph(conn, inputs)
    return graph


def _migration(args: argparse.Namespace, settings: Any, path: str) -> tuple[Any, Any, Any]:
    from ctas7_panel import embedded
    from ctas7_panel.graph.impact import graph_changes
    from ctas7_panel.graph.scratch import migration_graphs, read_migration

    text = read_migration(path)
    inputs = _inputs(args, settings)
    with embedded.database_url(args.db_url or settings.database_url, settings.home) as url:
        before, after = migration_graphs(url, text, inputs, name=Path(path).name)
    return graph_changes(before, after), after.fingerprint, before


def _remote(args: argparse.Namespace, settings: Any, ask: Any) -> Any:
    import asyncio

    from ctas7_panel.graph.remote import RemoteGraph
    from ctas7_panel.graph.store import GraphStore

    url = args.graph_url or getattr(settings, "graph_url", None)
    if not url:
        raise UsageError(
            "--from-graph needs the SurrealDB mirror: set CTAS_DB_URL (surrealkv://PATH, mem:// "
            "or ws://HOST:8000) or pass --graph-url, after 'ctas7 graph sync'"
        )

    async def run() -> Any:
        async with GraphStore(str(url)) as store:
            return await ask(RemoteGraph(store))

    return asyncio.run(run())
