"""Tasks, their running contexts and their results.

A ``Task`` is a named unit of work with parameters: either a ``Query`` against registered tables
or the name of a Python callable registered on the engine (``register_callable``). While it runs
it holds a ``TaskContext``: the schema hash it runs under (moved forward by every reload), the
tables and columns it depends on (declared, plus every one its queries touched) and, after a
reload that removed one of them, the ``SchemaError`` it will fail with at its next
``checkpoint()``/``query()`` or when it returns.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctas7_panel.errors import SchemaError
from ctas7_panel.legion.query import Query
from ctas7_panel.legion.registry import Dependency, TableRegistry

TaskStatus = str  # "succeeded" | "failed" | "cancelled"
QueryRunner = Callable[["TaskContext", Query], Awaitable[tuple[list[dict[str, Any]], int]]]
TaskFunction = Callable[..., Any]  # fn(ctx, **params): sync (run in a thread) or async


def new_task_id() -> str:
    return f"task_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class Task:
    """What to run: ``Task("name", query=Query(...))`` or ``Task("fn_name", params={...})``."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    query: Query | None = None
    uses: tuple[Dependency, ...] = ()
    task_id: str = field(default_factory=new_task_id)


@dataclass(frozen=True, slots=True)
class CallableSpec:
    """A registered callable and the tables/columns it declares it uses."""

    name: str
    fn: TaskFunction
    uses: tuple[Dependency, ...] = ()

    @property
    def is_async(self) -> bool:
        return asyncio.iscoroutinefunction(self.fn)


def dependencies(
    uses: Mapping[str, Iterable[str]] | Iterable[Dependency] | None,
) -> tuple[Dependency, ...]:
    """``{"tasks": ["id", "name"]}`` or ``[Dependency, ...]`` -> a tuple of dependencies."""
    if uses is None:
        return ()
    if isinstance(uses, Mapping):
        return tuple(Dependency.of(t, cols) for t, cols in uses.items())
    return tuple(uses)


@dataclass(frozen=True, slots=True)
class TaskResult:
    task_id: str
    name: str
    status: TaskStatus
    duration_ms: float
    rows: int
    schema_hash: str | None
    hash_history: tuple[str | None, ...] = ()
    error: str | None = None
    error_type: str | None = None
    value: Any = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class TaskContext:
    """The running state of one task. Handed to callables as their first argument."""

    def __init__(
        self,
        task: Task,
        *,
        schema_hash: str | None,
        runner: QueryRunner,
        uses: Iterable[Dependency] = (),
    ) -> None:
        self.task_id = task.task_id
        self.name = task.name
        self.params = dict(task.params)
        self.schema_hash = schema_hash
        self.hash_history: list[str | None] = [schema_hash]
        self.started_at = time.time()
        self.rows = 0
        self.deps: set[Dependency] = set(uses)
        self.invalidated: SchemaError | None = None
        self._runner = runner

    def move_to(self, registry: TableRegistry) -> SchemaError | None:
        """Adopt a new schema; remember (and return) the error if a dependency disappeared."""
        self.schema_hash = registry.schema_hash
        self.hash_history.append(registry.schema_hash)
        if self.invalidated is None:
            broken = registry.broken(sorted(self.deps, key=lambda d: d.table))
            if broken is not None:
                self.invalidated = SchemaError(
                    f"task {self.name!r} ({self.task_id}) lost its schema in reload to "
                    f"{_short(registry.schema_hash)}: {broken}"
                )
        return self.invalidated

    def checkpoint(self) -> None:
        """Raise the schema error if a reload removed something this task depends on."""
        if self.invalidated is not None:
            raise self.invalidated

    async def sleep(self, seconds: float) -> None:
        """Sleep, then ``checkpoint()``: long-running tasks call this between steps."""
        self.checkpoint()
        await asyncio.sleep(seconds)
        self.checkpoint()

    async def query(self, query: Query) -> list[dict[str, Any]]:
        """Run a query under the current schema (validated first); count its rows."""
        self.checkpoint()
        self.deps.add(query.dependency())
        rows, count = await self._runner(self, query)
        self.rows += count
        return rows

    def snapshot(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "name": self.name,
            "schema_hash": self.schema_hash,
            "started_at": self.started_at,
            "rows": self.rows,
            "invalidated": str(self.invalidated) if self.invalidated else None,
        }


def _short(h: str | None) -> str:
    return h[:12] if h else "unknown"
