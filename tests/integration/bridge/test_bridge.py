"""TelemetryBridge on the in-process bus and a real SQLite store."""

from __future__ import annotations

import asyncio

import pytest

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.delivery import RetryPolicy
from ctas7_panel.bridge.routes import RoutingTable
from ctas7_panel.bridge.targets import BusTarget
from ctas7_panel.errors import ConfigError
from ctas7_panel.events import Event
from ctas7_panel.store import EventStore
from ctas7_panel.streams.bus import MemoryBus

from .conftest import FlakyTarget, wait_until

FAST = RetryPolicy(max_attempts=4, base=0.01, max_delay=0.02, max_elapsed=5)


def updated(i: int = 0) -> Event:
    return ev.schema_updated(new_hash=f"h{i}", old_hash=None, schema_path="s.ts", table_count=7)


def flaky(failures: int = 0) -> dict[str, FlakyTarget]:
    return {n: FlakyTarget(n, failures) for n in ("legion", "dashboard", "neural_mux")}


async def test_routes_transforms_stores_and_acks(store: EventStore) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    subs = {n: await bus.subscribe(n, topic=f"target.{n}") for n in targets}
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as bridge:
        sent = [updated(1), ev.task_executed(task_id="t", name="n", status="ok", duration_ms=1)]
        sent.append(Event.create("deploy_finished", {"v": 1}, source_node="ci"))
        for e in sent:
            await bus.publish(e)
        got: dict[str, list[Event]] = {n: [] for n in subs}
        for name, sub in subs.items():
            want = {"legion": 2, "dashboard": 2, "neural_mux": 2}[name]
            while len(got[name]) < want:
                got[name] += [m.event for m in await sub.get(10, timeout=2)]
        await wait_until(lambda: bus.stats()["events"].get("acked", 0) == 3)
        snap = bridge.metrics_snapshot()
    assert [e.event_type for e in got["dashboard"]] == ["schema_updated", "deploy_finished"]
    assert got["legion"][0].payload["action"] == "reload_database_types"
    assert got["legion"][0].event_id == sent[0].event_id
    assert got["neural_mux"][1].payload["topic"] == "ctas7.task.executed"
    assert snap["unrouted"] == 1 and snap["consumed"] == 3
    assert snap["success_rate"] == 1.0
    assert {e.event_id for _, e in store.fetch()} == {e.event_id for e in sent}


async def test_failed_attempts_are_retried_until_delivered(store: EventStore) -> None:
    bus = MemoryBus()
    targets = flaky(failures=2)
    async with TelemetryBridge(bus, store, targets=targets, retry=FAST, metrics_interval=None) as b:
        await bus.publish(updated())
        await wait_until(lambda: all(len(t.applied) == 1 for t in targets.values()))
        await wait_until(lambda: bus.stats()["events"].get("acked", 0) == 1)
        leg = b.metrics_snapshot()["targets"]["legion"]
    assert (leg["delivered"], leg["failed"], leg["retried"], leg["dead_lettered"]) == (1, 2, 2, 0)
    assert store.dead_letters() == []


async def test_gives_up_into_the_dead_letter_store_then_replays(store: EventStore) -> None:
    bus = MemoryBus()
    targets = flaky()
    targets["legion"].down = True
    bridge = TelemetryBridge(bus, store, targets=targets, retry=FAST, metrics_interval=None)
    async with bridge:
        e = updated()
        await bus.publish(e)
        await wait_until(lambda: len(store.dead_letters()) == 1)
        await wait_until(lambda: bus.stats()["events"].get("acked", 0) == 1)
        [dl] = store.dead_letters()
        assert (dl.target, dl.attempts, dl.event) == ("legion", 4, e)
        assert "gave up after 4 attempts" in dl.reason and "legion refused" in dl.reason
        # first_failure is when the first attempt failed: the retries' backoff lies between
        assert dl.last_failure - dl.first_failure >= sum(FAST.delay(k, 1.0) for k in (1, 2, 3))
        snap = bridge.metrics_snapshot()
        assert snap["targets"]["legion"]["dead_lettered"] == 1
        assert snap["targets"]["legion"]["success_rate"] == 0.0
        assert len(targets["dashboard"].applied) == 1  # other targets unaffected

        targets["legion"].down = False
        assert await bridge.replay_dead_letters() == 1
    assert [x.payload["action"] for x in targets["legion"].applied] == ["reload_database_types"]
    assert store.dead_letters() == []
    assert store.dead_letters(include_replayed=True)[0].replayed_at is not None


