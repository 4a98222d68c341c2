"""Impact on real databases: the in-process graph against PostgreSQL's own answer, and the
embedded SurrealDB mirror (surrealkv://) against the in-process graph, on ctas7_core and
big_1000."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from ctas7_panel import pgtools
from ctas7_panel.graph import impact as im
from ctas7_panel.graph.live import GraphInputs, read_graph
from ctas7_panel.graph.model import Edge, Graph, NodeId
from ctas7_panel.graph.remote import RemoteGraph
from ctas7_panel.graph.store import GraphStore

from .conftest import BIG_TASKS, CORE_TASKS


def read(url: str, tasks: Any = (), types_files: tuple[str, ...] = ("types.ts",)) -> Graph:
    with pgtools.connect(url) as conn:
        graph, _ = read_graph(conn, GraphInputs(tuple(tasks), types_files))
    return graph


def shown(result: im.Impact) -> dict[tuple[str, str], im.Dependent]:
    return {(d.node.kind, d.node.display): d for d in result.dependents}


def refused_detail(url: str, ddl: str) -> str:
    """PostgreSQL's own list of dependents: the DETAIL of the refused drop."""
    with (
        pgtools.connect(url) as conn,
        pytest.raises(psycopg.errors.DependentObjectsStillExist) as err,
    ):
        conn.execute(ddl)
    return str(err.value.diag.message_detail)


def test_core_column_used_by_view_function_fk_and_task(core_db: str) -> None:
    result = im.impact_of(read(core_db, CORE_TASKS), "public.tasks.id")
    deps = shown(result)
    for key in [
        ("view", "public.open_tasks"),
        ("function", "public.task_name(t uuid)"),
        ("foreign_key", "task_executions_task_id_fkey on public.task_executions"),
        ("legion_task", "recent_tasks"),
    ]:
        assert deps[key].hop == 1 and deps[key].breaking, key
    assert deps[("view", "public.open_task_names")].hop == 2
    assert deps[("view", "public.open_task_names")].breaking
    assert [v.display for v in deps[("view", "public.open_task_names")].via] == [
        "public.open_tasks"
    ]
    assert not deps[("types_file", "types.ts")].breaking
    assert ("legion_task", "count_tasks") not in deps  # uses the table, not the column
    # what PostgreSQL refuses to drop without CASCADE is exactly what we call breaking
    detail = refused_detail(core_db, "alter table public.tasks drop column id")
    for name in ("view open_tasks", "function task_name(uuid)",
                 "constraint task_executions_task_id_fkey", "view open_task_names"):  # fmt: skip
        assert name in detail, (name, detail)
    pg_count = len(detail.splitlines())
    ours = [d for d in result.dependents if d.breaking and d.node.kind != "legion_task"]
    assert len(ours) >= pg_count - 1  # PG also lists the self-referencing key we call own


def test_core_table_and_type_targets(core_db: str) -> None:
    g = read(core_db, CORE_TASKS)
    deps = shown(im.impact_of(g, "tasks"))
    assert not deps[("trigger", "tasks_touch on public.tasks")].breaking  # goes with it
    assert not deps[("policy", "tasks_mine on public.tasks")].breaking
    assert deps[("legion_task", "count_tasks")].breaking
    enum = shown(im.impact_of(g, "task_status"))
    assert enum[("column", "public.tasks.status")].hop == 1
    assert enum[("column", "public.tasks.status")].breaking
    detail = refused_detail(core_db, "drop type public.task_status")
    assert "column status of table tasks" in detail


async def compare(graph: Graph, store_url: str, targets: list[str]) -> None:
    async with GraphStore(store_url) as store:
        plan = await store.sync(graph)
        assert plan.new_version
        remote = RemoteGraph(store)
        for target in targets:
            here = im.render(im.impact_of(graph, target))
            there = im.render(await remote.impact_of(target))
            assert there == here, target
        with pytest.raises(Exception, match="not in the schema"):
            await remote.impact_of("public.no_such_table")


async def test_core_mirror_answers_exactly_as_in_process(core_db: str, tmp_path: Path) -> None:
    graph = read(core_db, CORE_TASKS)
    await compare(
        graph,
        f"surrealkv://{tmp_path / 'store'}",
        ["public.tasks.id", "tasks", "task_status", "public.tasks.status", "open_tasks",
         "public.nodes", "task_name", "public.tasks.name", "node_role"],
    )  # fmt: skip


