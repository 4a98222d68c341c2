"""``ctas7 schema sync|watch|install-trigger``: the Schema Sync Node on the command line.

- ``sync``: one pass; prints its event as one JSON line. Exit 0 when updated, unchanged or a
  hand-edited types file was restored; 1 on ``schema_error``.
- ``watch``: runs until SIGTERM/SIGINT; prints each event (``--json``: one JSON line each).
- ``install-trigger``: installs the DDL event trigger (``--uninstall`` removes it); idempotent.

All take ``--db-url`` (default ``CTAS7_DATABASE_URL``; unset: the embedded PostgreSQL in
``CTAS7_HOME/pg``), ``--schema-path`` (``CTAS_SCHEMA_PATH``) and ``--hash-cache``
(``CTAS_HASH_CACHE_PATH``). Heavy imports happen inside the handlers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctas7_panel.events import Event
    from ctas7_panel.schema.sync import SchemaSyncNode, SyncConfig
    from ctas7_panel.settings import Settings


def register(schema_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the sync subcommands to the ``ctas7 schema`` group."""
    sync = schema_sub.add_parser(
        "sync",
        help="one sync pass: regenerate the types if the schema changed; print the event",
        description="Introspect the database, compare its fingerprint with the hash cache and, "
        "if it changed (or the cache/snapshot is missing or corrupt), rewrite the types file, "
        "the snapshot and the hash cache atomically. Prints the event (schema_updated, "
        "schema_nochange, schema_artifact_modified or schema_error) as JSON; exit 1 on error.",
    )
    _common(sync)
    _typegen(sync)
    sync.set_defaults(handler=cmd_sync)

    watch = schema_sub.add_parser(
        "watch",
        help="keep the types in step: LISTEN for DDL, poll, debounce, reconnect",
        description="Watch the database (LISTEN ctas7_schema and pgrst, polling fallback) and "
        "the artifacts; sync on every change. One watcher per database is active (advisory "
        "lock); others stand by. Stops cleanly on SIGTERM or SIGINT.",
    )
    _common(watch)
    _typegen(watch)
    watch.add_argument("--json", action="store_true", help="one JSON line per event on stdout")
    watch.add_argument(
        "--poll-interval",
        type=_seconds,
        metavar="S",
        help="polling fallback in seconds (default CTAS7_POLL_INTERVAL, 5)",
    )
    watch.add_argument(
        "--debounce",
        type=_seconds,
        metavar="S",
        help="quiet time after a DDL notification before syncing (default 0.05)",
    )
    watch.add_argument("--retry-max", type=_seconds, metavar="S", help=argparse.SUPPRESS)
    watch.add_argument(
        "--no-watch-artifacts",
        dest="watch_artifacts",
        action="store_false",
        help="do not restore hand-edited or deleted artifacts",
    )
    watch.set_defaults(handler=cmd_watch)

    trig = schema_sub.add_parser(
        "install-trigger",
        help="install the DDL event trigger that notifies ctas7_schema (needs a superuser)",
        description="Install (idempotent) the event triggers on ddl_command_end and sql_drop "
        "that NOTIFY ctas7_schema, with their function in schema ctas7_meta.",
    )
    trig.add_argument("--db-url", metavar="URL", help="default: CTAS7_DATABASE_URL or embedded")
    trig.add_argument("--uninstall", action="store_true", help="remove them instead")
    trig.set_defaults(handler=cmd_install_trigger)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db-url", metavar="URL", help="default: CTAS7_DATABASE_URL or embedded")
    p.add_argument("--schema-path", metavar="FILE", help="types file (default CTAS_SCHEMA_PATH)")
    p.add_argument("--hash-cache", metavar="FILE", help="hash cache (default CTAS_HASH_CACHE_PATH)")
    p.add_argument(
        "--snapshot",
        metavar="FILE",
        help="snapshot for diffs (default: <hash cache>.snapshot.json)",
    )
    p.add_argument(
        "--typegen-command",
        metavar="CMD",
        help="external generator whose stdout is the types file (default CTAS7_TYPEGEN_COMMAND); "
        "{db_url} and {project_id} are filled in",
    )


def _typegen(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--schema", metavar="A,B", help="schemas to include (default public,graphql_public)"
    )
    p.add_argument("--all-schemas", action="store_true", help="every non-system schema")
    p.add_argument(
        "--no-detect-one-to-one",
        dest="detect_one_to_one",
        action="store_false",
        help="omit isOneToOne in relationships",
    )
    p.add_argument("--postgrest-version", metavar="V", help="emit the __InternalSupabase block")


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive number of seconds")
    return value


