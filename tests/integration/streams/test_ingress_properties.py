"""Property: whatever a client sends to the real ingress, each frame is acked or answered with an
error, every acked event reads back from the history (SQLite and PostgreSQL) exactly as sent and
reaches every feed its route names (or is a dead letter there, with its reason), and nothing
stops.

The pipeline (memory bus, bridge, store, gateway with all its feeds and a reader on each) runs
on its own event loop in a thread; hypothesis drives it through real websockets from the test's
thread. Frames: whole envelopes, valid (two thirds) and with one field made wrong, deep (around the
depth limit) and wide, odd unicode (NUL, astral planes; lone surrogates as escapes and as invalid
UTF-8), odd numbers (beyond 64 bits, -0.0, 1e300, 5e-324; NaN and Infinity, which are not JSON),
optional fields left out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect as aconnect
from websockets.sync.client import connect

from ctas7_panel.bridge.bridge import TelemetryBridge
from ctas7_panel.bridge.routes import DEFAULT_TABLE
from ctas7_panel.bridge.targets import BusTarget
from ctas7_panel.events import EVENT_TYPE_PATTERN, MAX_DEPTH, PAYLOAD_FIELDS
from ctas7_panel.store import EventStore, open_store
from ctas7_panel.streams.bus import MemoryBus
from ctas7_panel.streams.gateway import DEFAULT_PORTS, Gateway, GatewayConfig
from tests.waiting import wait_until

NAMES = ("legion", "dashboard", "neural_mux")
FEEDS = {"legion": "legion_events", "dashboard": "dioxus_events", "neural_mux": "mux_events"}


@dataclass
class Running:
    """The pipeline on its loop: URLs, the store, what each feed received."""

    store: EventStore
    gateway: Gateway
    bridge: TelemetryBridge
    loop: asyncio.AbstractEventLoop
    feeds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    def alive(self) -> bool:
        """Every task of the bridge, the gateway and the feed readers is still running."""
        tasks = [*self.bridge._tasks, *self.gateway._tasks, *self.readers]
        return all(not t.done() for t in tasks)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('props') / 'events.db'}"
        yield from _run(url)
    else:
        from ctas7_panel import pgtools

        admin = request.getfixturevalue("pg_admin_url")
        with pgtools.temporary_database(admin) as url:
            yield from _run(url)


def _run(url: str) -> Iterator[Running]:
    loop = asyncio.new_event_loop()
    ready: list[Running] = []
    stop = asyncio.Event()
    started = threading.Event()

    async def main() -> None:
        store = open_store(url)
        bus = MemoryBus()
        bridge = TelemetryBridge(
            bus, store, targets={n: BusTarget(n, bus) for n in NAMES}, metrics_interval=None
        )
        cfg = GatewayConfig(
            ports=dict.fromkeys(DEFAULT_PORTS, 0), single_port=0, ping_interval=None
        )
        gateway = Gateway(None, bus, store=store, config=cfg, store_health=bridge.store_health)
        await bridge.start()
        await gateway.start()
        r = Running(store, gateway, bridge, loop, {f: {} for f in FEEDS.values()})
        r.feeds["schema_events"] = {}

        async def read(endpoint: str) -> None:
            async with aconnect(gateway.url(endpoint), max_size=None) as ws:
                async for frame in ws:
                    e = orjson.loads(frame)
                    r.feeds[endpoint][e["event_id"]] = e

        r.readers = [asyncio.create_task(read(e)) for e in r.feeds]
        await wait_until(
            lambda: all(gateway.client_count(e) == 1 for e in r.feeds), "every feed's reader"
        )
        ready.append(r)
        started.set()
        await stop.wait()
        for t in r.readers:
            t.cancel()
        await gateway.close()
        await bridge.close()
        store.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30), "the pipeline did not start"
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


# --- strategies -----------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("\x00é😀"), max_size=12)
names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
)
numbers = (
    st.integers(-(2**70), 2**70)  # beyond 64 bits orjson reads a float: kept as that float
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([-0.0, 1e300, 5e-324, 2**63, 2**64 - 1, 1e16, 1e23, 123456789.0])
)
values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda c: st.lists(c, max_size=6) | st.dictionaries(text, c, max_size=6),
    max_leaves=30,
)


def nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"n": value}
    return value


def deep(low: int, high: int) -> st.SearchStrategy[dict[str, Any]]:
    """A payload member making the whole event ``low``..``high`` levels deep."""
    return st.integers(low, high).map(lambda d: {"deep": nest(0, d - 2)})


wide = st.dictionaries(text, st.none() | st.booleans() | numbers | text, min_size=50, max_size=300)
routed = st.sampled_from(list(PAYLOAD_FIELDS)).map(
    lambda t: (
        t,
        {
            k: {"string": "s", "integer": 1, "number": 1.5}.get(v[0])
            for k, v in PAYLOAD_FIELDS[t].items()
        },
    )
)
unrouted = st.from_regex(EVENT_TYPE_PATTERN, fullmatch=True).filter(
    lambda t: t not in PAYLOAD_FIELDS
)
# one field made wrong, the rest valid
GARBAGE: dict[str, st.SearchStrategy[Any]] = {
    "event_type": st.sampled_from(["", "Bad Type", 5, None, "x" * 65]),
    "event_id": st.sampled_from(["", "a\x00b", 7, None, "i" * 129]),
    "source_node": st.sampled_from(["", "\x00", [], None, "s" * 129]),
    "timestamp": st.sampled_from(
        [float("nan"), float("inf"), -1, 1e300, 4102444800, "now", [1], {"t": 1}, True]
    ),
    "payload": st.sampled_from([[1], "x", None, 1, {"x": float("nan")}, {"x": "\ud800"}]),
    "deep": deep(MAX_DEPTH + 1, MAX_DEPTH + 3),
    "unexpected": st.just(1),
}


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope (deep up to the limit, or wide, or plain), or one with one bad field."""
    if draw(st.booleans()):
        etype, payload = draw(routed)
    else:
        etype, payload = draw(unrouted), {}
    payload = {**payload, **draw(st.dictionaries(text, values, max_size=5))}
    shape = draw(st.sampled_from(["plain", "deep", "wide"]))
    if shape == "deep":
        payload.update(draw(deep(MAX_DEPTH - 4, MAX_DEPTH)))
    elif shape == "wide":
        payload.update(draw(wide))
    doc: dict[str, Any] = {"event_type": etype, "payload": payload}
    if draw(st.booleans()):
        doc["event_id"] = draw(names)
    if draw(st.booleans()):
        doc["timestamp"] = draw(st.floats(0, 4.1e9) | st.integers(0, 4_102_444_799))
    if draw(st.booleans()):
        doc["source_node"] = draw(names)
    if draw(st.integers(0, 2)) == 2:  # a third of them: one field made wrong
        bad = draw(st.sampled_from(sorted(GARBAGE)))
        garbage = draw(GARBAGE[bad])
        if bad == "deep":
            doc["payload"] = {**payload, **garbage}
        else:
            doc[bad] = garbage
    return doc


