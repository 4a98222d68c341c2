"""``ctas7 schema typegen|snapshot|diff`` (and, via ``sync_cli``, ``sync|watch|install-trigger``;
via ``graph.impact_cli``, ``impact``).

Lean at import time: only ``argparse`` here; the handlers import psycopg and the generator.
Exit codes: 0 success (``diff``: 0 also when there are differences), 2 for a bad URL, an
unreachable database or an unreadable snapshot (one line on stderr saying which and why).

The database of every subcommand (``_database``, one helper): ``--db-url``, else
``CTAS7_DATABASE_URL``, else the embedded PostgreSQL in ``CTAS7_HOME/pg`` (started for the
command if it is not running, and stopped again; an already running one, e.g. the app's, is
used and left running).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ctas7_panel.errors import DatabaseError, UsageError


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, typegen_only: bool = False
) -> None:
    """Add the ``schema`` command group to the ``ctas7`` parser (``typegen_only``: just
    ``schema typegen``, the command's fast path: see ``typegen_parser``)."""
    from ctas7_panel.schema.languages import LANGUAGES
    from ctas7_panel.schema.options import SWIFT_ACCESS_CONTROLS

    parser = sub.add_parser(
        "schema",
        help="introspect a database: TypeScript types, snapshot, diff, sync",
        description="Schema introspection, Supabase-identical TypeScript types, snapshots, diffs.",
    )
    schema_sub = parser.add_subparsers(dest="schema_command", metavar="SUBCOMMAND")

    typegen = schema_sub.add_parser(
        "typegen",
        help="print the types 'supabase gen types' would print (TypeScript, Python, Go, Swift)",
        description="Generate types identical to 'supabase gen types --lang LANG'.",
    )
    _add_db_url(typegen)
    typegen.add_argument(
        "--lang",
        default="typescript",
        choices=LANGUAGES,
        help="output language (default: typescript)",
    )
    typegen.add_argument(
        "--swift-access-control",
        default="internal",
        choices=SWIFT_ACCESS_CONTROLS,
        help="access level of the Swift declarations (default: internal)",
    )
    group = typegen.add_mutually_exclusive_group()
    group.add_argument(
        "--schema",
        metavar="A,B",
        help="schemas to include, comma separated (default: public,graphql_public)",
    )
    group.add_argument("--all-schemas", action="store_true", help="include every non-system schema")
    typegen.add_argument(
        "--no-detect-one-to-one",
        dest="detect_one_to_one",
        action="store_false",
        help="do not emit isOneToOne in relationships",
    )
    typegen.add_argument(
        "--postgrest-version",
        metavar="V",
        help="emit the __InternalSupabase block for this PostgREST version",
    )
    typegen.add_argument(
        "--pg-meta-version",
        choices=("0.98.0", "0.99.0"),
        default="0.99.0",
        help="match this release of Supabase's generator (postgres-meta), byte for byte "
        "(default: 0.99.0, the newest)",
    )
    typegen.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE atomically instead of stdout"
    )
    typegen.set_defaults(handler=typegen_handler)
    if typegen_only:
        return

    snapshot = schema_sub.add_parser(
        "snapshot",
        help="write the canonical JSON snapshot of a database's schema",
        description="Write the canonical snapshot (and print its fingerprint).",
    )
    _add_db_url(snapshot)
    snapshot.add_argument(
        "--schema", metavar="A,B", help="schemas to include (default: public,graphql_public)"
    )
    snapshot.add_argument(
        "--all-schemas", action="store_true", help="include every non-system schema"
    )
    snapshot.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="snapshot file to write"
    )
    snapshot.set_defaults(handler=snapshot_handler)

    diff = schema_sub.add_parser(
        "diff",
        help="compare two schemas (snapshot files or postgresql:// URLs)",
        description="Show what changed between OLD and NEW. Each is a snapshot file (written by "
        "'ctas7 schema snapshot', or the record 'ctas7 schema sync' keeps next to the hash "
        "cache, e.g. .last_schema_hash.snapshot.json) or a postgresql:// URL; without NEW, "
        "OLD is compared with the live database (--db-url, CTAS7_DATABASE_URL or embedded).",
    )
    diff.add_argument("old", metavar="OLD", help="snapshot file or postgresql:// URL")
    diff.add_argument(
        "new",
        metavar="NEW",
        nargs="?",
        help="snapshot file or postgresql:// URL (default: the live database)",
    )
    _add_db_url(diff)
    diff.add_argument(
        "--schema",
        metavar="A,B",
        help="schemas to read from a URL (default: public,graphql_public)",
    )
    diff.add_argument(
        "--all-schemas", action="store_true", help="read every non-system schema from a URL"
    )
    diff.add_argument("--json", action="store_true", help="print the diff as JSON")
    diff.set_defaults(handler=diff_handler)

    from ctas7_panel.schema import sync_cli

    sync_cli.register(schema_sub)

    from ctas7_panel.graph.impact_cli import add_parser as add_impact_parser

    add_impact_parser(schema_sub)


def typegen_parser() -> argparse.ArgumentParser:
    """A ``ctas7`` parser that knows only ``schema typegen``.

    ``ctas7 schema typegen`` is run by scripts and watchers, often, and should start fast:
    ``ctas7_panel.cli.main`` uses this parser when the command line starts with
    ``schema typegen``, so no other command module (asyncio, the sync node, ...) is imported.
    """
    parser = argparse.ArgumentParser(prog="ctas7")
    register(parser.add_subparsers(dest="command", metavar="COMMAND"), typegen_only=True)
    return parser