@pytest.mark.slow  # loads 1,000 tables into PostgreSQL and mirrors 14,000 nodes
async def test_big_1000_in_process_and_mirror(big_db: str, tmp_path: Path) -> None:
    graph = read(big_db, BIG_TASKS)
    deps = shown(im.impact_of(graph, "public.tbl_0074.id"))
    for key in [
        ("view", "public.view_002"),
        ("function", "public.tbl_0074_exists(k bigint)"),
        ("foreign_key", "tbl_0089_ref1_tbl_0074_id_fkey on public.tbl_0089"),
        ("legion_task", "tbl_0074_scan"),
    ]:
        assert deps[key].hop == 1 and deps[key].breaking, key
    detail = refused_detail(big_db, "alter table public.tbl_0074 drop column id")
    assert "view view_002" in detail and "tbl_0089_ref1_tbl_0074_id_fkey" in detail
    await compare(
        graph,
        f"surrealkv://{tmp_path / 'big'}",
        ["public.tbl_0074.id", "public.tbl_0074", "public.enum_25", "public.tbl_0089",
         "public.view_002", "public.tbl_0500.id"],
    )  # fmt: skip


def test_schema_impact_cli(core_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from ctas7_panel.cli import main

    env = {"CTAS7_DATABASE_URL": core_db, "CTAS_SCHEMA_PATH": "/nonexistent/types.ts"}
    assert main(["schema", "impact", "public.tasks.id"], env) == 0
    out = capsys.readouterr().out
    assert out.startswith("impact of dropping or changing public.tasks.id (column; schema ")
    assert "view               public.open_tasks" in out
    assert main(["schema", "impact", "public.tasks.id", "--fail-on-breaking"], env) == 1
    capsys.readouterr()
    assert main(["schema", "impact", "public.nope"], env) == 2
    err = capsys.readouterr().err
    assert "target 'public.nope' is not in the schema" in err and "\n" == err[-1]
    assert main(["schema", "impact", "t", "--from-graph"], {**env, "CTAS_DB_URL": ""}) == 2
    assert "--from-graph needs the SurrealDB mirror" in capsys.readouterr().err


def test_migration_target_runs_on_a_scratch_copy(
    core_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ctas7_panel.cli import main

    migration = tmp_path / "0200_drop_status.sql"
    migration.write_text(
        "alter table public.tasks drop column status cascade;\n"
        "alter table public.nodes add column region text;\n"
    )
    env = {"CTAS7_DATABASE_URL": core_db}
    assert main(["schema", "impact", str(migration)], env) == 0
    out = capsys.readouterr().out
    assert out.startswith("impact of migration 0200_drop_status.sql (schema ")
    assert "  - column public.tasks.status\n" in out
    assert "  - view public.open_tasks\n" in out  # the cascade took it
    assert "  + column public.nodes.region\n" in out
    with pgtools.connect(core_db) as conn:  # the source is untouched, no scratch left behind
        cols = {r[0] for r in conn.execute(
            "select column_name from information_schema.columns where table_name = 'tasks'"
        )}  # fmt: skip
        assert "status" in cols
        left = conn.execute(
            "select count(*) from pg_database where datname like 'ctas7_scratch_%'"
        ).fetchone()
        assert left is not None and left[0] == 0
    bad = tmp_path / "bad.sql"
    bad.write_text("alter table public.nope add column x int;")
    assert main(["schema", "impact", str(bad)], env) == 2
    assert "migration bad.sql fails on a scratch copy" in capsys.readouterr().err
    assert main(["schema", "impact", str(tmp_path / "missing.sql")], env) == 2
    assert "does not exist" in capsys.readouterr().err


def test_reading_the_facts_leaves_the_callers_planner_settings(core_db: str) -> None:
    from ctas7_panel.graph.facts import read_facts

    with pgtools.connect(core_db) as conn:  # autocommit: its own transaction
        facts = read_facts(conn, ["public"])
        assert conn.execute("show enable_nestloop").fetchone() == ("on",)
    with pgtools.connect(core_db, autocommit=False) as conn:  # inside the caller's transaction
        conn.execute("set local enable_nestloop = on")
        assert read_facts(conn, ["public"]) == facts
        assert conn.execute("show enable_nestloop").fetchone() == ("on",)
        conn.execute("set enable_nestloop = off")
        read_facts(conn, ["public"])
        assert conn.execute("show enable_nestloop").fetchone() == ("off",)
    fk = NodeId("foreign_key", "public", "task_executions", "task_executions_task_id_fkey")
    assert Edge(fk, NodeId("column", "public", "tasks", "id")) in facts.edges
