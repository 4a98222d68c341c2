"""The edge's limits (events.py): exactly what every sink can take, checked once, named errors."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import orjson
import pytest

from ctas7_panel import events
from ctas7_panel.errors import EventError
from ctas7_panel.events import MAX_DEPTH, MAX_TIMESTAMP, SINK_MAX_DEPTH, WRAP_DEPTH, Event


def nested(levels: int) -> Any:
    """A JSON value ``levels`` containers deep (0: a scalar)."""
    value: Any = 1
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


def event_of_depth(depth: int) -> dict[str, Any]:
    """An envelope whose whole JSON is ``depth`` levels deep (the envelope is level 1)."""
    return {
        "event_id": "evt_deep",
        "event_type": "deep",
        "timestamp": 1.0,
        "source_node": "t",
        "payload": {"p": nested(depth - 2)},
    }


def test_the_shallowest_sink_is_orjson_at_254_levels() -> None:
    """Pins ``SINK_MAX_DEPTH``: if orjson's writer changes, this says so."""
    orjson.dumps(nested(SINK_MAX_DEPTH))
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(nested(SINK_MAX_DEPTH + 1))
    assert MAX_DEPTH == SINK_MAX_DEPTH - WRAP_DEPTH


def test_an_event_at_the_depth_limit_survives_the_deepest_wrapping() -> None:
    doc = event_of_depth(MAX_DEPTH)
    event = Event.from_json(orjson.dumps(doc))
    # a dead letter of an invalid event: {"payload": {"event": <the event>}} inside an envelope
    wrapped = {"event_id": "w", "payload": {"event": event.to_dict()}}
    assert orjson.loads(orjson.dumps(wrapped))["payload"]["event"] == doc
    with pytest.raises(EventError) as info:
        Event.from_json(orjson.dumps(event_of_depth(MAX_DEPTH + 1)))
    assert info.value.field == "payload"
    assert f"more than {MAX_DEPTH} levels" in str(info.value)


@pytest.mark.parametrize("maker", ["from_json", "create"])
def test_three_hundred_levels_are_refused_both_from_the_wire_and_in_process(maker: str) -> None:
    doc = event_of_depth(300)
    with pytest.raises(EventError, match="levels deep"):
        if maker == "from_json":
            Event.from_json(json.dumps(doc))
        else:
            Event.create("deep", doc["payload"], source_node="t")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        (2**64, "outside"),
        (-(2**63) - 1, "outside"),
        ("\ud800", "not valid Unicode"),
        (b"bytes", "bytes is not a JSON value"),
        ({1: "x"}, "not a string"),
        ({"k": ("a", "tuple")}, "tuple is not a JSON value"),
    ],
)
def test_in_process_values_every_sink_cannot_take_are_refused(value: object, words: str) -> None:
    with pytest.raises(EventError) as info:
        Event.create("x", {"a": [{"b": value}]}, source_node="t")
    assert words in str(info.value)
    assert info.value.field is not None and info.value.field.startswith("payload.a")


def test_limits_hold_for_integers_orjson_reads_and_writes() -> None:
    e = Event.create("x", {"hi": 2**64 - 1, "lo": -(2**63), "f": 1e308}, source_node="t")
    assert Event.from_json(e.to_json()) == e


@pytest.mark.parametrize(
    "timestamp",
    ["aaa" * 1000, [1, 2], {"t": 1}, 1e300, MAX_TIMESTAMP, -1, True, None],
)
def test_bad_timestamps_are_event_errors_even_when_defaults_are_filled(timestamp: object) -> None:
    """Before, a string timestamp was multiplied by 1000 to make the missing event_id (a 250 KB
    frame took 500 MB and closed the socket with 1011); a list or 1e300 raised TypeError or
    OverflowError."""
    frame = orjson.dumps({"event_type": "x", "timestamp": timestamp, "payload": {}})
    with pytest.raises(EventError) as info:
        Event.from_json(frame, fill_defaults=True)
    assert info.value.field == "timestamp"
    assert "2100-01-01" in str(info.value)


def test_a_250_kb_string_timestamp_costs_memory_near_its_size() -> None:
    frame = b'{"event_type": "x", "payload": {}, "timestamp": "' + b"a" * 250_000 + b'"}'
    tracemalloc.start()
    try:
        with pytest.raises(EventError) as info:
            Event.from_json(frame, fill_defaults=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # orjson's parser itself peaks at about 13x its input; before, this took ~2,000x (500 MB)
    assert peak < 16 * len(frame), f"peak {peak:,} bytes for a {len(frame):,}-byte frame"
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("name", ["event_id", "source_node"])
def test_nul_is_refused_in_identifiers_and_kept_in_payloads(name: str) -> None:
    doc = {
        "event_id": "e1",
        "event_type": "x",
        "timestamp": 1.0,
        "source_node": "s",
        "payload": {"text": "a\u0000b", "k\u0000": 1},
    }
    assert Event.from_json(orjson.dumps(doc)).payload == {"text": "a\x00b", "k\x00": 1}
    with pytest.raises(EventError) as info:
        Event.from_json(orjson.dumps({**doc, name: "a\u0000b"}))
    assert info.value.field == name and "NUL" in str(info.value)


def test_decode_reads_back_what_the_edge_would_refuse() -> None:
    """Stored dead letters and bus entries are read by the envelope's types only."""
    raw = json.dumps({**event_of_depth(300), "timestamp": 1e300, "source_node": "a\u0000"})
    event = Event.decode(raw)
    assert event.timestamp == 1e300 and event.source_node == "a\x00"
    with pytest.raises(EventError, match="wrong type"):
        Event.decode(orjson.dumps({**event_of_depth(3), "timestamp": True}))


def test_preview_shows_anything_within_its_limit() -> None:
    text = events.preview({"deep": nested(2000), "nan": float("nan"), "pad": "x" * 10_000})
    assert len(text) <= 4096 and "nan" in text