# --- handlers ----------------------------------------------------------------------------------


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    with _database(args, settings) as url:
        config = _config(args, settings, url)
        event = asyncio.run(_sync(config, settings))
    sys.stdout.write(event.to_json().decode() + "\n")
    sys.stdout.flush()
    return 1 if event.event_type == "schema_error" else 0


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    with _database(args, settings) as url:
        extra = {
            "poll_interval": args.poll_interval,
            "debounce": args.debounce,
            "retry_max": args.retry_max,
            "watch_artifacts": args.watch_artifacts,
        }
        config = _config(args, settings, url, **extra)
        asyncio.run(_watch(config, settings, as_json=args.json))
    return 0


def cmd_install_trigger(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel.schema import trigger

    with _database(args, settings) as url:
        if args.uninstall:
            trigger.uninstall(url)
            print("ctas7 schema event trigger removed", file=sys.stderr)
        else:
            trigger.install(url)
            print(
                f"ctas7 schema event trigger installed: DDL now notifies {trigger.CHANNEL}",
                file=sys.stderr,
            )
    return 0


# --- plumbing ----------------------------------------------------------------------------------


def _database(
    args: argparse.Namespace, settings: Settings
) -> contextlib.AbstractContextManager[str]:
    """The database URL: ``--db-url``, ``CTAS7_DATABASE_URL``, or the embedded server."""
    from ctas7_panel.embedded import database_url

    return database_url(args.db_url or settings.database_url, settings.home, what="--db-url")


def _config(args: argparse.Namespace, settings: Settings, url: str, **extra: Any) -> SyncConfig:
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.sync import SyncConfig

    options = TypegenOptions.from_schema_list(
        args.schema,
        all_schemas=args.all_schemas,
        detect_one_to_one=args.detect_one_to_one,
        postgrest_version=args.postgrest_version,
    )
    return SyncConfig.from_settings(
        settings,
        url,
        schema_path=args.schema_path,
        hash_cache_path=args.hash_cache,
        snapshot_path=args.snapshot,
        typegen_command=args.typegen_command,
        typegen_options=None if options == TypegenOptions() else options,
        **extra,
    )


@contextlib.asynccontextmanager
async def _node(
    config: SyncConfig, settings: Settings, on_event: Any = None
) -> AsyncIterator[SchemaSyncNode]:
    """A node wired to the configured store and (unless in-memory) bus (``build_services``)."""
    from ctas7_panel.runtime import Parts, build_services
    from ctas7_panel.schema.sync import SchemaSyncNode

    in_memory = settings.bus_url.startswith("memory")  # nobody else would hear it
    async with build_services(settings, Parts.store_and_bus(bus=not in_memory)) as services:
        node = SchemaSyncNode(config, bus=services.bus, store=services.store, on_event=on_event)
        async with node:
            yield node


async def _sync(config: SyncConfig, settings: Settings) -> Event:
    async with _node(config, settings) as node:
        return await node.sync()


async def _watch(config: SyncConfig, settings: Settings, *, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def show(event: Event) -> None:
        line = event.to_json().decode() if as_json else describe(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        async with _node(config, settings, on_event=show) as node:
            await node.watch(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def describe(event: Event) -> str:
    """One human line for an event."""
    p = event.payload
    when = time.strftime("%H:%M:%S", time.localtime(event.timestamp))
    kind = event.event_type
    if kind == "schema_updated":
        old = (p.get("old_hash") or "none")[:12]
        diff = f" ({_diff_line(p['diff'])})" if p.get("diff") else f" ({p.get('reason')})"
        written = "" if p.get("types_written", True) else " types unchanged"
        detail = f"{old} -> {p['new_hash'][:12]}, {p['table_count']} tables{written}{diff}"
    elif kind == "schema_nochange":
        detail = f"{p['new_hash'][:12]}, {p['table_count']} tables"
    elif kind == "schema_error":
        retry = f", retry in {p['retry_in_s']:g} s" if p.get("retry_in_s") is not None else ""
        detail = f"{p['stage']}: {p['error']}{retry}"
    elif kind == "schema_artifact_modified":
        detail = f"{p['path']} {p['change']}, {'restored' if p.get('restored') else 'NOT restored'}"
    elif kind == "schema_watcher":
        detail = f"{p.get('watcher_id')} {p.get('state')}"
    else:
        detail = str(p)
    return f"{when} {kind} {detail}"


def _diff_line(summary: Any) -> str:
    """``+2 ~1 -0: public.tasks.note, ...`` from a diff summary."""
    if not isinstance(summary, dict):
        return str(summary)
    names = [
        n
        for k, v in summary.items()
        if k.endswith(("_added", "_removed", "_changed")) and isinstance(v, list)
        for n in v
    ]
    counts = f"+{summary.get('added', 0)} ~{summary.get('changed', 0)} -{summary.get('removed', 0)}"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"{counts}: {shown}" if shown else counts