async def test_replay_that_fails_again_stays_a_dead_letter(store: EventStore) -> None:
    bus = MemoryBus()
    targets = flaky()
    targets["neural_mux"].down = True
    async with TelemetryBridge(bus, store, targets=targets, retry=FAST, metrics_interval=None) as b:
        await b.submit([updated()])
        await wait_until(lambda: len(store.dead_letters()) == 1)
        assert await b.replay_dead_letters() == 0
    [dl] = store.dead_letters()
    assert dl.attempts == 8 and dl.replayed_at is None


async def test_a_payload_the_transform_cannot_read_is_dead_lettered(store: EventStore) -> None:
    bus = MemoryBus()
    targets = flaky()
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as b:
        bad = Event("evt_bad", "schema_updated", 1.0, "x", {"status": "updated"})  # unchecked
        await bus.publish(bad)
        await wait_until(lambda: len(store.dead_letters()) == 2)
        snap = b.metrics_snapshot()
    assert snap["transform_errors"] == 2
    assert len(targets["dashboard"].applied) == 1  # its transform needs no payload field
    letters = store.dead_letters()
    assert {d.target for d in letters} == {"invalid:legion", "invalid:neural_mux"}
    assert all("KeyError" in d.reason for d in letters)
    assert letters[0].event.payload["event"]["event_id"] == "evt_bad"
    assert letters[0].event.payload["field"] == "payload.new_hash"


async def test_bus_targets_deduplicate_redeliveries(store: EventStore) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    sub = await bus.subscribe("legion", topic="target.legion")
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=None) as b:
        e = updated()
        await b.submit([e, e])
        await b.submit([e])
        got = await sub.get(10, timeout=0.3)
    assert [m.event.event_id for m in got] == [e.event_id]
    assert targets["legion"].duplicates == 2


async def test_close_drains_retries_and_hands_back_what_did_not_settle(
    store: EventStore,
) -> None:
    bus = MemoryBus()
    targets = flaky()
    targets["legion"].down = True
    slow = RetryPolicy(max_attempts=100, base=0.05, max_delay=0.05, max_elapsed=60)
    bridge = TelemetryBridge(
        bus, store, targets=targets, retry=slow, metrics_interval=None, drain_timeout=0.3
    )
    await bridge.start()
    await bus.publish(updated())
    await wait_until(lambda: bridge.in_flight == 1)
    await bridge.close()
    await bridge.close()  # idempotent
    again = await bus.subscribe("bridge")
    [msg] = await again.get(5, timeout=1)
    assert msg.delivery_count == 2  # unacked: handed back to the group
    assert store.count() == 1


async def test_metrics_events_are_published_and_routed(store: EventStore) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    dash = await bus.subscribe("d", topic="target.dashboard")
    async with TelemetryBridge(bus, store, targets=targets, metrics_interval=0.05):
        async with asyncio.timeout(5):
            while True:
                msgs = await dash.get(10, timeout=1)
                hit = [m.event for m in msgs if m.event.event_type == "bridge_metrics"]
                if hit:
                    break
    assert hit[0].payload["ui_action"] == "update_bridge_health"


def test_a_route_to_an_unknown_target_is_refused(store: EventStore) -> None:
    table = RoutingTable.from_mapping({"x": ["archive"]})
    with pytest.raises(ConfigError, match="'archive'"):
        TelemetryBridge(MemoryBus(), store, targets=flaky(), routes=table)
