"""The SurrealDB mirror itself: one owner per embedded store, restarts (kill -9 included),
versions linked to what changed, hostile names, a server that is not there, the CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctas7_panel import pgtools
from ctas7_panel.errors import ConfigError, DatabaseError
from ctas7_panel.graph import impact as im
from ctas7_panel.graph.live import GraphInputs, read_graph
from ctas7_panel.graph.mirror import EXAMPLES, edge_key
from ctas7_panel.graph.model import Edge, Graph, Node, NodeId, dedupe_edges
from ctas7_panel.graph.remote import RemoteGraph
from ctas7_panel.graph.store import GraphStore, parse_graph_url
from ctas7_panel.graph.surql import node_key, rid
from ctas7_panel.netutil import free_port

from .conftest import CORE_TASKS

HOLDER = """
import asyncio, sys
from ctas7_panel.graph.store import GraphStore

async def main():
    store = GraphStore(sys.argv[1])
    await store.open()
    print("ready", flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


def read(url: str) -> Graph:
    with pgtools.connect(url) as conn:
        graph, _ = read_graph(conn, GraphInputs(CORE_TASKS, ("types.ts",)))
    return graph


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ctas7_panel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


async def test_one_owner_per_embedded_store(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    async with GraphStore(url):
        with pytest.raises(DatabaseError, match="already open by pid"):
            await GraphStore(url).open()  # a second opener in this very process
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, url, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"ready"
        with pytest.raises(DatabaseError, match=f"already open by pid {holder.pid} "):
            await GraphStore(url).open()
        result = await asyncio.to_thread(
            cli, "graph", "query", "RETURN 1", env={"CTAS_DB_URL": url}
        )
        assert result.returncode == 2, result.stderr
        assert "one process owns an embedded store" in result.stderr
        holder.send_signal(signal.SIGKILL)  # the kernel frees the lock with the process
        await asyncio.wait_for(holder.wait(), 10)
        async with GraphStore(url) as store:
            assert await store.query("RETURN 1") == [1]
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()


async def test_restart_after_kill_reopens_intact(core_db: str, tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    env = {"CTAS7_DATABASE_URL": core_db, "CTAS_DB_URL": url, "CTAS_SCHEMA_PATH": "/none.ts"}
    done = await asyncio.to_thread(cli, "graph", "sync", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mirrored schema ") and "a new schema version" in done.stdout
    # a writer killed hard right after its sync: the data is on disk all the same
    script = (
        "import asyncio, os, signal, sys\n"
        "from ctas7_panel.graph.store import GraphStore\n"
        "async def main():\n"
        "    store = GraphStore(sys.argv[1]); await store.open()\n"
        "    await store.query('UPSERT note:[1] CONTENT {text: \"written before kill\"}')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "asyncio.run(main())\n"
    )
    killed = await asyncio.create_subprocess_exec(sys.executable, "-c", script, url)
    assert await asyncio.wait_for(killed.wait(), 60) == -signal.SIGKILL
    graph = read(core_db)
    graph_no_extras = graph  # same schema: the CLI run had no tasks/types files
    async with GraphStore(url) as store:
        assert await store.current_hash() == graph.fingerprint
        assert await store.query("SELECT VALUE text FROM note") == [["written before kill"]]
        remote = RemoteGraph(store)
        result = await remote.impact_of("public.tasks.id")
        assert ("view", "public.open_tasks") in {
            (d.node.kind, d.node.display) for d in result.dependents
        }
        again = await store.sync(graph_no_extras)  # tasks and a types file are new: nodes only
        assert not again.new_version and again.added == 3 and again.removed == 0
        same = await store.sync(graph_no_extras)
        assert (same.added, same.removed, same.changed, same.edges_added) == (0, 0, 0, 0)


async def test_a_new_version_is_linked_to_what_changed(core_db: str, tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    before = read(core_db)
    pgtools.apply_sql(
        core_db,
        "alter table public.tasks drop column status cascade;\n"
        "alter table public.nodes add column region text;\n",
    )
    after = read(core_db)
    async with GraphStore(url) as store:
        await store.sync(before)
        plan = await store.sync(after, version={"trigger": "test"})
        assert plan.new_version and plan.removed >= 3 and plan.added == 1
        version_id = f'schema_version:["{after.fingerprint}"]'
        (rows,) = await store.query(f"SELECT VALUE ->changed.{{change, display}} FROM {version_id}")
        changed = {(c["change"], c["display"]) for c in rows[0]}
        assert ("removed", "public.tasks.status") in changed
        assert ("removed", "public.open_tasks") in changed
        assert ("added", "public.nodes.region") in changed
        version, tomb = await store.query(
            f'SELECT previous, trigger FROM ONLY schema_version:["{after.fingerprint}"];'
            'SELECT present, removed_in FROM ONLY pg_column:["public", "tasks", "status"];'
        )
        assert version == {"previous": before.fingerprint, "trigger": "test"}
        assert tomb == {"present": False, "removed_in": after.fingerprint}
        remote = RemoteGraph(store)
        with pytest.raises(Exception, match="not in the schema"):
            await remote.impact_of("public.tasks.status")
        assert im.render(await remote.impact_of("tasks")) == im.render(im.impact_of(after, "tasks"))
        for title, text in EXAMPLES.items():  # every documented example runs
            results = await store.query_raw(text)
            assert all(r["status"] == "OK" for r in results), (title, results)


async def test_hostile_names_round_trip(fresh_db_url: str, tmp_path: Path) -> None:
    pgtools.apply_sql(
        fresh_db_url,
        'create table public."We""ird.Tbl ⟩" (id int primary key, "c ol""}]; --" text);\n'
        'create view public."v\\iew ✓" as select "c ol""}]; --" from public."We""ird.Tbl ⟩";\n'
        'create table public."Ref" (x int references public."We""ird.Tbl ⟩" (id));\n',
    )
    with pgtools.connect(fresh_db_url) as conn:
        graph, _ = read_graph(conn, GraphInputs())
    targets = ['public."We""ird.Tbl ⟩"', 'public."We""ird.Tbl ⟩"."c ol""}]; --"',
               'public."We""ird.Tbl ⟩".id']  # fmt: skip
    async with GraphStore(f"surrealkv://{tmp_path / 'store'}") as store:
        await store.sync(graph)
        remote = RemoteGraph(store)
        for target in targets:
            here = im.render(im.impact_of(graph, target))
            assert "BREAKING" in here
            assert im.render(await remote.impact_of(target)) == here


async def test_a_server_that_is_not_there_is_a_clean_error() -> None:
    port = free_port()
    store = GraphStore(f"ws://user:secret@127.0.0.1:{port}", connect_timeout=3)
    with pytest.raises(
        DatabaseError, match=f"cannot open the graph store ws://user:\\*\\*\\*@127.0.0.1:{port}"
    ) as err:
        await store.open()
    assert "secret" not in str(err.value)
    assert not store.is_open


def test_urls_and_settings() -> None:
    from ctas7_panel.settings import Settings

    assert parse_graph_url("mem://").embedded
    assert parse_graph_url("surrealkv://rel/dir").path == Path("rel/dir").resolve()
    u = parse_graph_url("ws://a:b@h:8000?ns=x&db=y")
    assert (u.namespace, u.database, u.username, u.password) == ("x", "y", "a", "b")
    assert u.engine_url == "ws://h:8000/rpc" and "b@" not in repr(u)
    for bad in ("http://h:8000", "surrealkv://", "ws://:8000", "redis://x"):
        with pytest.raises(ConfigError):
            parse_graph_url(bad)
    s = Settings.from_env({"CTAS_DB_URL": "ws://u:pw@h:8000"})
    assert s.graph_url == "ws://u:pw@h:8000" and "pw" not in repr(s)
    with pytest.raises(ConfigError, match="CTAS_DB_URL"):
        Settings.from_env({"CTAS_DB_URL": "postgresql://x"})


def test_graph_cli_query_and_errors(tmp_path: Path) -> None:
    url = f"surrealkv://{tmp_path / 'store'}"
    ok = cli(
        "graph",
        "query",
        "CREATE thing:[1] SET n = 1; SELECT VALUE n FROM thing",
        env={"CTAS_DB_URL": url},
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [
        "[",
        "{",
        '"id":',
        '"thing:[1]",',
        '"n":',
        "1",
        "}",
        "]",
        "[",
        "1",
        "]",
    ]
    failing = cli("graph", "query", "CREATE thing:[1] SET n = 2", env={"CTAS_DB_URL": url})
    assert failing.returncode == 1 and "already exists" in failing.stderr
    bad = cli("graph", "sync", "--graph-url", "http://x", env={"CTAS_DB_URL": ""})
    assert bad.returncode == 2 and "is not supported" in bad.stderr
    none = cli("graph", "query", "RETURN 1", env={"CTAS_DB_URL": ""})
    assert none.returncode == 2 and "no graph store" in none.stderr
    examples = cli("graph", "examples", env={})
    assert examples.returncode == 0 and "{1..3+collect}" in examples.stdout


async def test_a_writer_rereads_the_state_when_another_one_wrote(core_db: str) -> None:
    before = read(core_db)
    pgtools.apply_sql(core_db, "alter table public.nodes add column zone text")
    after = read(core_db)
    async with GraphStore("mem://") as store:
        await store.sync(before)
        # another writer (a server shared by two bridges) moved the mirror on: the cached
        # state is no longer trusted, the full state is read back, the delta stays right
        await store.query("UPSERT mirror:state MERGE {generation: 99}; DELETE pg_relation;")
        plan = await store.sync(after)
        assert plan.new_version and plan.added > 7  # the relations came back
        assert (await store.sync(after)).added == 0
        (gen,) = await store.query("RETURN (SELECT VALUE generation FROM ONLY mirror:state)")
        assert gen == 101


POOL = (
    NodeId("schema", "", "public"),
    NodeId("table", "public", "t"),
    NodeId("view", "public", "t"),  # the same record id as the table: a table became a view
    NodeId("view", "public", "v"),
    NodeId("column", "public", "t", "a"),
    NodeId("column", "public", "t", "b"),
    NodeId("function", "public", "f", "x integer"),
    NodeId("foreign_key", "public", "t", "t_b_fkey"),
    NodeId("legion_task", "", "scan"),
)


@st.composite
def graphs(draw: Any) -> Graph:
    ids = draw(st.lists(st.sampled_from(POOL), unique=True, min_size=1))
    if POOL[1] in ids and POOL[2] in ids:  # one relation has one kind
        ids.remove(POOL[draw(st.sampled_from([1, 2]))])
    nodes = {
        n: Node(n, (("position", draw(st.integers(1, 2))),), draw(st.sampled_from("xy")))
        for n in ids
    }
    pairs = st.tuples(st.sampled_from(ids), st.sampled_from(ids), st.booleans())
    edges = dedupe_edges(Edge(d, r, b) for d, r, b in draw(st.lists(pairs, max_size=8)))
    return Graph(nodes, edges, draw(st.sampled_from(["h1", "h2", "h3"])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(graphs(), min_size=2, max_size=4))
def test_deltas_written_to_a_real_store_leave_what_a_full_read_expects(seq: list[Graph]) -> None:
    async def run() -> None:
        async with GraphStore("mem://") as store:
            await store.record_event(
                "e1", "task_executed", 1.0, "legion", {"name": "scan", "schema_hash": "h0"}
            )  # a task only an event has seen: a placeholder record the graph may take over
            for i, graph in enumerate(seq):
                plan = await store.sync(graph)  # after the first: plan_delta
                assert plan.text
                assert store.graph is graph
                held = await store.state()  # read back from SurrealDB
                assert held.nodes == dict(store.kept_state.nodes)  # type: ignore[union-attr]
                assert dict(held.edges) == {edge_key(e): e.breaking for e in graph.edges}
                present = {k: s for k, (s, p) in held.nodes.items() if p}
                assert present == {node_key(n): node.sig for n, node in graph.nodes.items()}
                # the rest are tombstones: one per record id, of the last node that had it
                records = {rid(n): node_key(n) for g in seq[: i + 1] for n in g.nodes}
                assert set(held.nodes) == set(records.values())

    asyncio.run(run())


async def test_a_version_met_again_shows_its_latest_diff() -> None:
    s, t, c = POOL[0], POOL[1], POOL[4]
    a = Graph({s: Node(s), t: Node(t)}, (), "ha")
    b = Graph({s: Node(s), t: Node(t), c: Node(c)}, (), "hb")
    async with GraphStore("mem://") as store:
        for graph in (Graph({s: Node(s)}, (), "h0"), a, b, a):  # a change rolled back
            await store.sync(graph)
        what, follows = await store.query(
            "SELECT VALUE ->changed.{change, display} FROM ONLY schema_version:['ha'];"
            "SELECT VALUE [in.hash, out.hash] FROM follows;"
        )
        assert what == [{"change": "removed", "display": "public.t.a"}]
        assert sorted(follows) == [["ha", "h0"], ["ha", "hb"], ["hb", "ha"]]
