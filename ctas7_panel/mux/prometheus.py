"""Prometheus text exposition (format 0.0.4) of the Neural Mux KPIs. Pure.

``to_prometheus(state, now, cfg)`` renders every family with ``# HELP``/``# TYPE``; latency
series are summaries whose quantiles cover the sliding window and whose ``_sum``/``_count`` are
cumulative. The text is meant to be served next to the bridge's metrics (concatenated).
"""

from __future__ import annotations

import math
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


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _header(lines: list[str], name: str) -> None:
    kind, text = _HELP[name]
    lines.append(f"# HELP {name} {text}")
    lines.append(f"# TYPE {name} {kind}")


def to_prometheus(state: KpiState, now: float, cfg: KpiConfig) -> str:
    lines: list[str] = []

    def family(name: str, items: dict[MetricKey, float]) -> None:
        chosen = sorted((k, v) for k, v in items.items() if k[0] == name)
        if not chosen:
            return
        _header(lines, name)
        for k, v in chosen:
            lines.append(f"{name}{_labels(k[1])} {_num(v)}")

    family(MESSAGES, state.counters)
    family(STATUS, state.counters)
    if state.arrivals:
        _header(lines, RATE)
        window = f"{cfg.rate_window_s}s"
        for topic, buckets in sorted(state.arrivals.items()):
            rate = rolling_rate(buckets, now, cfg.rate_window_s)
            lines.append(f"{RATE}{_labels([('topic', topic), ('window', window)])} {_num(rate)}")
    family(VALUE, state.gauges)
    family(LAST_SEEN, state.gauges)
    cutoff = now - cfg.window_s
    for name in (LATENCY, DELIVERY):
        series = sorted((k, s) for k, s in state.samples.items() if k[0] == name)
        if not series:
            continue
        _header(lines, name)
        for k, samples in series:
            qs = quantiles((v for t, v in samples if t >= cutoff), cfg.quantiles)
            for q, v in qs.items():
                lines.append(f"{name}{_labels([*k[1], ('quantile', f'{q:g}')])} {_num(v)}")
            total = state.counters.get((name + "_sum", k[1]), 0.0)
            count = state.counters.get((name + "_count", k[1]), 0.0)
            lines.append(f"{name}_sum{_labels(k[1])} {_num(total)}")
            lines.append(f"{name}_count{_labels(k[1])} {_num(count)}")
    return "\n".join(lines) + "\n" if lines else ""
