"""Every transform, pure: the seed's exact payloads, the envelope kept, bad payloads refused."""

from __future__ import annotations

import orjson
import pytest

from ctas7_panel import events as ev
from ctas7_panel.bridge.routes import DEFAULT_ROUTES
from ctas7_panel.bridge.transforms import (
    GENERIC,
    PREFIX_TRANSFORMS,
    TRANSFORMS,
    passthrough,
    transform,
    transform_for,
)
from ctas7_panel.events import Event

T = 1698528000


def updated() -> Event:
    e = ev.schema_updated(
        new_hash="a1b2c3d4",
        old_hash="previous_hash",
        schema_path="./database/supabase_schema.ts",
        table_count=7,
    )
    return Event(e.event_id, e.event_type, float(T), e.source_node, e.payload)


def test_schema_updated_payloads_are_exactly_the_seeds() -> None:
    e = updated()
    assert transform("legion", e).payload == {
        "action": "reload_database_types",
        "schema_path": "./database/supabase_schema.ts",
        "new_hash": "a1b2c3d4",
        "affected_systems": ["LegionExecutionEngine", "SlotGraphQueryEngine"],
        "reload_required": True,
    }
    assert transform("dashboard", e).payload == {
        "ui_action": "display_schema_update_notification",
        "notification_type": "success",
        "message": "Database schema updated successfully",
        "auto_dismiss": 5000,
    }
    assert transform("neural_mux", e).payload == {
        "topic": "ctas7.schema.update",
        "data": {"schema_hash": "a1b2c3d4", "table_count": 7, "update_timestamp": T},
        "routing_key": "schema_telemetry",
    }


def test_transform_keeps_the_envelope_and_leaves_the_input_alone() -> None:
    e = updated()
    before = e.to_json()
    out = transform("legion", e)
    assert (out.event_id, out.event_type, out.timestamp, out.source_node) == (
        e.event_id,
        e.event_type,
        e.timestamp,
        e.source_node,
    )
    assert e.to_json() == before


SAMPLES = [
    updated(),
    ev.schema_nochange(current_hash="h", schema_path="p.ts", table_count=3),
    ev.schema_error(error="boom", stage="introspect", retry_in_s=5.0),
    ev.task_executed(task_id="t1", name="n", status="completed", duration_ms=1.5),
    ev.playwright_test_started(nodeid="a::b"),
    ev.playwright_test_completed(nodeid="a::b", outcome="failed", duration_ms=12.0),
    ev.qa5_validation(status="passed", checks=3),
    ev.legion_schema_telemetry(old_hash=None, new_hash="h", reload_ms=4.0),
    Event.create("playwright_test_skipped", {"nodeid": "x"}, source_node="pytest"),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_every_routed_target_gets_a_json_payload(event: Event) -> None:
    pattern = event.event_type if event.event_type in DEFAULT_ROUTES else "playwright_test_*"
    for target in DEFAULT_ROUTES[pattern]:
        fn = transform_for(target, event.event_type)
        assert fn not in GENERIC.values(), (target, event.event_type)
        payload = transform(target, event).payload
        assert orjson.loads(orjson.dumps(payload)) == payload


def test_each_target_has_its_shape() -> None:
    for event in SAMPLES:
        for target in ("legion", "dashboard", "neural_mux"):
            p = transform(target, event).payload
            if target == "legion":
                assert isinstance(p["action"], str)
            elif target == "dashboard":
                assert {"ui_action", "notification_type", "message"} <= set(p)
            else:
                assert p["topic"].startswith("ctas7.")
                assert p["routing_key"].endswith("_telemetry")
                assert isinstance(p["data"], dict)


@pytest.mark.parametrize(
    ("outcome", "kind"), [("passed", "success"), ("failed", "error"), ("xfailed", "warning")]
)
def test_test_outcome_decides_the_notification(outcome: str, kind: str) -> None:
    e = ev.playwright_test_completed(nodeid="a", outcome=outcome, duration_ms=1.0)
    assert transform("dashboard", e).payload["notification_type"] == kind
    assert transform("neural_mux", e).payload["data"]["passed"] is (outcome == "passed")


def test_prefix_family_topic_uses_the_suffix() -> None:
    e = Event.create("playwright_test_skipped", {"nodeid": "x"}, source_node="pytest")
    assert transform("neural_mux", e).payload["topic"] == "ctas7.test.skipped"


def test_missing_field_raises_naming_it() -> None:
    bad = Event("evt_1", "schema_updated", 1.0, "x", {"status": "updated"})
    with pytest.raises(KeyError, match="schema_path"):
        transform("legion", bad)


def test_unknown_target_gets_the_payload_unchanged() -> None:
    e = updated()
    assert transform_for("archive", "schema_updated") is passthrough
    assert transform("archive", e).payload == e.payload


def test_registry_covers_every_routed_pair() -> None:
    for pattern, targets in DEFAULT_ROUTES.items():
        for target in targets:
            if pattern.endswith("*"):
                assert (target, pattern[:-1]) in PREFIX_TRANSFORMS
            else:
                assert (target, pattern) in TRANSFORMS
