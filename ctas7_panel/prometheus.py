"""Prometheus text exposition (format 0.0.4): metric families in, text out. Pure.

The one encoder behind ``GET /metrics``: the bridge's and the gateway's figures
(``bridge.metrics.prometheus_text``) and the Neural Mux KPIs (``mux.prometheus``) build
``MetricFamily`` values and call ``encode``. Per the format's rules:

- each family is written once, as ``# HELP`` (when it has help), ``# TYPE``, then its samples
  (``name{label="value",...} value``), all of a family's samples together;
- label values escape backslash, double quote and newline (``\\\\``, ``\\"``, ``\\n``); help
  text escapes backslash and newline;
- values: an ``int`` as is, a ``float`` as Python's shortest ``repr`` (``1.0``, ``0.099``),
  ``NaN`` for NaN or None (no value yet), ``+Inf`` / ``-Inf``;
- metric names match ``[a-zA-Z_:][a-zA-Z0-9_:]*``, label names ``[a-zA-Z_][a-zA-Z0-9_]*``
  and a family's name appears once; anything else is a ``UsageError`` (a bug in the caller,
  not in the data).

No families (or none given), no text: ``""``; otherwise the text ends with a newline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ctas7_panel.errors import UsageError

KINDS = frozenset({"counter", "gauge", "summary", "histogram", "untyped"})
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """One line of a family: its labels, its value, and a name suffix (``_sum``, ``_count``)."""

    labels: Labels
    value: float | int | None
    suffix: str = ""


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """A metric's name, type (``counter``, ``gauge``, ``summary`` ...), help and samples."""

    name: str
    kind: str
    samples: tuple[Sample, ...] = ()
    help: str | None = None


def escape_label(value: str) -> str:
    """A label value as the format wants it inside double quotes."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    """Help text as the format wants it (backslash and newline escaped)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float | int | None) -> str:
    """A sample value: ``7``, ``0.25``, ``1.0``, ``NaN`` (also for None), ``+Inf``, ``-Inf``."""
    if value is None:
        return "NaN"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


def format_labels(labels: Labels) -> str:
    """``{a="1",b="2"}`` in the order given, or ``""`` for no labels."""
    if not labels:
        return ""
    for name, _ in labels:
        if not _LABEL_NAME.fullmatch(name):
            raise UsageError(f"prometheus label name {name!r} must match [a-zA-Z_][a-zA-Z0-9_]*")
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


def encode(families: Iterable[MetricFamily]) -> str:
    """The exposition text of ``families`` (see the module docstring)."""
    lines: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if not _METRIC_NAME.fullmatch(fam.name):
            raise UsageError(
                f"prometheus metric name {fam.name!r} must match [a-zA-Z_:][a-zA-Z0-9_:]*"
            )
        if fam.kind not in KINDS:
            raise UsageError(
                f"prometheus type {fam.kind!r} of {fam.name!r} must be one of {sorted(KINDS)}"
            )
        if fam.name in seen:
            raise UsageError(f"prometheus metric {fam.name!r} given twice; merge its samples")
        seen.add(fam.name)
        if fam.help is not None:
            lines.append(f"# HELP {fam.name} {escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for s in fam.samples:
            lines.append(f"{fam.name}{s.suffix}{format_labels(s.labels)} {format_value(s.value)}")
    return "\n".join(lines) + "\n" if lines else ""
