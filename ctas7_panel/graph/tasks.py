"""Legion tasks as graph input: which tables and columns each task's queries touch.

Legion knows a task's dependencies from the callables registered with ``uses=...`` and from
every ``Query`` a task ran (``Query.dependency()``). The engine keeps them in a manifest next to
the hash cache (``<hash cache>.legion_tasks.json``, written atomically) so that one-shot tools
(``ctas7 schema impact``, ``ctas7 graph sync``) and the Schema Sync Node see them too::

    {"format": "ctas7-legion-tasks/1",
     "tasks": {"recent_tasks": [{"table": "public.tasks", "columns": ["id", "name"]}]}}

Everything here is pure except ``read_manifest``/``write_manifest``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ctas7_panel.errors import ArtifactError

MANIFEST_FORMAT = "ctas7-legion-tasks/1"
MANIFEST_SUFFIX = ".legion_tasks.json"
MAX_TASKS = 2000


@dataclass(frozen=True, slots=True, order=True)
class TableUse:
    """One table a task uses (``schema.table``) and the columns of it the task names."""

    table: str
    columns: tuple[str, ...] = ()

    @property
    def schema_and_name(self) -> tuple[str, str]:
        schema, _, name = self.table.partition(".")
        return (schema, name) if name else ("public", schema)


@dataclass(frozen=True, slots=True, order=True)
class TaskUse:
    """A Legion task and the tables/columns its registered queries touch."""

    name: str
    uses: tuple[TableUse, ...] = ()


def default_manifest_path(hash_cache_path: str | Path) -> Path:
    """``<hash cache>.legion_tasks.json``: where the engine keeps its task manifest."""
    p = Path(hash_cache_path)
    return p.with_name(p.name + MANIFEST_SUFFIX)


def task_uses(deps: Mapping[str, Iterable[Any]]) -> tuple[TaskUse, ...]:
    """``{task name: [Dependency-like (table, columns)]}`` -> sorted ``TaskUse`` values.

    Several dependencies on one table merge (their columns are united).
    """
    out = []
    for name, items in deps.items():
        merged: dict[str, set[str]] = {}
        for dep in items:
            table = _qualify(str(dep.table))
            merged.setdefault(table, set()).update(str(c) for c in dep.columns)
        uses = tuple(TableUse(t, tuple(sorted(cols))) for t, cols in sorted(merged.items()))
        out.append(TaskUse(str(name), uses))
    return tuple(sorted(out))


def _qualify(table: str) -> str:
    return table if "." in table else f"public.{table}"


def encode_manifest(tasks: Iterable[TaskUse]) -> bytes:
    body = {
        t.name: [{"table": u.table, "columns": list(u.columns)} for u in t.uses]
        for t in sorted(tasks)
    }
    return orjson.dumps({"format": MANIFEST_FORMAT, "tasks": body}, option=orjson.OPT_SORT_KEYS)


def decode_manifest(data: bytes, *, source: str = "task manifest") -> tuple[TaskUse, ...]:
    """The tasks of a manifest; ``ArtifactError`` naming what is wrong with it."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"{source} is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise ArtifactError(
            f'{source} is not a Legion task manifest (expected "format": {MANIFEST_FORMAT!r})'
        )
    tasks = obj.get("tasks")
    if not isinstance(tasks, dict):
        raise ArtifactError(f"{source}: 'tasks' must be an object of task name -> uses")
    out = []
    for name, uses in tasks.items():
        if not isinstance(uses, list):
            raise ArtifactError(f"{source}: tasks.{name} must be a list of {{table, columns}}")
        items = []
        for u in uses:
            table = u.get("table") if isinstance(u, dict) else None
            cols = u.get("columns", []) if isinstance(u, dict) else None
            if not isinstance(table, str) or not table or not isinstance(cols, list):
                raise ArtifactError(
                    f"{source}: tasks.{name}: each use needs a 'table' string and a 'columns' list"
                )
            items.append(TableUse(_qualify(table), tuple(sorted(str(c) for c in cols))))
        out.append(TaskUse(str(name), tuple(sorted(items))))
    return tuple(sorted(out))


def read_manifest(path: str | Path, *, missing_ok: bool = True) -> tuple[TaskUse, ...]:
    """The tasks in the manifest at ``path`` (none if it is missing and ``missing_ok``)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        if missing_ok:
            return ()
        raise ArtifactError(
            f"Legion task manifest {str(p)!r} does not exist: it is written by a running "
            "Legion engine; give the file of another one or leave the option out"
        ) from exc
    except OSError as exc:
        raise ArtifactError(f"cannot read Legion task manifest {str(p)!r}: {exc.strerror}") from exc
    return decode_manifest(data, source=f"Legion task manifest {str(p)!r}")


def write_manifest(path: str | Path, tasks: Iterable[TaskUse]) -> None:
    """Write the manifest atomically."""
    from ctas7_panel.schema.artifacts import atomic_write

    atomic_write(Path(path), encode_manifest(tasks))
