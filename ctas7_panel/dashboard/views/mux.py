"""Neural Mux metrics: each KPI once (value, label, its recent trend), and the topics seen."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.digest import KPI_LABELS, KPI_NAMES
from ctas7_panel.dashboard.models import MuxModel


def _mux(
    kpis: dict[str, float | None],
    trends: dict[str, list[float]],
    topics: list[tuple[str, int, str, str]],
) -> str:
    cells = []
    for name in KPI_NAMES:
        value = kpis.get(name)
        shown = "—" if value is None else f"{value:.1f}"
        cells.append(
            f'<div class="ctas7-metric" data-metric="{name}">'
            f"<div class='value'>{escape(shown)}</div>"
            f"<div class='label'>{escape(KPI_LABELS[name])}</div>"
            f"{markup.sparkline(trends.get(name, []))}</div>"
        )
    return (
        markup.open_panel("neural-mux-metrics", "Neural Mux metrics")
        + f"<div class='ctas7-metrics'>{''.join(cells)}</div>"
        + markup.caption("trends: the last two minutes")
        + "<h4 class='ctas7-title' style='margin-top:8px'>topics</h4>"
        + markup.html_table(
            "mux-topics",
            ("topic", "messages", "last seen", "data"),
            topics,
            empty="no Neural Mux messages yet",
            numeric=("messages",),
        )
        + "</div>"
    )


class MuxMetricsView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=MuxModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        html: Any = pn.bind(_mux, m.param.kpis, m.param.trends, m.param.topics)
        return pn.pane.HTML(html, sizing_mode="stretch_width", stylesheets=[markup.CSS])
