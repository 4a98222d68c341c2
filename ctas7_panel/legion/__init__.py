"""Legion Execution Engine: typed table registry, database pool, tasks and schema hot-reload.

``from ctas7_panel.legion import LegionExecutionEngine, Task, Query``. Modules:
``registry`` (pure: tables/columns/types of one schema hash), ``query`` (pure: a validated
query compiled to SQL), ``tasks`` (tasks, running contexts, results), ``reload`` (pure: what an
event asks for, node capabilities), ``dbmux`` (the psycopg pool), ``watch`` (watchfiles),
``loader`` (the registry from the snapshot file or the database), ``outbox`` (events waiting
for the bus), ``engine`` (the engine). See ``docs/legion.md``.
"""

from __future__ import annotations

from ctas7_panel.legion.engine import (
    EVENTS_TOPIC,
    LEGION_GROUP,
    LEGION_TOPIC,
    LegionExecutionEngine,
    ReloadReport,
)
from ctas7_panel.legion.query import Query
from ctas7_panel.legion.registry import (
    ColumnInfo,
    Dependency,
    TableInfo,
    TableRegistry,
    registry_from_snapshot,
)
from ctas7_panel.legion.tasks import Task, TaskContext, TaskResult

__all__ = [
    "EVENTS_TOPIC",
    "LEGION_GROUP",
    "LEGION_TOPIC",
    "ColumnInfo",
    "Dependency",
    "LegionExecutionEngine",
    "Query",
    "ReloadReport",
    "TableInfo",
    "TableRegistry",
    "Task",
    "TaskContext",
    "TaskResult",
    "registry_from_snapshot",
]
