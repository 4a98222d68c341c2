"""Prometheus text exposition of the Neural Mux KPIs. Pure.

``to_prometheus(state, now, cfg)`` builds every family with its help; the text itself is
``ctas7_panel.prometheus.encode``'s. Latency series are summaries whose quantiles cover the
sliding window and whose ``_sum``/``_count`` are cumulative. The text is meant to be served
next to the bridge's metrics (concatenated).
"""

from __future__ import annotations

from collections.abc import Iterable

from ctas7_panel.mux.metrics import (
    DELIVERY,
    LAST_SEEN,
    LATENCY,
    MESSAGES,
    STATUS,
    VALUE,
    KpiConfig,
    KpiState,
    MetricKey,
    rolling_rate,
)
from ctas7_panel.prometheus import MetricFamily, Sample, encode
from ctas7_panel.stats import quantiles

RATE = "ctas7_mux_rate_per_second"

_HELP = {
    MESSAGES: ("counter", "Messages received per Neural Mux topic."),
    STATUS: ("counter", "Messages per topic and data.status (or data.outcome)."),
    RATE: ("gauge", "Rolling message rate per topic over the rate window."),
    VALUE: ("gauge", "Last value of a numeric data field per topic."),
    LAST_SEEN: ("gauge", "Unix time the last message of a topic was received."),
    LATENCY: ("summary", "Latency fields of messages (ms); quantiles over the sliding window."),
    DELIVERY: ("summary", "Receive time minus event timestamp (ms); quantiles over the window."),
}


def _value(v: float) -> float | int:
    """Counters and gauges are kept as floats; whole ones are shown as integers (``7``)."""
    return int(v) if float(v).is_integer() and abs(v) < 1e15 else v


def _family(name: str, samples: Iterable[Sample]) -> MetricFamily:
    kind, text = _HELP[name]
    return MetricFamily(name, kind, tuple(samples), text)


def to_prometheus(state: KpiState, now: float, cfg: KpiConfig) -> str:
    families: list[MetricFamily] = []

    def family(name: str, items: dict[MetricKey, float]) -> None:
        chosen = sorted((k, v) for k, v in items.items() if k[0] == name)
        if chosen:
            families.append(_family(name, (Sample(k[1], _value(v)) for k, v in chosen)))

    family(MESSAGES, state.counters)
    family(STATUS, state.counters)
    if state.arrivals:
        window = f"{cfg.rate_window_s}s"
        families.append(
            _family(
                RATE,
                (
                    Sample(
                        (("topic", topic), ("window", window)),
                        _value(rolling_rate(buckets, now, cfg.rate_window_s)),
                    )
                    for topic, buckets in sorted(state.arrivals.items())
                ),
            )
        )
    family(VALUE, state.gauges)
    family(LAST_SEEN, state.gauges)
    cutoff = now - cfg.window_s
    for name in (LATENCY, DELIVERY):
        series = sorted((k, s) for k, s in state.samples.items() if k[0] == name)
        if not series:
            continue
        samples: list[Sample] = []
        for k, window_samples in series:
            qs = quantiles((v for t, v in window_samples if t >= cutoff), cfg.quantiles)
            for q, v in qs.items():
                samples.append(Sample((*k[1], ("quantile", f"{q:g}")), _value(v)))
            total = state.counters.get((name + "_sum", k[1]), 0.0)
            count = state.counters.get((name + "_count", k[1]), 0.0)
            samples.append(Sample(k[1], _value(total), "_sum"))
            samples.append(Sample(k[1], _value(count), "_count"))
        families.append(_family(name, samples))
    return encode(families)
