"""Where Legion's table registry comes from: the snapshot file (through the one loader), or the
live database while no sync has written one yet.

``SnapshotLoader.load(new_hash, ...)`` runs in a worker thread. The parse of a file is cached by
the file's identity (inode, size, mtime): the sync node replaces the file atomically, so a new
schema is a new inode, and a reload after the watcher's prefetch costs no parse. The file's own
fingerprint is the truth about what it holds (a newer sync may already have replaced the
snapshot an event announced).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ctas7_panel.errors import Ctas7Error
from ctas7_panel.gcpause import gc_paused
from ctas7_panel.legion.registry import TableRegistry, registry_from_snapshot
from ctas7_panel.legion.watch import artifact_hash
from ctas7_panel.schema.snapshot_file import read_snapshot_file

log = logging.getLogger(__name__)

_Identity = tuple[str, int, int, int]  # path, inode, size, mtime_ns


class SnapshotLoader:
    """Reads registries for one engine: its snapshot file, hash cache and database."""

    def __init__(
        self, database_url: str, snapshot_path: Path, hash_cache_path: Path, db_timeout: float
    ) -> None:
        self.database_url = database_url
        self.snapshot_path = snapshot_path
        self.hash_cache_path = hash_cache_path
        self.db_timeout = db_timeout
        self._parsed: tuple[_Identity, TableRegistry, str] | None = None

    def load(
        self,
        new_hash: str | None,
        snapshot_path: Path | None = None,
        *,
        introspect_if_missing: bool = False,
    ) -> TableRegistry:
        """The registry of the snapshot file (default: the engine's), with its hash.

        ``introspect_if_missing``: with no file at the default path, read the schema from the
        database instead. Raises ``ArtifactError`` or ``SchemaError`` for an unusable file.
        """
        path = snapshot_path or self.snapshot_path
        try:
            st = os.stat(path)
            ident: _Identity | None = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            ident = None
        cached = self._parsed
        if ident is not None and cached is not None and cached[0] == ident:
            parsed, fingerprint = cached[1], cached[2]
        elif ident is None and snapshot_path is None and introspect_if_missing:
            return self.introspect(path, new_hash)
        else:
            with gc_paused():
                loaded = read_snapshot_file(path)
            fingerprint = loaded.fingerprint
            parsed = registry_from_snapshot(loaded.snapshot, fingerprint)
            if ident is not None:
                self._parsed = (ident, parsed, fingerprint)
        schema_hash = fingerprint or new_hash or artifact_hash(self.hash_cache_path, path)
        return parsed.with_hash(schema_hash)

    def introspect(self, missing: Path, new_hash: str | None) -> TableRegistry:
        """The registry read from the live database (no snapshot file yet); empty if that fails.

        Same introspection and fingerprint as the Schema Sync Node, so when its snapshot lands
        the hash matches and nothing reloads.
        """
        from ctas7_panel import pgtools
        from ctas7_panel.schema.introspect import introspect
        from ctas7_panel.schema.options import TypegenOptions
        from ctas7_panel.schema.snapshot import fingerprint, to_snapshot

        try:
            with pgtools.connect(self.database_url, timeout=self.db_timeout) as conn:
                with gc_paused():
                    snapshot = to_snapshot(introspect(conn, TypegenOptions()))
        except Ctas7Error as exc:
            log.warning(
                "legion: no schema snapshot at %s and the database could not be read (%s); "
                "the registry is empty until a snapshot arrives",
                missing,
                exc,
            )
            return TableRegistry(new_hash, {})
        fp = fingerprint(snapshot)
        log.info("legion: no schema snapshot at %s yet; read the schema from the database", missing)
        return registry_from_snapshot(snapshot, fp)
