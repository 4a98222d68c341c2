"""``SchemaHasher``: a database's schema fingerprint, re-read only when its catalog changed.

The fingerprint is ``sha256(canonical_json(to_snapshot(introspect(...))))`` (``snapshot``).
Reading a big catalog from scratch costs hundreds of milliseconds (1000 tables: every column,
constraint definition and index definition deparsed by the server); asking whether anything
changed costs one small query (``queries/catalog_version.sql``: a count and a sum of row
version hashes per catalog). ``SchemaHasher.inspect`` asks first and re-reads only when the
answer moved, so a watcher that hashes every few seconds pays the small query, and the full
read only after DDL. The version is taken *before* the read, so a change racing with it is
seen on the next call. Works over psycopg and over ``pqlite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctas7_panel.schema.introspect import introspect, query_text
from ctas7_panel.schema.model import Catalog
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.pqlite import Connection as LibpqConnection
from ctas7_panel.schema.snapshot import Snapshot, fingerprint, to_snapshot


@dataclass(frozen=True, slots=True)
class Hashed:
    """A schema as last read: its catalog, snapshot and fingerprint."""

    catalog: Catalog
    snapshot: Snapshot
    fingerprint: str


def catalog_version(conn: Any) -> str:
    """The catalog's version string (changes with any DDL; see the query)."""
    sql = query_text("catalog_version")
    if isinstance(conn, LibpqConnection):
        value = conn.batch([sql])[0][0]
        return (value or b"").decode()
    row = conn.execute(sql.encode()).fetchone()
    return "" if row is None else str(row[0])


class SchemaHasher:
    """Fingerprints of one database (one connection at a time), read again only on change.

    ``reads`` counts the full introspections done so far.
    """

    def __init__(self, options: TypegenOptions | None = None) -> None:
        self.options = options or TypegenOptions()
        self.reads = 0
        self._version: str | None = None
        self._last: Hashed | None = None

    def inspect(self, conn: Any) -> Hashed:
        """The schema's catalog, snapshot and fingerprint; cached while nothing changed."""
        version = catalog_version(conn)
        if self._last is not None and version == self._version:
            return self._last
        catalog = introspect(conn, self.options)
        snapshot = to_snapshot(catalog)
        self._last = Hashed(catalog, snapshot, fingerprint(snapshot))
        self._version = version
        self.reads += 1
        return self._last

    def fingerprint(self, conn: Any) -> str:
        return self.inspect(conn).fingerprint

    def forget(self) -> None:
        """Read from scratch next time (e.g. after reconnecting to another server)."""
        self._version = None
        self._last = None
