"""The event envelope: validation, size limit, round trip, JSON Schema kept equal to the code."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctas7_panel import events
from ctas7_panel.errors import EventError
from ctas7_panel.events import Event

ROOT = Path(__file__).resolve().parents[3]


def envelope(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": "evt_1",
        "event_type": "qa5_validation",
        "timestamp": 1698528000,
        "source_node": "qa5",
        "payload": {"status": "passed"},
    }
    base.update(changes)
    return base


def test_seed_example_parses() -> None:
    seed = {
        "event_id": "evt_1698528000",
        "event_type": "schema_updated",
        "timestamp": 1698528000,
        "payload": {
            "status": "updated",
            "new_hash": "a1b2c3d4e5f6g7h8",
            "old_hash": "previous_hash",
            "schema_path": "./database/supabase_schema.ts",
            "table_count": 7,
        },
        "source_node": "schema_sync",
    }
    event = Event.from_json(json.dumps(seed))
    assert event.event_type == "schema_updated"
    assert event.timestamp == 1698528000.0
    assert event.payload["table_count"] == 7


@pytest.mark.parametrize(
    ("doc", "field", "words"),
    [
        ({"event_type": 5}, "event_type", "got the number 5"),
        (envelope(event_type="Bad Type"), "event_type", "lowercase"),
        (envelope(event_id=""), "event_id", "non-empty"),
        (envelope(timestamp="yesterday"), "timestamp", "unix seconds"),
        (envelope(timestamp=True), "timestamp", "boolean"),
        (envelope(timestamp=-1), "timestamp", "non-negative"),
        (envelope(source_node=None), "source_node", "null"),
        (envelope(payload=[1, 2]), "payload", "an array"),
        (envelope(extra=1), "extra", "unexpected field"),
        ({k: v for k, v in envelope().items() if k != "payload"}, "payload", "missing"),
        (envelope(payload={}), "payload.status", "missing"),
        (
            envelope(event_type="schema_updated", payload={"status": "updated", "new_hash": 1}),
            "payload.new_hash",
            "expected string",
        ),
    ],
)
def test_errors_name_the_field(doc: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(EventError) as info:
        Event.from_json(json.dumps(doc))
    assert info.value.field == field
    assert field in str(info.value)
    assert words in str(info.value)


@pytest.mark.parametrize("data", [b"", b"{", b"nope", b"[]", b"null", b"\xff\xfe", b'"x"'])
def test_not_an_object(data: bytes) -> None:
    with pytest.raises(EventError, match="JSON"):
        Event.from_json(data)


def test_size_limit_names_the_limit() -> None:
    big = orjson.dumps(envelope(payload={"status": "x" * (10 * 1024 * 1024)}))
    with pytest.raises(EventError, match=r"over the limit of 262,144 bytes.*CTAS7_MAX_EVENT_BYTES"):
        Event.from_json(big)
    assert Event.from_json(big, max_bytes=len(big)).payload["status"].startswith("xxx")


def test_fill_defaults_only_fills_optional_fields() -> None:
    event = Event.from_json(b'{"event_type": "ping", "payload": {}}', fill_defaults=True)
    assert event.event_id.startswith("evt_") and event.source_node == "external"
    assert math.isclose(event.timestamp, event.timestamp)
    with pytest.raises(EventError, match="event_type"):
        Event.from_json(b'{"payload": {}}', fill_defaults=True)


def test_constructors_build_valid_seed_events() -> None:
    made = [
        events.schema_updated(new_hash="a", old_hash=None, schema_path="./s.ts", table_count=7),
        events.schema_nochange(current_hash="a", schema_path="./s.ts", table_count=7),
        events.schema_error(error="down", stage="introspect", retry_in_s=2.0),
        events.task_executed(task_id="t1", name="q", status="succeeded", duration_ms=1.5),
        events.playwright_test_started(nodeid="t.py::a"),
        events.playwright_test_completed(nodeid="t.py::a", outcome="passed", duration_ms=3),
        events.qa5_validation(status="passed"),
        events.legion_schema_telemetry(old_hash="a", new_hash="b", reload_ms=3.2),
    ]
    for event in made:
        assert Event.from_json(event.to_json()) == event
    assert made[0].payload["status"] == "updated"
    assert made[1].payload["status"] == "unchanged"


def test_docs_schema_file_equals_code() -> None:
    on_disk = json.loads((ROOT / "docs" / "event.schema.json").read_text())
    assert on_disk == events.json_schema(), "regenerate docs/event.schema.json from json_schema()"


VALIDATOR = jsonschema.Draft202012Validator(events.json_schema())

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
envelopes = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=40),
        "event_type": st.from_regex(events.EVENT_TYPE_PATTERN, fullmatch=True),
        "timestamp": st.floats(min_value=0, max_value=4e9) | st.integers(0, 2**31),
        "source_node": st.text(min_size=1, max_size=40),
        "payload": st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    }
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    try:
        Event.from_json(data)
    except EventError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, envelopes, envelopes.map(lambda e: {**e, "payload": [1]})))
def test_arbitrary_json_never_crashes_and_agrees_with_schema(doc: object) -> None:
    data = orjson.dumps(doc)
    try:
        Event.from_json(data)
        accepted = True
    except EventError:
        accepted = False
    assert accepted == VALIDATOR.is_valid(doc)


@settings(max_examples=300, deadline=None)
@given(envelopes)
def test_round_trip_preserves_every_valid_event(doc: dict[str, object]) -> None:
    try:
        event = Event.from_dict(doc)
    except EventError:  # a known type whose payload misses required fields
        assert not VALIDATOR.is_valid(doc)
        return
    again = Event.from_json(event.to_json())
    assert again == event
    assert again.to_dict() == {**doc, "timestamp": float(doc["timestamp"])}  # type: ignore[arg-type]
