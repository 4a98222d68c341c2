"""Queries against registered tables: a small value object, validated, compiled to SQL.

A ``Query`` names a table, an operation (``select``, ``count``, ``insert``, ``update``,
``delete``), the columns it reads or writes, equality filters and an optional order and limit.
``compile_query(query, registry)`` checks every table and column against the registry (the
current schema) and every parameter value against its column's type family, then builds the
statement with ``psycopg.sql`` (identifiers quoted, values passed as parameters). It is pure: the
``DatabaseMux`` runs what it returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from ctas7_panel.errors import SchemaError, UsageError
from ctas7_panel.legion.registry import ColumnInfo, Dependency, TableInfo, TableRegistry

Operation = Literal["select", "count", "insert", "update", "delete"]
OPERATIONS: tuple[str, ...] = ("select", "count", "insert", "update", "delete")
MAX_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Query:
    """One statement against one registered table (see the module docstring)."""

    table: str
    op: Operation = "select"
    columns: tuple[str, ...] = ()  # select: returned columns (empty = every column)
    where: Mapping[str, Any] = field(default_factory=dict)  # column = value, ANDed
    values: Mapping[str, Any] = field(default_factory=dict)  # insert / update
    order_by: tuple[str, ...] = ()  # "col" or "-col" (descending)
    limit: int | None = None
    returning: tuple[str, ...] = ()  # insert / update / delete

    def __post_init__(self) -> None:
        if self.op not in OPERATIONS:
            raise UsageError(f"query op {self.op!r} is unknown: use one of {', '.join(OPERATIONS)}")
        if self.op in {"insert", "update"} and not self.values:
            raise UsageError(f"a {self.op} query needs values: Query(..., values={{'col': v}})")
        if self.op in {"update", "delete"} and not self.where:
            raise UsageError(
                f"a {self.op} query needs where=...: refusing to touch every row of {self.table!r}"
            )
        if self.limit is not None and not (0 < self.limit <= MAX_LIMIT):
            raise UsageError(f"query limit {self.limit!r} must be between 1 and {MAX_LIMIT}")

    def dependency(self) -> Dependency:
        """The table and every column this query names."""
        cols = {
            *self.columns,
            *self.where,
            *self.values,
            *(c.lstrip("-") for c in self.order_by),
            *self.returning,
        }
        return Dependency.of(self.table, cols)


@dataclass(frozen=True, slots=True)
class Compiled:
    statement: sql.Composed
    params: tuple[Any, ...]
    returns_rows: bool
    table: TableInfo


def compile_query(query: Query, registry: TableRegistry) -> Compiled:
    """Validate ``query`` against ``registry`` and build its SQL (``SchemaError`` if stale)."""
    dep = query.dependency()
    info = registry.check(dep.table, sorted(dep.columns))
    ident = sql.Identifier(info.schema, info.name)
    params: list[Any] = []

    where_sql: sql.Composable = sql.SQL("")
    if query.where:
        parts = []
        for name, value in query.where.items():
            col = info.column(name)
            assert col is not None
            if value is None:
                parts.append(sql.SQL("{} IS NULL").format(sql.Identifier(name)))
            else:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(adapt_value(col, value, info))
        where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts)

    returning: sql.Composable = sql.SQL("")
    if query.returning:
        returning = sql.SQL(" RETURNING ") + sql.SQL(", ").join(
            map(sql.Identifier, query.returning)
        )

    if query.op == "select":
        cols = query.columns or info.column_names
        stmt = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)), ident
        )
        stmt = stmt + where_sql + _order(query) + _limit(query, params)
        return Compiled(stmt, tuple(params), True, info)
    if query.op == "count":
        stmt = sql.SQL("SELECT count(*) AS count FROM {}").format(ident) + where_sql
        return Compiled(stmt, tuple(params), True, info)
    if query.op == "delete":
        stmt = sql.SQL("DELETE FROM {}").format(ident) + where_sql + returning
        return Compiled(stmt, tuple(params), bool(query.returning), info)

    value_params = [
        adapt_value(_writable(info, name), value, info) for name, value in query.values.items()
    ]
    if query.op == "insert":
        stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            ident,
            sql.SQL(", ").join(map(sql.Identifier, query.values)),
            sql.SQL(", ").join(sql.Placeholder() * len(value_params)),
        )
        return Compiled(stmt + returning, tuple(value_params), bool(query.returning), info)
    sets = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in query.values
    )
    stmt = sql.SQL("UPDATE {} SET ").format(ident) + sets + where_sql + returning
    return Compiled(stmt, (*value_params, *params), bool(query.returning), info)


def _order(query: Query) -> sql.Composable:
    if not query.order_by:
        return sql.SQL("")
    keys = [
        sql.SQL("{} DESC").format(sql.Identifier(c[1:])) if c.startswith("-") else sql.Identifier(c)
        for c in query.order_by
    ]
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(keys)


def _limit(query: Query, params: list[Any]) -> sql.Composable:
    if query.limit is None:
        return sql.SQL("")
    params.append(query.limit)
    return sql.SQL(" LIMIT %s")


def _writable(info: TableInfo, name: str) -> ColumnInfo:
    col = info.column(name)
    assert col is not None
    if not col.writable:
        why = "generated" if col.generated else "an identity column (GENERATED ALWAYS)"
        raise SchemaError(
            f"column {name!r} of table {info.qualified!r} is {why} and cannot be written: "
            "leave it out of values"
        )
    return col


_CHECKS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "number": (int, float, Decimal),
    "bool": (bool,),
    "text": (str,),
}


def adapt_value(col: ColumnInfo, value: Any, info: TableInfo) -> Any:
    """Check ``value`` fits the column's type family; wrap JSON; ``SchemaError`` if it cannot."""
    if value is None:
        if not col.nullable:
            raise SchemaError(
                f"column {col.name!r} of table {info.qualified!r} is NOT NULL: give a value"
            )
        return None
    family = col.family
    if family == "json":
        return Jsonb(value)
    expected = _CHECKS.get(family)
    if expected is None:
        _check_other(col, value, info)
        return value
    ok = isinstance(value, expected) and not (family != "bool" and isinstance(value, bool))
    if not ok:
        raise SchemaError(
            f"column {col.name!r} of table {info.qualified!r} is {col.type}: "
            f"got {type(value).__name__} {value!r:.40}; pass a {family} value"
        )
    return value


_OTHER_OK = (str, int, float, Decimal, uuid.UUID, datetime, date, time, timedelta, list, tuple)


def _check_other(col: ColumnInfo, value: Any, info: TableInfo) -> None:
    if not isinstance(value, _OTHER_OK):
        raise SchemaError(
            f"column {col.name!r} of table {info.qualified!r} is {col.type}: "
            f"cannot pass a {type(value).__name__}"
        )
