"""Bridge health: routing success rate, dead letters, and a replay button (admin sessions only:
``model.can_replay``)."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn
import param
from panel.reactive import ReactiveHTML

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import BridgeModel


class ActionButton(ReactiveHTML):
    """A button carrying the seed's ``data-action`` attribute; counts its clicks."""

    label = param.String(default="", doc="button text")
    action = param.String(default="", doc="data-action value")
    clicks = param.Integer(default=0, doc="times clicked")

    _template = (
        '<button id="button" class="ctas7-action" data-action="${action}" '
        'onclick="${_click}">${label}</button>'
    )
    _child_config = {"label": "literal"}
    _stylesheets = [
        ".ctas7-action { padding: 4px 12px; border-radius: 6px; border: 1px solid #888;"
        " background: transparent; color: #d6dde6; cursor: pointer; font-size: 13px; }",
        ".ctas7-action:hover { background: #1f2935; }",
    ]

    def _click(self, event: Any) -> None:
        self.clicks += 1


def _metrics(rate: float | None, delivered: int, dead_lettered: int, dead: int, source: str) -> str:
    figures = {
        "success-rate": ("routing success", "—" if rate is None else f"{rate * 100:.2f} %"),
        "delivered": ("delivered", delivered),
        "dead-lettered": ("dead-lettered", dead_lettered),
        "dead-letters": ("dead letters waiting", dead),
    }
    inner = "".join(markup.metric(name, label, value) for name, (label, value) in figures.items())
    origin = (
        "figures from the bridge's own bridge_metrics events"
        if source == "bridge_metrics"
        else "figures as observed by the dashboard (no bridge_metrics event yet)"
    )
    return (
        markup.open_panel("bridge-health", "Bridge health")
        + f"<div class='ctas7-metrics'>{inner}</div>"
        + f'<p class="ctas7-caption" data-metric="metrics-source" data-source="{source}">'
        + f"{origin}</p></div>"
    )


def _per_target(rows: list[tuple[str, int, int, float | None, float | None]]) -> str:
    def ms(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    return markup.html_table(
        "bridge-targets",
        ("target", "delivered", "dead-lettered", "p50 ms", "p99 ms"),
        [(t, d, x, ms(p50), ms(p99)) for t, d, x, p50, p99 in rows],
        empty="no deliveries yet",
        numeric=("delivered", "dead-lettered", "p50 ms", "p99 ms"),
    )


class BridgeHealthView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=BridgeModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[no-untyped-call]  # param's, unannotated
        self.button = ActionButton(label="Replay dead letters", action="replay-dead-letters")
        self.button.param.watch(self._on_click, "clicks")

    def _on_click(self, event: param.parameterized.Event) -> None:
        if self.model.can_replay:
            self.model.replay_requests += 1

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        return pn.Column(
            pn.pane.HTML(
                pn.bind(
                    _metrics,
                    m.param.success_rate,
                    m.param.delivered,
                    m.param.dead_lettered,
                    m.param.dead_letters,
                    m.param.source,
                ),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS],
            ),
            pn.Row(
                *([self.button] if m.can_replay else []),  # not even hidden: no model to click
                pn.pane.HTML(
                    pn.bind(
                        lambda msg: f"<small data-metric='replay-message'>{escape(msg)}</small>",
                        m.param.replay_message,
                    ),
                    stylesheets=[markup.CSS],
                ),
            ),
            pn.pane.HTML(
                pn.bind(_per_target, m.param.per_target),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS],
            ),
            sizing_mode="stretch_width",
        )
