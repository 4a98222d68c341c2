"""Helpers for Legion's integration tests: real databases, real snapshot artifacts on disk.

``Artifacts.write(url)`` introspects the live database with the schema package
(``introspect`` -> ``to_snapshot`` -> ``fingerprint``) and writes the snapshot record and hash
cache exactly where and how the Schema Sync Node writes them (``<hash cache>.snapshot.json``,
format ``ctas7-sync-snapshot/1``; snapshot first, hash cache last).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema.artifacts import atomic_write, default_snapshot_path, write_hash_cache
from ctas7_panel.schema.snapshot import fingerprint


def live_snapshot(url: str) -> dict[str, Any]:
    """The schema package's snapshot of the live database (what the sync node writes)."""
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import to_snapshot

    with pgtools.connect(url) as conn:
        return to_snapshot(introspect(conn, TypegenOptions()))


@dataclass
class Artifacts:
    home: Path

    @property
    def hash_cache(self) -> Path:
        return self.home / ".last_schema_hash"

    @property
    def snapshot(self) -> Path:
        return default_snapshot_path(self.hash_cache)

    @property
    def types(self) -> Path:
        return self.home / "supabase_schema.ts"

    def write(self, url: str) -> str:
        """Snapshot the live schema; write record + hash cache (in the sync node's order)."""
        snap = live_snapshot(url)
        fp = fingerprint(snap)
        record = {
            "format": "ctas7-sync-snapshot/1",
            "fingerprint": fp,
            "types_hash": fp,
            "generator": "test",
            "table_count": snap["table_count"],
            "snapshot": snap,
        }
        atomic_write(self.snapshot, orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
        write_hash_cache(self.hash_cache, fp)
        return fp


@pytest.fixture
def artifacts(tmp_path: Path) -> Artifacts:
    return Artifacts(tmp_path / "ctas7")


@pytest.fixture
def jobs_db(fresh_db_url: str) -> str:
    """A fresh database holding ``public.jobs`` (id, name, note, weight) with 3 rows."""
    pgtools.apply_sql(
        fresh_db_url,
        """
        CREATE TABLE public.jobs (
          id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          name text NOT NULL,
          note text,
          weight integer NOT NULL DEFAULT 1
        );
        INSERT INTO public.jobs (name, note, weight) VALUES ('a', 'x', 1), ('b', 'y', 2),
          ('c', NULL, 3);
        """,
    )
    return fresh_db_url
