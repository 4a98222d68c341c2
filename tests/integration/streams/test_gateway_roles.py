"""Roles on the real gateway: a forged ``schema_updated`` with the read token is refused and
counted (and never reaches Legion's feed); with the admin token it is accepted. The project's
own clients (``ctas7 audit``, ``ctas7 ingest``) send the admin token when they have it."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge, gateway_metrics_text
from ctas7_panel.bridge.targets import BusTarget
from ctas7_panel.cli import main
from ctas7_panel.migrations import apply_migrations
from ctas7_panel.store import EventStore, open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig
from tests.waiting import wait_until

READ = "roles-read-token-3b8e0d"  # test_log_hygiene.py greps a DEBUG run for these
ADMIN = "roles-admin-token-a9c27f"
FORGED = ev.schema_updated(
    new_hash="f" * 64, old_hash=None, schema_path="forged.ts", table_count=0, source_node="evil"
)


def gateway_config(**kw: Any) -> GatewayConfig:
    base: dict[str, Any] = {
        "ports": dict.fromkeys(DEFAULT_PORTS, 0),
        "single_port": 0,
        "ping_interval": None,
        "token": READ,
        "admin_token": ADMIN,
    }
    return GatewayConfig(**{**base, **kw})


async def recv_json(conn: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        reply: dict[str, Any] = orjson.loads(await conn.recv())
        return reply


def metrics(port: int, token: str) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return str(r.read().decode())


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = open_store(f"sqlite:///{tmp_path / 'events.db'}")
    yield s
    s.close()


async def test_forged_schema_update_with_the_read_token_is_refused_counted_and_kept(
    store: EventStore,
) -> None:
    bus = MemoryBus()
    targets = {n: BusTarget(n, bus) for n in ("legion", "dashboard", "neural_mux")}
    async with (
        TelemetryBridge(bus, store, targets=targets, metrics_interval=None),
        Gateway(
            None, bus, store=store, config=gateway_config(), metrics=gateway_metrics_text
        ) as gw,
    ):
        port = gw.ports["telemetry_bridge"]
        legion = await connect(gw.url("legion_events"), additional_headers=_bearer(READ))
        read = await connect(gw.url("telemetry_bridge"), additional_headers=_bearer(READ))
        await wait_until(lambda: gw.client_count("legion_events") == 1, "Legion's feed client")

        await read.send(FORGED.to_json().decode())
        refused = await recv_json(read)
        assert refused["field"] == "event_type" and refused["event_id"] == FORGED.event_id
        assert "'schema_updated' is reserved" in refused["error"]
        assert "need CTAS7_ADMIN_TOKEN" in refused["error"]  # names the rule
        with pytest.raises(TimeoutError):  # Legion never hears of it
            await recv_json(legion, timeout=0.5)

        ordinary = ev.qa5_validation(status="passed")  # the read token's job
        await read.send(ordinary.to_json().decode())
        assert await recv_json(read) == {"ack": ordinary.event_id}  # the connection stays open
        assert (await recv_json(legion))["event_id"] == ordinary.event_id

        admin = await connect(f"{gw.url('telemetry_bridge')}?token={ADMIN}")
        await admin.send(FORGED.to_json().decode())
        assert await recv_json(admin) == {"ack": FORGED.event_id}
        delivered = await recv_json(legion)
        assert delivered["event_id"] == FORGED.event_id
        assert delivered["payload"]["action"] == "reload_database_types"
        for conn in (legion, read, admin):
            await conn.close()

        assert (gw.stats.forbidden, gw.stats.accepted, gw.stats.rejected) == (1, 2, 0)
        text = await asyncio.to_thread(metrics, port, READ)
        assert "ctas7_gateway_ingress_forbidden_total 1" in text
    [kept] = store.dead_letters(target="ingress")
    assert kept.event.payload["field"] == "event_type"
    assert kept.event.payload["frame"] == FORGED.to_json().decode()
    assert kept.event.payload["peer"].startswith("127.0.0.1:")


async def test_every_reserved_type_needs_the_admin_token_ordinary_ones_do_not() -> None:
    bus = MemoryBus()
    sub = await bus.subscribe("check")
    async with Gateway(None, bus, config=gateway_config(), metrics=gateway_metrics_text) as gw:
        reserved = [
            FORGED,
            ev.schema_error(error="x", stage="connect"),
            ev.legion_schema_telemetry(old_hash=None, new_hash="h", reload_ms=1.0),
            ev.Event.create("bridge_metrics", {"delivered": 10**9}, source_node="evil"),
            ev.Event.create("schema_audit", {"status": "VERIFIED"}, source_node="evil"),
        ]
        async with connect(gw.url("telemetry_bridge"), additional_headers=_bearer(READ)) as ws:
            for e in reserved:
                await ws.send(e.to_json().decode())
                assert (await recv_json(ws))["field"] == "event_type"
            task = ev.task_executed(task_id="t1", name="n", status="success", duration_ms=1.0)
            for e in (task, _ordinary("deploy_done")):
                await ws.send(e.to_json().decode())
                assert await recv_json(ws) == {"ack": e.event_id}
        assert gw.stats.forbidden == len(reserved)
    assert [m.event.event_type for m in await sub.get(10, timeout=0.5)] == [
        "task_executed",
        "deploy_done",
    ]


async def test_no_token_configured_keeps_everything_allowed_on_loopback() -> None:
    bus = MemoryBus()
    async with Gateway(
        None, bus, config=gateway_config(token=None, admin_token=None), metrics=gateway_metrics_text
    ) as gw:
        async with connect(gw.url("telemetry_bridge")) as ws:
            await ws.send(FORGED.to_json().decode())
            assert await recv_json(ws) == {"ack": FORGED.event_id}
        assert gw.stats.forbidden == 0


async def test_either_token_opens_feeds_and_metrics_a_wrong_one_does_not() -> None:
    bus = MemoryBus()
    async with Gateway(None, bus, config=gateway_config(), metrics=gateway_metrics_text) as gw:
        for token in (READ, ADMIN):
            async with connect(gw.url("dioxus_events"), additional_headers=_bearer(token)):
                pass
            assert "ctas7_gateway_unauthorized_total" in await asyncio.to_thread(
                metrics, gw.ports["telemetry_bridge"], token
            )
        for wrong in (READ[:-1], ADMIN + "x", "Bearer"):
            with pytest.raises(InvalidStatus) as info:
                async with connect(gw.url("dioxus_events"), additional_headers=_bearer(wrong)):
                    pass
            assert info.value.response.status_code == 401
        assert gw.stats.unauthorized == 3


@pytest.mark.parametrize(("client_env", "accepted"), [("admin", True), ("read", False)])
async def test_ctas7_audit_sends_the_admin_token_when_it_has_it(
    fresh_db_url: str, tmp_path: Path, client_env: str, accepted: bool
) -> None:
    """The real ``ctas7 audit`` (its schema_* events are reserved) against the real gateway."""
    apply_migrations(fresh_db_url)
    bus = MemoryBus()
    sub = await bus.subscribe("check")
    async with Gateway(None, bus, config=gateway_config(), metrics=gateway_metrics_text) as gw:
        env = {
            "CTAS7_TOKEN": READ,
            "CTAS7_STORE_URL": f"sqlite:///{tmp_path / 'events.db'}",
            "CTAS_SCHEMA_PATH": str(tmp_path / "types.ts"),
            "CTAS_HASH_CACHE_PATH": str(tmp_path / ".hash"),
        }
        if client_env == "admin":
            env["CTAS7_ADMIN_TOKEN"] = ADMIN
        argv = ["audit", "--db-url", fresh_db_url, "--no-report"]
        argv += ["--bridge-url", gw.url("telemetry_bridge")]
        code = await asyncio.to_thread(main, argv, env)
        assert code == 0
        types = {m.event.event_type for m in await sub.get(10, timeout=0.5)}
        if accepted:
            assert types == {"schema_updated", "schema_audit"} and gw.stats.forbidden == 0
        else:
            assert types == set() and gw.stats.forbidden == 2


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _ordinary(event_type: str) -> ev.Event:
    return ev.Event.create(event_type, {"ok": True}, source_node="ci")
