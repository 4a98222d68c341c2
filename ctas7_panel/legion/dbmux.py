"""``DatabaseMux``: one psycopg connection pool plus the typed table registry it checks against.

Thin I/O: ``run(query)`` compiles the query against the registry (pure, ``query.py``), borrows a
connection, executes and returns rows as dicts. Database errors are translated at this boundary:
a column or table the server does not know (the schema changed under a running statement)
becomes ``SchemaError`` naming it; anything else becomes ``DatabaseError``. A pool closed by a
reload while a caller waited raises ``PoolGone`` so the engine retries on the new pool.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from ctas7_panel.errors import DatabaseError, SchemaError
from ctas7_panel.legion.query import Query, compile_query
from ctas7_panel.legion.registry import TableRegistry
from ctas7_panel.settings import redact_url


@dataclass(frozen=True, slots=True)
class QueryResult:
    rows: list[dict[str, Any]]
    rowcount: int


class PoolGone(Exception):
    """The pool was closed by a reload; retry on the engine's current mux."""


class DatabaseMux:
    """A connection pool and the registry queries are validated against."""

    def __init__(
        self,
        url: str,
        registry: TableRegistry,
        *,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 10.0,
        name: str = "legion",
    ) -> None:
        self.url = url
        self.registry = registry
        self.timeout = timeout
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            name=name,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout))},
        )

    async def open(self, *, wait: bool = True) -> None:
        """Open the pool; with ``wait`` fail fast (``DatabaseError``) if no connection comes."""
        try:
            await self._pool.open(wait=wait, timeout=self.timeout)
        except (PoolTimeout, psycopg.Error) as exc:
            await self._pool.close(timeout=0)
            raise DatabaseError(
                f"cannot connect to {redact_url(self.url)} within {self.timeout:g}s "
                "(is the server running, and is CTAS7_DATABASE_URL right?)"
            ) from exc

    async def close(self, timeout: float = 5.0) -> None:
        """Close the pool; connections in use are closed when their holder returns them."""
        await self._pool.close(timeout=timeout)

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def stats(self) -> dict[str, int]:
        return dict(self._pool.get_stats())

    async def run(self, query: Query) -> QueryResult:
        """Validate and run one query: rows as dicts and the row count (affected, for writes)."""
        compiled = compile_query(query, self.registry)
        try:
            async with self._pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                async with cur:
                    await cur.execute(compiled.statement, compiled.params)
                    rows = await cur.fetchall() if compiled.returns_rows else []
                    count = len(rows) if query.op in {"select", "count"} else cur.rowcount
                    return QueryResult(rows, max(count, 0))
        except PoolClosed as exc:
            raise PoolGone() from exc
        except PoolTimeout as exc:
            raise DatabaseError(
                f"no database connection free within {self.timeout:g}s for {query.table!r}: "
                "raise the pool size or run fewer tasks at once"
            ) from exc
        except (pg_errors.UndefinedColumn, pg_errors.UndefinedTable) as exc:
            detail = exc.diag.message_primary or str(exc).splitlines()[0]
            raise SchemaError(
                f"the database no longer matches the schema of this task: {detail} "
                f"(query on {compiled.table.qualified!r}; the schema changed while it ran)"
            ) from exc
        except psycopg.Error as exc:
            detail = (exc.diag.message_primary if exc.diag else None) or str(exc).strip()
            raise DatabaseError(f"query on {compiled.table.qualified!r} failed: {detail}") from exc

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                async with self._pool.connection() as conn:
                    await conn.execute("SELECT 1")
            return True
        except (TimeoutError, PoolClosed, PoolTimeout, psycopg.Error):
            return False
