"""Neural Mux: topics (``ctas7.schema.update``, ``ctas7.task.executed``, ...) with pattern
subscriptions, and KPI metrics (counters, gauges, rolling rates, latency quantiles) kept in
memory or in Redis, exported as Prometheus text.

Modules: ``topics`` (pure: names, patterns, messages), ``metrics`` (pure: KPI updates, state,
figures; quantiles from ``ctas7_panel.stats``), ``prometheus`` (pure: text export),
``backends`` (memory / Redis state), ``service`` (``NeuralMux``). See ``docs/legion.md``.
"""

from __future__ import annotations

from ctas7_panel.mux.backends import MemoryKpiBackend, RedisKpiBackend
from ctas7_panel.mux.metrics import KpiConfig
from ctas7_panel.mux.service import MUX_GROUP, MUX_TOPIC, MuxSubscription, NeuralMux
from ctas7_panel.mux.topics import MuxMessage, message_from_event, topic_matches

__all__ = [
    "MUX_GROUP",
    "MUX_TOPIC",
    "KpiConfig",
    "MemoryKpiBackend",
    "MuxMessage",
    "MuxSubscription",
    "NeuralMux",
    "RedisKpiBackend",
    "message_from_event",
    "topic_matches",
]