def _add_db_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db-url",
        metavar="URL",
        help="postgresql:// URL of the database (default: CTAS7_DATABASE_URL, else the embedded "
        "PostgreSQL in CTAS7_HOME/pg)",
    )


def _database(args: argparse.Namespace, settings: Any) -> contextlib.AbstractContextManager[str]:
    """The database of a one-shot command: ``--db-url``, ``CTAS7_DATABASE_URL`` or embedded."""
    from ctas7_panel.embedded import database_url

    url = getattr(args, "db_url", None) or getattr(settings, "database_url", None)
    return database_url(url, settings.home, what="--db-url")


def _options(args: argparse.Namespace) -> Any:
    from ctas7_panel.schema.options import TypegenOptions

    return TypegenOptions.from_schema_list(
        getattr(args, "schema", None),
        all_schemas=bool(getattr(args, "all_schemas", False)),
        detect_one_to_one=getattr(args, "detect_one_to_one", True),
        postgrest_version=getattr(args, "postgrest_version", None),
        pg_meta_version=getattr(args, "pg_meta_version", "0.99.0"),
        swift_access_control=getattr(args, "swift_access_control", "internal"),
    )


def _read_catalog(
    url: str,
    options: Any,
    *,
    details: bool = True,
    type_list: bool = False,
    then_import: tuple[str, ...] = (),
) -> Any:
    """Connect and introspect; an unreachable database becomes a usage-level error (exit 2).

    ``then_import``: modules the caller needs next, imported in a background thread while
    this one waits for the server's answers (saves their import time from the wall clock).
    """
    import threading

    from ctas7_panel.schema import pqlite
    from ctas7_panel.schema.introspect import introspect

    try:
        if pqlite.load() is not None:  # plain libpq: no psycopg import for a one-shot read
            conn: Any = pqlite.Connection(url)
        else:
            from ctas7_panel import pgtools

            conn = pgtools.connect(url)
    except DatabaseError as exc:
        raise UsageError(str(exc)) from exc
    loader = threading.Thread(target=_import_all, args=(then_import,), daemon=True)
    if then_import:
        loader.start()
    try:
        return introspect(conn, options, details=details, type_list=type_list)
    finally:
        conn.close()
        if then_import:
            loader.join()


def _import_all(names: tuple[str, ...]) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


def typegen_handler(args: argparse.Namespace, settings: Any) -> int:
    """``ctas7 schema typegen``: print or write the TypeScript types."""
    from ctas7_panel.gcpause import gc_paused

    # one-shot: no collector passes over imports, introspection, generation
    with gc_paused(), _database(args, settings) as url:
        return _typegen(args, settings, url)


def _typegen(args: argparse.Namespace, settings: Any, url: str) -> int:
    from ctas7_panel.schema.languages import needs_type_list, render

    options = _options(args)
    language = getattr(args, "lang", "typescript")
    generator = "typegen" if language == "typescript" else f"typegen_{language}"
    catalog = _read_catalog(
        url,
        options,
        details=False,
        type_list=needs_type_list(language),
        then_import=(f"ctas7_panel.schema.{generator}", "ctas7_panel.atomic"),
    )
    result = render(language, catalog, options)
    text = result.text
    if result.deviations:
        print(
            f"ctas7: this {language} output differs from Supabase's in "
            f"{len(result.deviations)} place(s) where Supabase's would crash or not compile "
            f"(docs/typegen.md); first: {result.deviations[0]}",
            file=sys.stderr,
        )
    if args.output:
        from ctas7_panel.atomic import atomic_write

        atomic_write(args.output, text.encode())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def snapshot_handler(args: argparse.Namespace, settings: Any) -> int:
    """``ctas7 schema snapshot``: write the canonical snapshot, print its fingerprint."""
    options = _options(args)
    with _database(args, settings) as url:
        catalog = _read_catalog(url, options)
    from ctas7_panel.atomic import atomic_write
    from ctas7_panel.schema.snapshot import canonical_json, fingerprint, to_snapshot

    snap = to_snapshot(catalog)
    atomic_write(args.output, canonical_json(snap) + b"\n")
    print(f"{fingerprint(snap)}  {args.output}")
    return 0


def _load_side(source: str, options: Any) -> dict[str, Any]:
    from ctas7_panel.schema.snapshot import load_snapshot, to_snapshot

    if "://" in source:
        from ctas7_panel.pgtools import check_url

        return to_snapshot(_read_catalog(check_url(source), options))
    from ctas7_panel.errors import ArtifactError

    try:
        return load_snapshot(source)
    except ArtifactError as exc:
        raise UsageError(str(exc)) from exc


def diff_handler(args: argparse.Namespace, settings: Any) -> int:
    """``ctas7 schema diff OLD [NEW]``: print what changed, as text or JSON."""
    options = _options(args)
    old = _load_side(args.old, options)
    if args.new is None:
        from ctas7_panel.schema.snapshot import to_snapshot

        with _database(args, settings) as url:
            new = to_snapshot(_read_catalog(url, options))
    else:
        new = _load_side(args.new, options)
    from ctas7_panel.schema.diff import diff_snapshots

    result = diff_snapshots(old, new)
    if args.json:
        import orjson

        sys.stdout.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(result.to_text())
    return 0
