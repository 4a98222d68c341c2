"""``SchemaHasher``: a database's schema fingerprint, read incrementally.

The fingerprint is ``sha256(canonical_json(to_snapshot(introspect(...))))`` (``snapshot``).
Reading a big catalog from scratch costs hundreds of milliseconds (1000 tables: every column,
constraint definition and index definition deparsed by the server). ``SchemaHasher`` keeps
an ``IncrementalReader`` (``introspect_incremental``): each call asks one query for the
catalog's version per relation; when nothing moved it returns the last result, after a DDL
it reads again only the relations whose catalog rows changed and their dependents (a full
read only when something other than relations changed: types, functions, schemas, a rename,
...). The result is always the from-scratch fingerprint and snapshot (tests try random DDL
sequences against a full read). Works over psycopg and over ``pqlite``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctas7_panel.schema.introspect_incremental import IncrementalReader
from ctas7_panel.schema.model import Catalog
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Hashed:
    """A schema as last read: its catalog, snapshot and fingerprint."""

    catalog: Catalog
    snapshot: Snapshot
    fingerprint: str


class SchemaHasher:
    """Fingerprints of one database (one connection at a time), read incrementally.

    ``reads`` counts the reads done so far (full or partial); ``full_reads`` and
    ``partial_reads`` tell them apart.
    """

    def __init__(self, options: TypegenOptions | None = None) -> None:
        self.options = options or TypegenOptions()
        self._reader = IncrementalReader(self.options)
        self._last: Hashed | None = None

    @property
    def reads(self) -> int:
        return self._reader.full_reads + self._reader.partial_reads

    @property
    def full_reads(self) -> int:
        return self._reader.full_reads

    @property
    def partial_reads(self) -> int:
        return self._reader.partial_reads

    def inspect(self, conn: Any) -> Hashed:
        """The schema's catalog, snapshot and fingerprint; cached while nothing changed."""
        read = self._reader.read(conn)
        last = self._last
        if last is not None and read.kind == "cached" and read.snapshot is last.snapshot:
            return last
        self._last = Hashed(read.catalog, read.snapshot, read.fingerprint)
        return self._last

    def fingerprint(self, conn: Any) -> str:
        return self.inspect(conn).fingerprint

    def forget(self) -> None:
        """Read from scratch next time (e.g. after reconnecting to another server)."""
        self._reader.forget()
        self._last = None
