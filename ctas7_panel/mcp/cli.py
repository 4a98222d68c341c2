"""``ctas7 mcp [--http [--port P]] [--allow-writes]``: the MCP server (lean at import time:
the SDK is imported by the handler only)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ctas7_panel.errors import UsageError

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings

DEFAULT_PORT = 8005


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "mcp",
        help="Model Context Protocol server: the live schema and telemetry for AI agents",
        description="Serve the schema (status, tables, types, versions, diffs) and the "
        "telemetry (events, metrics, dead letters, audit) to MCP clients, with live "
        "notifications. Over stdio by default (what desktop clients spawn), or streamable HTTP "
        "at http://CTAS7_BIND:PORT/mcp with --http.",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP, not stdio")
    parser.add_argument(
        "--port", type=int, default=None, help=f"HTTP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="offer replay_dead_letters (callers also need CTAS7_ADMIN_TOKEN)",
    )
    parser.set_defaults(handler=cmd_mcp)


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    if args.port is not None and not args.http:
        raise UsageError("--port is for --http: add --http, or drop --port for stdio")
    port = DEFAULT_PORT if args.port is None else args.port
    if not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port: give 1 to 65535")
    if args.allow_writes and not settings.admin_token:
        raise UsageError(
            "--allow-writes needs CTAS7_ADMIN_TOKEN: writes are for callers holding it"
        )
    from ctas7_panel.mcp.runners import run

    return run(
        settings,  # the artifacts where the app and every command keep them
        http=args.http,
        port=port,
        allow_writes=args.allow_writes,
    )
