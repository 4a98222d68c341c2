"""The whole loop on real parts: schema_updated -> bridge -> Legion reload ->
legion_schema_telemetry -> bridge (stored) -> Neural Mux KPIs; task_executed the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctas7_panel import events as ev
from ctas7_panel import pgtools
from ctas7_panel.legion import LegionExecutionEngine, Query, Task
from ctas7_panel.mux import NeuralMux
from ctas7_panel.settings import Settings
from ctas7_panel.store import open_store
from ctas7_panel.streams.bus import MemoryBus

bridge_mod = pytest.importorskip("ctas7_panel.bridge.bridge", reason="bridge not in this checkout")
targets_mod = pytest.importorskip("ctas7_panel.bridge.targets")


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():  # noqa: ASYNC110 - polling state owned by other components
            await asyncio.sleep(0.01)


async def test_legion_telemetry_reaches_the_bridge_and_the_mux(
    jobs_db: str, artifacts: Any, tmp_path: Path
) -> None:
    old_hash = artifacts.write(jobs_db)
    store = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    settings = Settings()
    async with MemoryBus() as bus:
        targets = targets_mod.build_targets(settings, bus)
        bridge = bridge_mod.TelemetryBridge(bus, store, targets=targets, metrics_interval=None)
        legion = LegionExecutionEngine(
            database_url=jobs_db,
            bus=bus,
            hash_cache_path=artifacts.hash_cache,
            schema_path=artifacts.types,
            watch=False,
        )
        mux = NeuralMux(bus=bus, settings=settings)
        async with bridge, legion, mux:
            reloads = mux.subscribe("ctas7.legion.#")
            pgtools.apply_sql(jobs_db, "ALTER TABLE public.jobs ADD COLUMN owner text")
            new_hash = artifacts.write(jobs_db)
            await bus.publish(
                ev.schema_updated(
                    new_hash=new_hash,
                    old_hash=old_hash,
                    schema_path=str(artifacts.types),
                    table_count=1,
                )
            )
            await wait_for(lambda: legion.get_schema_status()["current_hash"] == new_hash)
            result = await legion.execute(Task("owners", query=Query("jobs", columns=("owner",))))
            assert result.ok and result.rows == 3

            got = await reloads.get(timeout=10)
            assert got is not None
            assert got.data["new_hash"] == new_hash
            assert got.data["old_hash"] == old_hash

            def stored(event_type: str) -> list[Any]:
                return [e for _, e in store.fetch(types=[event_type])]

            await wait_for(lambda: bool(stored("legion_schema_telemetry")))
            await wait_for(lambda: bool(stored("task_executed")))
            (telemetry,) = stored("legion_schema_telemetry")
            assert telemetry.payload["new_hash"] == new_hash
            assert telemetry.source_node == "legion"
            (executed,) = stored("task_executed")
            assert executed.payload["schema_hash"] == new_hash

            await wait_for(lambda: mux.stats["received"] >= 3)
            kpis = (await mux.kpis())["topics"]
            assert kpis["ctas7.task.executed"]["statuses"] == {"succeeded": 1}
            assert kpis["ctas7.legion.schema_reload"]["messages_total"] == 1
            assert kpis["ctas7.schema.update"]["messages_total"] == 1
    store.close()
