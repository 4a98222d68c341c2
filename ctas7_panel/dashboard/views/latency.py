"""Per route p50/p99 latency over time (Bokeh, streamed with rollover).

The chart is drawn in the dashboard's dark palette whatever the page's theme (a served page or
a notebook), and its ranges are set from the data it holds (``chart_ranges``): Bokeh's automatic
ranges have nothing to fit while the chart is empty and warn "could not set initial ranges".
"""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Range1d

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.markup import PALETTE
from ctas7_panel.dashboard.models import LatencyModel
from ctas7_panel.dashboard.records import color, label, targets

WINDOW_MS = 60_000.0


def empty_columns() -> dict[str, Any]:
    cols: dict[str, list[Any]] = {"t": []}
    for route in targets():
        cols[f"{route}_p50"] = []
        cols[f"{route}_p99"] = []
    return cols


def chart_ranges(
    columns: Mapping[str, Sequence[float]], now_ms: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(x start, end) in ms since the epoch and (y start, end) in ms for what ``columns`` hold:
    x spans the data (at least the last minute up to ``now_ms``), y from 0 to a bit above the
    largest finite value (at least 10 ms)."""
    ts = [t for t in columns.get("t", ()) if math.isfinite(t)]
    end = max([now_ms, *ts])
    start = min([end - WINDOW_MS, *ts])
    top = 0.0
    for name, values in columns.items():
        if name != "t":
            top = max([top, *(v for v in values if math.isfinite(v))])
    return (start, end), (0.0, max(10.0, top * 1.15))


def dark(fig: Any) -> Any:
    """``fig`` in the dashboard's palette."""
    fig.background_fill_color = PALETTE["card"]
    fig.border_fill_color = PALETTE["card"]
    fig.outline_line_color = PALETTE["line"]
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_line_color = PALETTE["line"]
        axis.major_tick_line_color = PALETTE["line"]
        axis.minor_tick_line_color = None
        axis.major_label_text_color = PALETTE["muted"]
        axis.axis_label_text_color = PALETTE["muted"]
    for grid in (*fig.xgrid, *fig.ygrid):
        grid.grid_line_color = PALETTE["line"]
        grid.grid_line_alpha = 0.6
    legend = fig.legend[0]
    legend.background_fill_color = PALETTE["card"]
    legend.background_fill_alpha = 0.8
    legend.border_line_color = PALETTE["line"]
    legend.label_text_color = PALETTE["text"]
    return fig


class LatencyView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=LatencyModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        from bokeh.plotting import figure

        super().__init__(**params)  # type: ignore[no-untyped-call]  # param's, unannotated
        self.source = ColumnDataSource(empty_columns())
        (x0, x1), (y0, y1) = chart_ranges({}, time.time() * 1000.0)
        fig = figure(
            height=260,
            sizing_mode="stretch_width",
            x_axis_type="datetime",
            y_axis_label="ms",
            toolbar_location=None,
            x_range=Range1d(x0, x1),
            y_range=Range1d(y0, y1),
        )
        for route in targets():
            line_color = color(route, PALETTE["accent"])
            fig.line(
                "t",
                f"{route}_p50",
                source=self.source,
                color=line_color,
                legend_label=label(route),
                line_width=1.8,
            )
            fig.line(
                "t",
                f"{route}_p99",
                source=self.source,
                color=line_color,
                line_dash="dashed",
                alpha=0.7,
            )
        fig.legend.location = "top_left"
        fig.legend.click_policy = "hide"
        fig.add_tools(HoverTool(tooltips=[("time", "@t{%T}")], formatters={"@t": "datetime"}))
        self.figure = dark(fig)
        self.model.param.watch(self._on_batch, "batch")

    def _on_batch(self, event: param.parameterized.Event) -> None:
        if event.new and event.new.get("t"):
            self.source.stream(event.new, rollover=self.model.max_points)
            (x0, x1), (y0, y1) = chart_ranges(self.source.data, time.time() * 1000.0)
            self.figure.x_range.update(start=x0, end=x1)
            self.figure.y_range.update(start=y0, end=y1)

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.HTML(
            markup.open_panel("latency-charts", "Latency per route")
            + markup.caption(
                "arrival on target.<route> minus the event's timestamp, per second: p50 solid, "
                "p99 dashed; click a route in the legend to hide it"
            )
            + "</div>",
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
        return pn.Column(
            header,
            pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
