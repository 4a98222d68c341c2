"""A minimal libpq client over ``ctypes``, for one-shot catalog reads without psycopg.

``ctas7 schema typegen`` runs once and exits: importing psycopg (and the asyncio, ssl and
metadata modules it pulls in) costs more than reading the catalog of a small database. The
catalog queries return one JSON text value each (see ``introspect``), so all this module has
to do is connect, send every statement in one simple-protocol round trip, and hand back the
first column of each result's rows as bytes, each result as it arrives (``stream``), so the
caller works on the first while the server runs the next.

libpq does the rest (URIs, ``PG*`` variables, ``.pgpass``, SCRAM, TLS, Unix sockets): the
system's ``libpq.so.5``, else the copy that the ``psycopg[binary]`` wheel ships. ``load()``
returns ``None`` when neither exists; callers then use psycopg.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from collections.abc import Generator, Iterator, Sequence
from functools import cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ctas7_panel.errors import DatabaseError, SchemaError
from ctas7_panel.settings import redact_url

_CONNECTION_OK = 0
_PGRES_COMMAND_OK = 1
_PGRES_TUPLES_OK = 2
_c_void_p = ctypes.c_void_p


def _candidates() -> list[str]:
    names = ["libpq.5.dylib", "libpq.dylib"] if sys.platform == "darwin" else ["libpq.so.5"]
    for base in sys.path:  # the psycopg[binary] wheel's own copy, without importing psycopg
        if base and os.path.isdir(os.path.join(base, "psycopg_binary.libs")):
            names += sorted(glob.glob(os.path.join(base, "psycopg_binary.libs", "libpq*")))
    return names


@cache
def load() -> ctypes.CDLL | None:
    """libpq with the few prototypes used here, or ``None`` if it is not installed."""
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        for fn, restype, argtypes in (
            ("PQconnectdb", _c_void_p, [ctypes.c_char_p]),
            ("PQstatus", ctypes.c_int, [_c_void_p]),
            ("PQerrorMessage", ctypes.c_char_p, [_c_void_p]),
            ("PQfinish", None, [_c_void_p]),
            ("PQserverVersion", ctypes.c_int, [_c_void_p]),
            ("PQsendQuery", ctypes.c_int, [_c_void_p, ctypes.c_char_p]),
            ("PQgetResult", _c_void_p, [_c_void_p]),
            ("PQresultStatus", ctypes.c_int, [_c_void_p]),
            ("PQresultErrorMessage", ctypes.c_char_p, [_c_void_p]),
            ("PQntuples", ctypes.c_int, [_c_void_p]),
            ("PQgetvalue", _c_void_p, [_c_void_p, ctypes.c_int, ctypes.c_int]),
            ("PQgetlength", ctypes.c_int, [_c_void_p, ctypes.c_int, ctypes.c_int]),
            ("PQgetisnull", ctypes.c_int, [_c_void_p, ctypes.c_int, ctypes.c_int]),
            ("PQclear", None, [_c_void_p]),
        ):
            func = getattr(lib, fn)
            func.restype = restype
            func.argtypes = argtypes
        return lib
    return None


def conninfo(url: str, *, timeout: float = 5.0) -> str:
    """``url`` with a connect timeout, UTF-8 and an application name (kept if given)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.setdefault("connect_timeout", str(max(1, round(timeout))))
    params.setdefault("client_encoding", "UTF8")
    params.setdefault("application_name", "ctas7")
    return urlunsplit(parts._replace(query=urlencode(params)))


class Connection:
    """One libpq connection. ``batch(sqls)`` runs statements in one round trip."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        lib = load()
        if lib is None:
            raise DatabaseError("libpq is not installed: use psycopg")
        self._lib = lib
        self._sent = False  # statements sent by ``send`` whose results are not read yet
        self._active: Generator[list[bytes | None], None, None] | None = None  # by ``stream``
        self._conn = lib.PQconnectdb(conninfo(url, timeout=timeout).encode())
        if not self._conn or lib.PQstatus(self._conn) != _CONNECTION_OK:
            reason = self._error() or "no memory for a connection"
            self.close()
            raise DatabaseError(
                f"cannot connect to {redact_url(url)}: {reason} "
                "(is the server running, and is the URL right?)"
            )
        self.server_version = int(lib.PQserverVersion(self._conn))

    def _error(self) -> str:
        message = self._lib.PQerrorMessage(self._conn) if self._conn else None
        lines = (message or b"").decode(errors="replace").strip().splitlines()
        return lines[0] if lines else ""

    def batch(self, statements: Sequence[str]) -> list[list[bytes | None]]:
        """Run ``statements`` (one string, one round trip); for each that returns rows, the
        first column of its rows. An error raises ``SchemaError`` with the server's message."""
        return list(self.stream(statements))

    def send(self, statements: Sequence[str]) -> None:
        """Send ``statements`` without waiting for them (a ``rollback`` at the end of a read):
        their results are read and dropped before the next statements are sent, or never, if
        the connection is closed first (a one-shot command saves the round trip)."""
        self._drain()
        if not self._lib.PQsendQuery(self._conn, ";\n".join(statements).encode()):
            raise SchemaError(f"cannot send the catalog queries: {self._error()}")
        self._sent = True

    def _drain(self) -> None:
        """Drop the results still to come: of ``send``, or of a ``stream`` left unfinished
        (a caller that raised half-way)."""
        if self._active is not None:
            self._active.close()  # its ``finally`` reads the rest
            self._active = None
        if self._sent:
            self._sent = False
            while self._conn and (res := self._lib.PQgetResult(self._conn)):
                self._lib.PQclear(res)

    def stream(self, statements: Sequence[str]) -> Iterator[list[bytes | None]]:
        """``batch``, one result at a time, as the server sends it: the caller can work on
        the first results while the server still runs the next statements. The statements
        are sent now, before the first result is asked for. An error raises ``SchemaError``
        once every result has arrived; consume the iterator to the end (or close it) before
        the next call."""
        self._drain()
        if not self._lib.PQsendQuery(self._conn, ";\n".join(statements).encode()):
            raise SchemaError(f"cannot send the catalog queries: {self._error()}")
        self._active = self._results()
        return self._active

    def _results(self) -> Generator[list[bytes | None], None, None]:
        lib = self._lib
        error: str | None = None
        try:
            while True:
                res = lib.PQgetResult(self._conn)
                if not res:
                    break
                try:
                    status = lib.PQresultStatus(res)
                    if status == _PGRES_TUPLES_OK:
                        rows: list[bytes | None] = []
                        for i in range(lib.PQntuples(res)):
                            if lib.PQgetisnull(res, i, 0):
                                rows.append(None)
                            else:
                                size = lib.PQgetlength(res, i, 0)
                                rows.append(ctypes.string_at(lib.PQgetvalue(res, i, 0), size))
                    elif status != _PGRES_COMMAND_OK and error is None:
                        message = lib.PQresultErrorMessage(res) or b""
                        error = message.decode(errors="replace").strip() or f"status {status}"
                finally:
                    lib.PQclear(res)
                if status == _PGRES_TUPLES_OK and error is None:
                    yield rows
        finally:  # drain what is left (a caller that stopped early), so the next call works
            while self._conn and (res := lib.PQgetResult(self._conn)):
                lib.PQclear(res)
        if error is not None:
            raise SchemaError(f"cannot read the database catalog: {error.splitlines()[0]}")

    def close(self) -> None:
        if self._conn:
            self._lib.PQfinish(self._conn)
            self._conn = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
