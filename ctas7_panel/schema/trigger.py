"""The DDL event trigger feeding ``LISTEN ctas7_schema`` (``ctas7 schema install-trigger``).

Two event triggers (``ddl_command_end`` and ``sql_drop``) call
``ctas7_meta.notify_schema_change()``, which sends ``NOTIFY ctas7_schema, '<event>:<tag>'``.
The SQL is in ``sql/*.sql`` (loaded once with ``importlib.resources``); both scripts are
idempotent and run in one transaction.
Event triggers need a superuser (on Supabase, the ``postgres`` role): without one the error says
so, and the watcher still works through its polling fallback and Supabase's ``pgrst`` channel.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import psycopg

from ctas7_panel import pgtools
from ctas7_panel.errors import DatabaseError
from ctas7_panel.settings import redact_url

CHANNEL = "ctas7_schema"
PGRST_CHANNEL = "pgrst"
TRIGGER_NAMES = ("ctas7_schema_ddl_end", "ctas7_schema_sql_drop")


@cache
def _sql(name: str) -> str:
    return (resources.files(__package__) / "sql" / name).read_text(encoding="utf-8")


def install_sql() -> str:
    return _sql("trigger_install.sql")


def uninstall_sql() -> str:
    return _sql("trigger_uninstall.sql")


def _run(url: str, text: str, what: str) -> None:
    with pgtools.connect(url, autocommit=False) as conn:
        try:
            conn.execute(text.encode())
            conn.commit()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise DatabaseError(
                f"cannot {what} the ctas7 schema event trigger on {redact_url(url)}: "
                f"{exc.diag.message_primary or exc} (event triggers need a superuser; on "
                "Supabase connect as postgres; without it the watcher falls back to polling)"
            ) from exc
        except psycopg.Error as exc:
            raise DatabaseError(
                f"cannot {what} the ctas7 schema event trigger on {redact_url(url)}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from exc


def install(url: str) -> None:
    """Install (or upgrade) the event triggers; running it twice changes nothing."""
    _run(url, install_sql(), "install")


def uninstall(url: str) -> None:
    """Remove the event triggers and their function; a no-op when they are not there."""
    _run(url, uninstall_sql(), "uninstall")


def installed(url: str) -> bool:
    """True when both event triggers exist and are enabled."""
    with pgtools.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_event_trigger WHERE evtname = ANY(%s) AND evtenabled <> 'D'",
            (list(TRIGGER_NAMES),),
        ).fetchone()
    return row is not None and int(row[0]) == len(TRIGGER_NAMES)
