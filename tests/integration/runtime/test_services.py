"""The whole system in one process on a real database: DDL -> schema_updated -> Legion reload;
demo tasks -> task_executed; everything in the store; a clean stop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ctas7_panel.cli import main
from ctas7_panel.demo import DemoActivity, DemoConfig
from ctas7_panel.migrations import applied, apply_migrations, bundled
from ctas7_panel.runtime import Services
from ctas7_panel.settings import Settings


def settings_for(url: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "CTAS7_DATABASE_URL": url,
            "CTAS7_HOME": str(tmp_path / "home"),
            "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
            "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
            "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
            "CTAS7_POLL_INTERVAL": "1",
        }
    )


async def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling real components, no event to wait on
            await asyncio.sleep(0.05)


def stored(svc: Services, *types: str) -> bool:
    return {e.event_type for _, e in svc.store.fetch(types=list(types))} == set(types)


async def test_ddl_reaches_legion_and_the_store(fresh_db_url: str, tmp_path: Path) -> None:
    apply_migrations(fresh_db_url)
    s = settings_for(fresh_db_url, tmp_path)
    async with Services(s, demo=False, gateway=False, metrics_interval=0.5) as svc:
        first_hash = svc.legion.get_schema_status()["current_hash"]
        assert first_hash == svc.sync_node.last_fingerprint
        assert svc.status.components["ddl_trigger"]["up"]
        demo = DemoActivity(fresh_db_url, legion=svc.legion)
        assert await demo.step_ddl() == "0101_node_region.sql"
        await wait_for(lambda: svc.legion.get_schema_status()["current_hash"] != first_hash)
        types_text = await asyncio.to_thread(Path(s.schema_path).read_text)
        assert "region: string" in types_text
        await wait_for(
            lambda: stored(svc, "schema_updated", "legion_schema_telemetry", "bridge_metrics")
        )


async def test_demo_drives_ddl_tasks_and_tests(fresh_db_url: str, tmp_path: Path) -> None:
    apply_migrations(fresh_db_url)
    s = settings_for(fresh_db_url, tmp_path)
    config = DemoConfig(ddl_every=0.5, task_rate=20, tests_every=0, first_ddl_after=0.1)
    async with Services(s, demo=True, gateway=False, demo_config=config) as svc:
        await wait_for(lambda: svc.demo.tasks_run >= 10 and len(svc.demo.ddl_applied) >= 3)
    assert applied(fresh_db_url) >= {m.name for m in bundled("demo")[:3]}
    with svc.store.__class__(tmp_path / "events.db") as store:
        df = store.load_events(types=["task_executed"])
    assert len(df) >= 10
    assert set(df["payload"].map(lambda p: p["status"])) == {"succeeded"}


def test_ctas7_demo_command_prints_events(
    fresh_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_migrations(fresh_db_url)
    env = {
        "CTAS7_DATABASE_URL": fresh_db_url,
        "CTAS7_HOME": str(tmp_path / "home"),
        "CTAS7_STORE_URL": f"sqlite:///{tmp_path}/events.db",
        "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
        "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
        "CTAS7_BIND": "127.0.0.1",
    }
    code = main(
        [
            "demo",
            "--duration",
            "4",
            "--ddl-every",
            "0.7",
            "--task-rate",
            "10",
            "--tests-every",
            "0",
            "--json",
            "--no-gateway",
        ],
        env,
    )
    assert code == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = {e["event_type"] for e in out}
    assert {"schema_updated", "task_executed"} <= kinds


async def test_a_second_process_runs_without_the_gateway_when_its_port_is_taken(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """As with ``panel serve --num-procs`` on one Redis bus: the sibling serves the ports."""
    import socket

    apply_migrations(fresh_db_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        s = settings_for(fresh_db_url, tmp_path)
        async with Services(s, demo=False, gateway=True, gateway_port=port) as svc:
            assert svc.gateway is None
            assert svc.status.components["gateway"]["up"] is False
            assert "already in use" in svc.status.components["gateway"]["detail"]
            assert svc.legion.get_schema_status()["current_hash"]  # the rest runs
