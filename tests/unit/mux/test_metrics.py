"""Neural Mux pure core: topic patterns, KPI extraction, windowed quantiles, Prometheus."""

from __future__ import annotations

import numpy as np
import pytest

from ctas7_panel.errors import EventError, UsageError
from ctas7_panel.events import Event
from ctas7_panel.mux.metrics import (
    DELIVERY,
    LATENCY,
    MESSAGES,
    KpiConfig,
    KpiState,
    compute_kpis,
    decode_key,
    encode_key,
    extract_updates,
    flat_kpis,
    key,
    rolling_rate,
)
from ctas7_panel.mux.prometheus import to_prometheus
from ctas7_panel.mux.topics import MuxMessage, check_topic, message_from_event, topic_matches
from ctas7_panel.prometheus import escape_label


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("ctas7.schema.update", "ctas7.schema.update", True),
        ("ctas7.schema.*", "ctas7.schema.update", True),
        ("ctas7.schema.*", "ctas7.schema", False),
        ("ctas7.schema.*", "ctas7.schema.update.extra", False),
        ("ctas7.#", "ctas7", True),
        ("ctas7.#", "ctas7.task.executed", True),
        ("#", "anything.at.all", True),
        ("*.task.*", "ctas7.task.executed", True),
        ("*.task.*", "ctas7.test.completed", False),
        ("ctas7.#.completed", "ctas7.test.completed", True),
        ("ctas7.#.completed", "ctas7.completed", True),
        ("ctas7.#.completed", "ctas7.test.started", False),
        ("ctas7.test", "ctas7.test.completed", False),
    ],
)
def test_topic_patterns(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize("bad", ["", "a..b", "ctas7.sch ema", "a.b#", "x.**"])
def test_bad_patterns_are_refused_with_the_form_to_use(bad: str) -> None:
    with pytest.raises(UsageError, match="topic pattern"):
        topic_matches(bad, "a.b")


@pytest.mark.parametrize("bad", ["", "a..b", "with space", 3, None, "x" * 200, "a.*"])
def test_bad_topics_name_the_field(bad: object) -> None:
    with pytest.raises(EventError) as err:
        check_topic(bad)
    assert err.value.field == "payload.topic"


def test_message_from_the_bridges_payload_and_from_a_raw_event() -> None:
    raw = Event.create(
        "schema_updated",
        {
            "status": "updated",
            "new_hash": "abc",
            "old_hash": None,
            "schema_path": "x.ts",
            "table_count": 7,
        },
        source_node="schema_sync",
    )
    mux_payload = {
        "topic": "ctas7.schema.update",
        "data": {"schema_hash": "abc", "table_count": 7, "update_timestamp": 1},
        "routing_key": "schema_telemetry",
    }
    delivered = message_from_event(raw.with_payload(mux_payload))
    assert delivered.topic == "ctas7.schema.update"
    assert delivered.routing_key == "schema_telemetry"
    assert delivered.event_id == raw.event_id
    direct = message_from_event(raw)  # raw payload: the bridge's transform (or generic) applies
    assert direct.topic.startswith("ctas7.")
    assert direct.event_id == raw.event_id
    with pytest.raises(EventError) as err:
        message_from_event(raw.with_payload({"topic": "ok.topic", "data": [1]}))
    assert err.value.field == "payload.data"
    wire = delivered.to_json()
    assert b'"topic":"ctas7.schema.update"' in wire


def msg(topic: str, data: dict[str, object], ts: float = 0.0, eid: str = "e") -> MuxMessage:
    return MuxMessage(topic=topic, data=data, event_id=eid, timestamp=ts)


def test_extract_updates_counts_statuses_latencies_and_values() -> None:
    u = extract_updates(
        msg(
            "ctas7.task.executed",
            {"status": "succeeded", "duration_ms": 12.5, "rows": 3, "flag": True, "x_timestamp": 9},
            ts=100.0,
        ),
        now=100.25,
    )
    counters = dict(u.counters)
    assert counters[key(MESSAGES, topic="ctas7.task.executed")] == 1
    assert counters[key("ctas7_mux_status_total", topic="ctas7.task.executed", status="succeeded")]
    samples = dict(u.samples)
    assert samples[key(LATENCY, topic="ctas7.task.executed", field="duration_ms")] == 12.5
    assert samples[key(DELIVERY, topic="ctas7.task.executed")] == pytest.approx(250.0)
    gauges = dict(u.gauges)
    assert gauges[key("ctas7_mux_value", topic="ctas7.task.executed", field="rows")] == 3
    assert not any(k[1] and ("field", "flag") in k[1] for k in gauges)  # booleans skipped
    assert not any(("field", "x_timestamp") in k[1] for k in gauges)
    assert decode_key(encode_key(key(LATENCY, topic="t", field="f"))) == key(
        LATENCY, topic="t", field="f"
    )


def feed(state: KpiState, cfg: KpiConfig, topic: str, values: list[float], t0: float) -> None:
    for i, v in enumerate(values):
        m = msg(topic, {"duration_ms": v, "status": "ok" if i % 2 else "fail"}, eid=f"e{i}")
        state.apply(extract_updates(m, t0 + i * 0.1), cfg)


def test_window_rates_and_quantiles_from_state() -> None:
    cfg = KpiConfig(window_s=10, rate_window_s=5, max_samples=1000)
    state = KpiState()
    values = [float(v) for v in range(1, 51)]  # 50 messages over 5 s
    feed(state, cfg, "ctas7.task.executed", values, t0=1000.0)
    now = 1000.0 + 4.95
    k = compute_kpis(state, now, cfg)["topics"]["ctas7.task.executed"]
    assert k["messages_total"] == 50
    assert k["statuses"] == {"ok": 25, "fail": 25}
    lat = k["latency_ms"]["duration_ms"]
    assert lat["p50"] == pytest.approx(np.percentile(values, 50))
    assert lat["p95"] == pytest.approx(np.percentile(values, 95))
    assert lat["p99"] == pytest.approx(np.percentile(values, 99))
    assert lat["count"] == 50 and lat["sum"] == sum(values)
    assert k["rate_per_s"] == pytest.approx(50 / 5)
    assert flat_kpis({"topics": {"t": k}})["t.duration_ms.p50"] == lat["p50"]

    # 20 s later: the samples left the window, counters stay, the rate is 0
    state.trim(now + 20, cfg)
    later = compute_kpis(state, now + 20, cfg)["topics"]["ctas7.task.executed"]
    assert later["messages_total"] == 50
    assert later["latency_ms"]["duration_ms"]["window_count"] == 0
    assert later["latency_ms"]["duration_ms"]["p99"] is None
    assert later["rate_per_s"] == 0


def test_max_samples_keeps_the_newest() -> None:
    cfg = KpiConfig(window_s=1000, max_samples=10)
    state = KpiState()
    feed(state, cfg, "t.x", [float(v) for v in range(100)], t0=0.0)
    series = state.samples[key(LATENCY, topic="t.x", field="duration_ms")]
    assert [v for _, v in series] == [float(v) for v in range(90, 100)]


def test_rolling_rate_counts_only_the_window() -> None:
    buckets = {100: 5, 101: 5, 95: 100, 110: 7}
    assert rolling_rate(buckets, 101.5, 2) == 5.0  # seconds 100 and 101
    assert rolling_rate(buckets, 104.0, 10) == 110 / 10  # seconds 95..104
    assert rolling_rate(buckets, 104.0, 9) == 10 / 9  # seconds 96..104: 95 has left
    assert rolling_rate({}, 5.0, 60) == 0.0


def test_prometheus_text_is_well_formed() -> None:
    cfg = KpiConfig(window_s=60, rate_window_s=10)
    state = KpiState()
    feed(state, cfg, 'we"ird\\topic', [1.0, 2.0, 3.0, 4.0], t0=10.0)
    feed(state, cfg, "ctas7.schema.update", [], t0=10.0)
    state.apply(extract_updates(msg("ctas7.schema.update", {"table_count": 7}, eid="s"), 11), cfg)
    text = to_prometheus(state, 11.0, cfg)
    lines = text.splitlines()
    assert "# TYPE ctas7_mux_messages_total counter" in lines
    assert 'ctas7_mux_value{field="table_count",topic="ctas7.schema.update"} 7' in lines
    assert "# TYPE ctas7_mux_latency_ms summary" in lines
    label = escape_label('we"ird\\topic')
    assert label == 'we\\"ird\\\\topic'
    assert (
        f'ctas7_mux_latency_ms{{field="duration_ms",topic="{label}",quantile="0.5"}} 2.5' in lines
    )
    assert f'ctas7_mux_latency_ms_count{{field="duration_ms",topic="{label}"}} 4' in lines
    assert f'ctas7_mux_rate_per_second{{topic="{label}",window="10s"}} 0.4' in lines
    for line in lines:  # every sample line: name{labels} value
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("ctas7_mux_")
    assert to_prometheus(KpiState(), 0, cfg) == ""
