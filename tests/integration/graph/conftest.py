"""Real databases for the graph tests: ctas7_core and big_1000 (the typegen fixtures) plus the
objects the impact questions need (a view, a SQL-standard function, a Legion task)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.graph.tasks import TableUse, TaskUse

SCHEMAS = Path(__file__).resolve().parents[2] / "fixtures" / "typegen" / "schemas"

# ctas7_core: public.tasks.id is used by a view, a function, a foreign key (the fixture's own
# task_executions_task_id_fkey) and, below, a Legion task
CORE_EXTRAS = """
create view public.open_tasks as
  select id, name, status from public.tasks where status <> 'succeeded';
create view public.open_task_names as select name from public.open_tasks;
create function public.task_name(t uuid) returns text language sql stable
  begin atomic select name from public.tasks where id = t; end;
create function public.touch() returns trigger language plpgsql
  as $$ begin new.updated_at = now(); return new; end $$;
create trigger tasks_touch before update of name on public.tasks
  for each row execute function public.touch();
alter table public.tasks enable row level security;
create policy tasks_mine on public.tasks using (created_by is not null);
"""
CORE_TASKS = (
    TaskUse("recent_tasks", (TableUse("public.tasks", ("id", "name", "status")),)),
    TaskUse("count_tasks", (TableUse("public.tasks"),)),
)
# big_1000: public.tbl_0074.id has three foreign keys and a view (view_002) already
BIG_EXTRAS = """
create function public.tbl_0074_label(k bigint) returns text language sql stable
  begin atomic select c06_date::text from public.tbl_0089 where ref1_tbl_0074_id = k; end;
create function public.tbl_0074_exists(k bigint) returns boolean language sql stable
  begin atomic select exists (select 1 from public.tbl_0074 where id = k); end;
"""
BIG_TASKS = (TaskUse("tbl_0074_scan", (TableUse("public.tbl_0074", ("id",)),)),)


def load(url: str, text: str) -> None:
    if len(text) < 100_000:
        pgtools.apply_sql(url, text)
        return
    statements = [s for s in re.split(r";\s*\n", text) if s.strip()]
    for start in range(0, len(statements), 300):
        pgtools.apply_sql(url, ";\n".join(statements[start : start + 300]) + ";\n")


@pytest.fixture
def core_db(fresh_db_url: str) -> str:
    load(fresh_db_url, (SCHEMAS / "ctas7_core.sql").read_text() + CORE_EXTRAS)
    return fresh_db_url


@pytest.fixture(scope="session")
def big_db(pg_admin_url: str) -> Iterator[str]:
    """big_1000 plus its extras, loaded once per session: never change it (``big_copy``)."""
    with pgtools.temporary_database(pg_admin_url) as url:
        load(url, (SCHEMAS / "big_1000.sql").read_text())
        load(url, BIG_EXTRAS)
        yield url


@pytest.fixture
def big_copy(pg_admin_url: str, big_db: str) -> Iterator[str]:
    """A copy of ``big_db`` to change (CREATE DATABASE ... TEMPLATE: a file copy)."""
    from psycopg import sql

    name = f"ctas7_t_{secrets.token_hex(6)}"
    with pgtools.connect(pg_admin_url) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(pgtools.database_name(big_db))
            )
        )
    try:
        yield pgtools.with_database(pg_admin_url, name)
    finally:
        pgtools.drop_database(pg_admin_url, name)
