"""SQL migrations shipped inside the package, applied in file-name order.

``0001_ctas7_core.sql`` is the CTAS-7 demo schema (7 tables, 2 enums, foreign keys). Applied
migrations are recorded in ``ctas7_meta.migrations`` so a restart applies only new ones; that
schema is outside the default type-generation schemas (``public,graphql_public``).
The demo activity source applies the files under ``demo/`` over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ctas7_panel import pgtools

_META_DDL = """
CREATE SCHEMA IF NOT EXISTS ctas7_meta;
CREATE TABLE IF NOT EXISTS ctas7_meta.migrations (
  name text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str


def bundled(subdir: str | None = None) -> list[Migration]:
    """The ``.sql`` files of this package (or of ``subdir``), sorted by name."""
    root = resources.files(__name__)
    if subdir:
        root = root / subdir
    files = [f for f in root.iterdir() if f.name.endswith(".sql")]
    return [
        Migration(f.name, f.read_text(encoding="utf-8"))
        for f in sorted(files, key=lambda f: f.name)
    ]


def applied(url: str) -> set[str]:
    with pgtools.connect(url) as conn:
        conn.execute(_META_DDL)
        return {row[0] for row in conn.execute("SELECT name FROM ctas7_meta.migrations")}


def apply_one(url: str, migration: Migration) -> None:
    """Apply one migration and record it, in one transaction."""
    with pgtools.connect(url, autocommit=False) as conn:
        conn.execute(migration.sql.encode())
        conn.execute("INSERT INTO ctas7_meta.migrations (name) VALUES (%s)", (migration.name,))
        conn.commit()


def apply_migrations(url: str, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every bundled migration not yet applied; return the names applied now."""
    todo = bundled() if migrations is None else migrations
    done = applied(url)
    names = []
    for migration in todo:
        if migration.name not in done:
            apply_one(url, migration)
            names.append(migration.name)
    return names
