"""``ctas7 db url|stop``: the database the project uses, for psql and other tools.

- ``url``: prints the URL of the database every command uses: ``--db-url`` /
  ``CTAS7_DATABASE_URL`` when set, else the embedded PostgreSQL in ``CTAS7_HOME/pg``, started
  (and migrated) if it is not running and left running, so ``psql "$(ctas7 db url)"`` works.
- ``stop``: stops the embedded server (refused while the app still uses it, unless ``--force``).

Lean at import time; the handlers import the embedded wheel.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``db`` command group to the ``ctas7`` parser."""
    from ctas7_panel.cli import needs_subcommand

    parser = sub.add_parser(
        "db",
        help="the project's database: print its URL (starting the embedded one), stop it",
        description="The database every ctas7 command uses: CTAS7_DATABASE_URL, else the "
        "embedded PostgreSQL in CTAS7_HOME/pg.",
    )
    needs_subcommand(parser)
    db_sub = parser.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    url = db_sub.add_parser(
        "url",
        help='print the database URL; start the embedded server if needed (psql "$(ctas7 db url)")',
        description="Print the URL of the project's database. With no CTAS7_DATABASE_URL, the "
        "embedded PostgreSQL is started if it is not running, and left running.",
    )
    url.add_argument("--db-url", metavar="URL", help=argparse.SUPPRESS)
    url.add_argument(
        "--no-start",
        action="store_true",
        help="do not start the embedded server: exit 1 if it is not running",
    )
    url.set_defaults(handler=cmd_url)
    stop = db_sub.add_parser(
        "stop",
        help="stop the embedded PostgreSQL",
        description="Stop the embedded PostgreSQL of CTAS7_HOME (refused while the app uses it).",
    )
    stop.add_argument("--force", action="store_true", help="stop it even if the app uses it")
    stop.set_defaults(handler=cmd_stop)


def cmd_url(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel import embedded, pgtools

    configured = args.db_url or settings.database_url
    if configured:
        print(pgtools.check_url(configured, what="database URL"))
        return 0
    if args.no_start:
        running = embedded.running_url(settings.home)
        if running is None:
            print(
                f"ctas7 db: the embedded postgres in {embedded.pgdata_of(settings.home)} "
                "is not running",
                file=sys.stderr,
            )
            return 1
        print(running)
        return 0
    print(embedded.ensure_running(settings.home))
    return 0


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    from ctas7_panel import embedded

    where = embedded.pgdata_of(settings.home)
    if embedded.stop_server(settings.home, force=args.force):
        print(f"ctas7 db: embedded postgres in {where} stopped", file=sys.stderr)
    else:
        print(f"ctas7 db: embedded postgres in {where} was not running", file=sys.stderr)
    return 0
