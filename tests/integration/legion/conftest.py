"""Helpers for Legion's integration tests: real databases, real snapshot artifacts on disk.

``write_artifacts(url, home)`` introspects the live database and writes the snapshot record and
hash cache exactly where the Schema Sync Node writes them (``<hash cache>.snapshot.json``), via
the schema package's ``inspect_database`` when it is there, else a small catalog query producing
the same snapshot shape (tables -> columns with name, type, nullability, default, identity,
generated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema.artifacts import atomic_write, default_snapshot_path, write_hash_cache

_COLUMNS_SQL = """
SELECT c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type, c.udt_name,
       c.is_nullable = 'YES' AS nullable, c.column_default, c.identity_generation,
       c.generation_expression
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_schema, table_name)
WHERE c.table_schema = 'public'
ORDER BY 1, 2, c.ordinal_position
"""


def live_snapshot(url: str) -> dict[str, Any]:
    try:  # the real pipeline, once the schema package exports it
        from ctas7_panel.schema import inspect_database  # type: ignore[attr-defined]
    except ImportError:
        inspect_database = None
    if inspect_database is not None:
        from ctas7_panel.schema import TypegenOptions  # type: ignore[attr-defined]

        return dict(inspect_database(url, TypegenOptions()).snapshot)
    tables: dict[str, dict[str, Any]] = {}
    with pgtools.connect(url) as conn:
        for row in conn.execute(_COLUMNS_SQL).fetchall():
            schema, name, ttype, col, dtype, udt, nullable, default, ident, gen = row
            key = f"{schema}.{name}"
            t = tables.setdefault(
                key,
                {
                    "schema": schema,
                    "name": name,
                    "kind": "view" if ttype == "VIEW" else "table",
                    "columns": [],
                },
            )
            t["columns"].append(
                {
                    "name": col,
                    "data_type": dtype,
                    "format": udt,
                    "is_nullable": nullable,
                    "default": default,
                    "identity": ident,
                    "generated": gen,
                }
            )
    return {"tables": list(tables.values())}


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
        fp = hashlib.sha256(orjson.dumps(snap, option=orjson.OPT_SORT_KEYS)).hexdigest()
        record = {
            "format": "ctas7-sync-snapshot/1",
            "fingerprint": fp,
            "types_hash": fp,
            "generator": "test",
            "table_count": len(snap.get("tables", [])),
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