_ids = itertools.count()


def encode(doc: dict[str, Any], ascii_only: bool) -> str | bytes:
    """Python's json: writes NaN/Infinity and big integers (orjson would not), and with
    ``ascii_only`` escapes lone surrogates; otherwise they go out as invalid UTF-8 bytes."""
    if isinstance(doc.get("event_id"), str):
        doc["event_id"] = f"p{next(_ids)}-{doc['event_id']}"  # unique in the history
    text = json.dumps(doc, ensure_ascii=ascii_only)
    return text if ascii_only else text.encode("utf-8", "surrogatepass")


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def stored(store: EventStore, event_id: str) -> Any:
    for _, e in store.fetch(limit=20):
        if e.event_id == event_id:
            return e
    return None


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(envelopes(), st.booleans())
def test_every_frame_is_answered_and_every_acked_event_is_kept_and_fed(
    running: Running, doc: dict[str, Any], ascii_only: bool
) -> None:
    frame = encode(doc, ascii_only)
    with connect(running.gateway.url("telemetry_bridge"), max_size=None) as ws:
        ws.send(frame)
        reply = orjson.loads(ws.recv(timeout=10))
        ws.send(b'{"event_type": "qa5_validation", "payload": {"status": "still open"}}')
        assert "ack" in orjson.loads(ws.recv(timeout=10))  # the connection is still open
    assert set(reply) in ({"ack"}, {"error", "field"}, {"error", "field", "event_id"}), reply
    assert running.alive()
    event("acked" if "ack" in reply else f"refused: {reply['field']}")
    if "ack" not in reply:
        return
    sent = orjson.loads(frame)  # what the ingress parsed: the reference
    event_id = reply["ack"]
    assert wait_for(lambda: stored(running.store, event_id) is not None), "not in the history"
    back = stored(running.store, event_id)
    assert orjson.dumps(back.payload) == orjson.dumps(sent["payload"])  # exact, numbers too
    assert back.event_type == sent["event_type"]
    assert back.source_node == sent.get("source_node", "external")
    if "timestamp" in sent:
        assert back.timestamp == sent["timestamp"]
    routes = DEFAULT_TABLE.resolve(back.event_type).targets
    for target in routes:
        feed = running.feeds[FEEDS[target]]

        def arrived(target: str = target, feed: dict[str, Any] = feed) -> bool:
            if event_id in feed:
                return True
            letters = running.store.dead_letters()
            kept_as = (target, f"invalid:{target}", f"feed:{FEEDS[target]}")
            return any(
                d.target in kept_as
                and (d.event.event_id == event_id or event_id in str(d.event.payload))
                for d in letters
            )

        assert wait_for(arrived), f"{event_id} neither on /{FEEDS[target]} nor dead-lettered"
    if back.event_type.startswith("schema_"):
        assert wait_for(lambda: event_id in running.feeds["schema_events"])


def test_the_pipeline_still_flows_after_the_properties(running: Running) -> None:
    with connect(running.gateway.url("telemetry_bridge")) as ws:
        ws.send(b'{"event_type": "qa5_validation", "payload": {"status": "last"}}')
        event_id = orjson.loads(ws.recv(timeout=10))["ack"]
    assert wait_for(lambda: stored(running.store, event_id) is not None)
    assert all(wait_for(lambda f=f: event_id in running.feeds[f]) for f in FEEDS.values())
    assert running.alive()
    assert running.bridge.store_health.up
