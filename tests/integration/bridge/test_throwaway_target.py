"""Adding a target is one ``TargetSpec`` plus its transform (issue 16).

A throwaway target, registered at run time and nowhere else, is routed by the default table,
delivered by the bridge on its own topic, fed over the gateway's websocket, taken by
``Settings`` (its endpoint variable), ``ctas7 bridge``'s flags and ``--forward``, and shown by
the dashboard (its topic folded into the stream, its latency line, its probe): no other module
is edited for it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from ctas7_panel import events as ev
from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.cli import _ports, register
from ctas7_panel.bridge.routes import load_routes
from ctas7_panel.bridge.targets import BusTarget, WebSocketTarget, build_targets
from ctas7_panel.dashboard.app import default_probes
from ctas7_panel.dashboard.hub import Hub
from ctas7_panel.dashboard.records import label, targets
from ctas7_panel.dashboard.views.latency import empty_columns
from ctas7_panel.events import Event
from ctas7_panel.settings import Settings
from ctas7_panel.store import EventStore
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import Gateway, GatewayConfig, default_ports
from ctas7_panel.targetspec import TargetSpec, extra_target, target_names

NAME = "audit_sink"
FEED = "audit_sink_events"
VARIABLE = "CTAS7_AUDIT_SINK_ENDPOINT"


def audit_transform(event: Event) -> dict[str, Any]:
    """The throwaway target's payload: what it is, and the event's payload under ``data``."""
    return {"seen": event.event_type, "data": dict(event.payload)}


@pytest.fixture
def audit_sink() -> Iterator[TargetSpec]:
    spec = TargetSpec(
        NAME,
        feed=FEED,
        default_port=0,
        setting=VARIABLE,
        setting_attr="audit_sink_endpoint",
        transform=audit_transform,
        label="Audit sink",
        routes=("qa5_validation", "audit_*"),
        color="#ffa657",
        setting_doc="where the audit sink's feed is served",
    )
    with extra_target(spec):
        yield spec
    assert NAME not in target_names()


def test_the_table_without_the_throwaway_target_is_the_seed_matrix() -> None:
    assert NAME not in target_names()
    assert NAME not in load_routes(None).targets
    assert FEED not in default_ports()


async def test_a_target_added_as_one_entry_is_routed_delivered_fed_and_shown(
    audit_sink: TargetSpec, store: EventStore, tmp_path: Path
) -> None:
    settings = Settings.from_env({"CTAS_HASH_CACHE_PATH": str(tmp_path / ".last_schema_hash")})
    routes = load_routes(None)
    assert routes.resolve("audit_trail").targets == (NAME,)
    assert NAME in routes.resolve("qa5_validation").targets
    assert settings.endpoint(NAME) == f"ws://localhost:0/{FEED}"

    bus = MemoryBus()
    built = build_targets(settings, bus)
    assert isinstance(built[NAME], BusTarget) and built[NAME].topic == f"target.{NAME}"
    config = GatewayConfig.from_settings(settings, single_port=0)
    async with (
        TelemetryBridge(bus, store, targets=built, routes=routes, metrics_interval=None) as bridge,
        Gateway(settings, bus, config=config, metrics=bridge.metrics_text) as gw,
        Hub(bus, None, settings, tick_s=0.05) as hub,
    ):
        assert FEED in gw.ports
        async with connect(gw.url(FEED)) as feed:
            async with asyncio.timeout(5):
                while gw.client_count(FEED) == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            event = ev.qa5_validation(status="passed")
            other = Event.create("audit_trail", {"who": "ci"}, source_node="test")
            await bridge.submit([event, other])
            got: list[dict[str, Any]] = []
            async with asyncio.timeout(5):
                while len(got) < 2:
                    got.append(orjson.loads(await feed.recv()))
        assert [g["event_id"] for g in got] == [event.event_id, other.event_id]
        assert got[0]["payload"] == audit_transform(event)
        assert got[1]["payload"] == {"seen": "audit_trail", "data": {"who": "ci"}}

        async with asyncio.timeout(5):
            while not ((r := hub.digest.record(other.event_id)) is not None and NAME in r.targets):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        record = hub.digest.record(other.event_id)
        assert record is not None
        assert record.detail()["delivered"][NAME] == {"seen": "audit_trail", "data": {"who": "ci"}}
        text = bridge.metrics_text(gw.metric_rows())
        assert f'ctas7_bridge_delivered_total{{route="audit_*",target="{NAME}"}} 1' in text
        assert f'ctas7_gateway_sent_total{{endpoint="{FEED}"}} 2' in text

    # shown: the latency chart has its line, the status bar its probe, with the spec's label
    assert NAME in targets() and label(NAME) == "Audit sink"
    assert f"{NAME}_p50" in empty_columns()
    assert NAME in default_probes(settings, object())


def test_its_endpoint_variable_and_the_cli_flags_come_from_the_entry(
    audit_sink: TargetSpec,
) -> None:
    remote = "ws://10.20.30.40:9999/audit_sink_events"
    settings = Settings.from_env({VARIABLE: remote})
    assert settings.endpoint(NAME) == remote
    built = build_targets(settings, MemoryBus())
    assert isinstance(built[NAME], WebSocketTarget) and built[NAME].url == remote
    forwarded = build_targets(Settings(), MemoryBus(), forward={NAME: remote})
    assert isinstance(forwarded[NAME], WebSocketTarget)
    assert _ports([(FEED, "9100")]) == {FEED: 9100}
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    bridge_help = parser._subparsers._group_actions[0].choices["bridge"].format_help()  # type: ignore[union-attr]
    assert FEED in bridge_help and NAME in bridge_help
    with pytest.raises(Exception, match="ws://"):
        Settings.from_env({VARIABLE: "http://nope"})
