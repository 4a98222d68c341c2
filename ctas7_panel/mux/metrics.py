"""Neural Mux KPIs, the pure core: what a message changes, and the figures computed from state.

Per topic, from each message (``extract_updates``):

- counter ``ctas7_mux_messages_total{topic}``;
- counter ``ctas7_mux_status_total{topic,status}`` from ``data.status`` or ``data.outcome``;
- latency samples ``ctas7_mux_latency_ms{topic,field}`` from ``data.duration_ms``,
  ``latency_ms`` and ``reload_ms`` (with cumulative ``_sum``/``_count`` counters), and
  ``ctas7_mux_delivery_ms{topic}``: receive time minus the event's timestamp;
- gauges ``ctas7_mux_value{topic,field}`` for other numeric fields (``table_count``, ``rows``,
  ``success_rate`` ...; at most ``MAX_VALUE_FIELDS`` per message) and
  ``ctas7_mux_last_message_timestamp_seconds{topic}``;
- one arrival in the topic's per-second bucket (rolling rates).

State (``KpiState``) keeps counters and gauges for ever, latency samples for ``window_s`` seconds
(at most ``max_samples`` per series, oldest dropped first) and arrival buckets for
``rate_window_s`` seconds. ``compute_kpis`` gives, per topic: totals, the rolling rate
(arrivals in the last ``rate_window_s`` seconds / ``rate_window_s``), statuses, values and latency
quantiles over the window.

Quantiles: ``ctas7_panel.stats`` (linear interpolation, numpy's ``"linear"``), the same
definition as the bridge's and the dashboard's; ``nan`` (None in ``compute_kpis``) for an empty
window.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ctas7_panel.mux.topics import MuxMessage
from ctas7_panel.stats import quantiles

MetricKey = tuple[str, tuple[tuple[str, str], ...]]  # (name, sorted (label, value) pairs)

MESSAGES = "ctas7_mux_messages_total"
STATUS = "ctas7_mux_status_total"
LATENCY = "ctas7_mux_latency_ms"
DELIVERY = "ctas7_mux_delivery_ms"
VALUE = "ctas7_mux_value"
LAST_SEEN = "ctas7_mux_last_message_timestamp_seconds"
LATENCY_FIELDS = ("duration_ms", "latency_ms", "reload_ms")
MAX_VALUE_FIELDS = 16
MAX_LABEL_LENGTH = 64


def key(name: str, **labels: str) -> MetricKey:
    return name, tuple(sorted(labels.items()))


def encode_key(k: MetricKey) -> str:
    """A stable text form (Redis hash fields and key suffixes)."""
    return orjson.dumps([k[0], [list(p) for p in k[1]]]).decode()


def decode_key(text: str | bytes) -> MetricKey:
    name, labels = orjson.loads(text)
    return str(name), tuple((str(a), str(b)) for a, b in labels)


def labels_of(k: MetricKey) -> dict[str, str]:
    return dict(k[1])


@dataclass(frozen=True, slots=True)
class KpiConfig:
    window_s: float = 300.0  # latency samples kept this long
    rate_window_s: int = 60  # rolling rate window (whole seconds)
    max_samples: int = 10_000  # per latency series
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    dedupe_ttl_s: int = 3_600  # how long a seen event id is remembered


@dataclass(frozen=True, slots=True)
class Updates:
    """Everything one message changes. Applied atomically by a backend."""

    event_id: str
    topic: str
    now: float
    counters: tuple[tuple[MetricKey, float], ...]
    gauges: tuple[tuple[MetricKey, float], ...]
    samples: tuple[tuple[MetricKey, float], ...]

    @property
    def second(self) -> int:
        return int(self.now)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _label(value: str) -> str:
    return value[:MAX_LABEL_LENGTH]


def extract_updates(msg: MuxMessage, now: float) -> Updates:
    """What ``msg`` (received at ``now``) changes; see the module docstring."""
    topic = msg.topic
    counters: list[tuple[MetricKey, float]] = [(key(MESSAGES, topic=topic), 1.0)]
    gauges: list[tuple[MetricKey, float]] = [(key(LAST_SEEN, topic=topic), now)]
    samples: list[tuple[MetricKey, float]] = []
    data = msg.data
    status = data.get("status", data.get("outcome"))
    if isinstance(status, str) and status:
        counters.append((key(STATUS, topic=topic, status=_label(status)), 1.0))
    values = 0
    for name, raw in data.items():
        v = _number(raw)
        if v is None:
            continue
        if name in LATENCY_FIELDS:
            if v >= 0:
                samples.append((key(LATENCY, topic=topic, field=name), v))
                counters.append((key(LATENCY + "_sum", topic=topic, field=name), v))
                counters.append((key(LATENCY + "_count", topic=topic, field=name), 1.0))
        elif not name.endswith("_timestamp") and values < MAX_VALUE_FIELDS:
            gauges.append((key(VALUE, topic=topic, field=_label(name)), v))
            values += 1
    if msg.timestamp > 0:
        delivery = (now - msg.timestamp) * 1000.0
        if delivery >= 0:
            samples.append((key(DELIVERY, topic=topic), delivery))
            counters.append((key(DELIVERY + "_sum", topic=topic), delivery))
            counters.append((key(DELIVERY + "_count", topic=topic), 1.0))
    return Updates(msg.event_id, topic, now, tuple(counters), tuple(gauges), tuple(samples))


# --- state ---------------------------------------------------------------------------------------


@dataclass
class KpiState:
    """Counters, gauges, windowed samples ``(t, value)`` and per-second arrival buckets."""

    counters: dict[MetricKey, float] = field(default_factory=dict)
    gauges: dict[MetricKey, float] = field(default_factory=dict)
    samples: dict[MetricKey, deque[tuple[float, float]]] = field(default_factory=dict)
    arrivals: dict[str, dict[int, int]] = field(default_factory=dict)

    def apply(self, u: Updates, cfg: KpiConfig) -> None:
        for k, inc in u.counters:
            self.counters[k] = self.counters.get(k, 0.0) + inc
        for k, v in u.gauges:
            self.gauges[k] = v
        for k, v in u.samples:
            series = self.samples.get(k)
            if series is None:
                series = self.samples[k] = deque(maxlen=cfg.max_samples)
            series.append((u.now, v))
        buckets = self.arrivals.setdefault(u.topic, {})
        buckets[u.second] = buckets.get(u.second, 0) + 1
        self.trim(u.now, cfg)

    def trim(self, now: float, cfg: KpiConfig) -> None:
        cutoff = now - cfg.window_s
        for series in self.samples.values():
            while series and series[0][0] < cutoff:
                series.popleft()
        oldest = int(now) - cfg.rate_window_s
        for buckets in self.arrivals.values():
            for sec in [s for s in buckets if s <= oldest]:
                del buckets[sec]

    @property
    def topics(self) -> list[str]:
        return sorted({labels_of(k).get("topic", "") for k in self.counters if k[0] == MESSAGES})


# --- computing KPIs -----------------------------------------------------------------------------


def rolling_rate(buckets: Mapping[int, int], now: float, window_s: int) -> float:
    """Arrivals per second over the last ``window_s`` whole seconds (current one included)."""
    oldest = int(now) - window_s
    return sum(c for s, c in buckets.items() if oldest < s <= int(now)) / window_s


def compute_kpis(state: KpiState, now: float, cfg: KpiConfig) -> dict[str, Any]:
    """Per-topic KPIs: ``{"topics": {topic: {...}}, "window_s", "rate_window_s", "quantiles"}``."""
    topics: dict[str, dict[str, Any]] = {}

    def entry(topic: str) -> dict[str, Any]:
        return topics.setdefault(
            topic,
            {
                "messages_total": 0,
                "rate_per_s": 0.0,
                "last_seen": None,
                "statuses": {},
                "values": {},
                "latency_ms": {},
                "delivery_ms": None,
            },
        )

    for k, v in state.counters.items():
        lab = labels_of(k)
        t = lab.get("topic", "")
        if k[0] == MESSAGES:
            entry(t)["messages_total"] = int(v)
        elif k[0] == STATUS:
            entry(t)["statuses"][lab["status"]] = int(v)
    for k, v in state.gauges.items():
        lab = labels_of(k)
        if k[0] == LAST_SEEN:
            entry(lab["topic"])["last_seen"] = v
        elif k[0] == VALUE:
            entry(lab["topic"])["values"][lab["field"]] = v
    cutoff = now - cfg.window_s
    for k, series in state.samples.items():
        lab = labels_of(k)
        values = [v for t, v in series if t >= cutoff]
        summary = _summary(state, k, values, cfg)
        if k[0] == LATENCY:
            entry(lab["topic"])["latency_ms"][lab["field"]] = summary
        elif k[0] == DELIVERY:
            entry(lab["topic"])["delivery_ms"] = summary
    for t, buckets in state.arrivals.items():
        entry(t)["rate_per_s"] = rolling_rate(buckets, now, cfg.rate_window_s)
    return {
        "topics": dict(sorted(topics.items())),
        "window_s": cfg.window_s,
        "rate_window_s": cfg.rate_window_s,
        "quantiles": list(cfg.quantiles),
    }


def _summary(state: KpiState, k: MetricKey, values: list[float], cfg: KpiConfig) -> dict[str, Any]:
    qs = quantiles(values, cfg.quantiles)
    out: dict[str, Any] = {f"p{_pct(q)}": (None if math.isnan(v) else v) for q, v in qs.items()}
    out["window_count"] = len(values)
    out["count"] = int(state.counters.get((k[0] + "_count", k[1]), 0))
    out["sum"] = state.counters.get((k[0] + "_sum", k[1]), 0.0)
    return out


def _pct(q: float) -> str:
    text = f"{q * 100:g}"
    return text.replace(".", "_")


def flat_kpis(kpis: Mapping[str, Any]) -> dict[str, float]:
    """``{"<topic>.<kpi>": number}``: the seed's ``neural_mux_metrics: HashMap<String, f64>``."""
    out: dict[str, float] = {}
    for topic, k in kpis["topics"].items():
        out[f"{topic}.messages_total"] = float(k["messages_total"])
        out[f"{topic}.rate_per_s"] = float(k["rate_per_s"])
        for status, n in k["statuses"].items():
            out[f"{topic}.status.{status}"] = float(n)
        for name, v in k["values"].items():
            out[f"{topic}.{name}"] = float(v)
        for name, summary in k["latency_ms"].items():
            for q, v in summary.items():
                if q.startswith("p") and v is not None:
                    out[f"{topic}.{name}.{q}"] = float(v)
    return out
