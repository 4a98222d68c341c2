"""Per route p50/p99 latency over time (Bokeh, streamed with rollover)."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.palettes import Category10

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import LatencyModel
from ctas7_panel.dashboard.records import TARGETS


def empty_columns() -> dict[str, Any]:
    cols: dict[str, list[Any]] = {"t": []}
    for route in TARGETS:
        cols[f"{route}_p50"] = []
        cols[f"{route}_p99"] = []
    return cols


class LatencyView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=LatencyModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        from bokeh.plotting import figure

        super().__init__(**params)
        self.source = ColumnDataSource(empty_columns())
        fig = figure(
            height=260,
            sizing_mode="stretch_width",
            x_axis_type="datetime",
            y_axis_label="ms",
            title="delivery latency per route (p50 solid, p99 dashed)",
            toolbar_location=None,
        )
        colors = Category10[10]
        for i, route in enumerate(TARGETS):
            fig.line("t", f"{route}_p50", source=self.source, color=colors[i], legend_label=route)
            fig.line(
                "t",
                f"{route}_p99",
                source=self.source,
                color=colors[i],
                line_dash="dashed",
                alpha=0.7,
            )
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        fig.add_tools(HoverTool(tooltips=[("time", "@t{%T}")], formatters={"@t": "datetime"}))
        self.figure = fig
        self.model.param.watch(self._on_batch, "batch")

    def _on_batch(self, event: param.parameterized.Event) -> None:
        if event.new and event.new.get("t"):
            self.source.stream(event.new, rollover=self.model.max_points)

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.HTML(
            markup.open_panel("latency-charts", "Latency per route") + "</div>",
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
        return pn.Column(header, pn.pane.Bokeh(self.figure), sizing_mode="stretch_width")
