"""Small, synchronous PostgreSQL helpers shared by the CLI, fixtures and benchmarks.

Thin I/O over psycopg 3: connect with a clear error, create and drop throwaway databases,
apply SQL files. Nothing here imports Panel, Bokeh or pandas.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from ctas7_panel.errors import DatabaseError, UsageError
from ctas7_panel.settings import redact_url as redact

if TYPE_CHECKING:  # psycopg is imported by the functions that use it: check_url stays cheap
    import psycopg

_URL_SCHEMES = ("postgresql", "postgres")


def check_url(url: str, *, what: str = "database URL") -> str:
    """Return ``url`` if it is a ``postgresql://`` URL, else raise ``UsageError`` naming it."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in _URL_SCHEMES:
        raise UsageError(f"bad {what} {redact(url)!r}: expected postgresql://user@host:port/dbname")
    return url


def connect(url: str, *, autocommit: bool = True, timeout: float = 5.0) -> psycopg.Connection:
    """Open a connection, or raise ``DatabaseError`` saying which database and why."""
    import psycopg

    check_url(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(
            f"cannot connect to {redact(url)}: {reason} "
            "(is the server running, and is the URL right?)"
        ) from exc


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    """The database named by a URL (``postgres`` when none is given)."""
    path = urlsplit(url).path.lstrip("/")
    return path or "postgres"


_SAFE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_database(admin_url: str, name: str | None = None, *, prefix: str = "ctas7_t_") -> str:
    """Create a fresh, empty database on the server of ``admin_url``; return its URL."""
    name = name or f"{prefix}{secrets.token_hex(6)}"
    if not _SAFE_NAME.match(name):
        raise UsageError(f"bad database name {name!r}: use lowercase letters, digits and _")
    from psycopg import sql

    with connect(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop a database, disconnecting its sessions first (PostgreSQL >= 13)."""
    from psycopg import sql

    with connect(admin_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_exists(admin_url: str, name: str) -> bool:
    with connect(admin_url) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def apply_sql(url: str, text: str) -> None:
    """Run a SQL script (several statements) in one transaction."""
    with connect(url, autocommit=False) as conn:
        conn.execute(text.encode())  # bytes: no client-side placeholder parsing
        conn.commit()


@contextmanager
def temporary_database(admin_url: str, *, prefix: str = "ctas7_t_") -> Iterator[str]:
    """A fresh database for the duration of a ``with`` block, dropped afterwards."""
    url = create_database(admin_url, prefix=prefix)
    try:
        yield url
    finally:
        drop_database(admin_url, database_name(url))
