"""Test results: passed/failed/skipped, the duration distribution, the latest failures."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import TestResultsModel


def _metrics(passed: int, failed: int, skipped: int, running: int) -> str:
    return markup.metrics_row(
        "test-results",
        "Test results",
        {
            "passed": ("passed", passed),
            "failed": ("failed", failed),
            "skipped": ("skipped", skipped),
            "running": ("running", running),
        },
    )


class TestResultsView(pn.viewable.Viewer):
    __test__ = False

    model = param.ClassSelector(class_=TestResultsModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.source = ColumnDataSource({"left": [], "right": [], "count": []})
        fig = figure(
            height=180,
            sizing_mode="stretch_width",
            title="duration (ms)",
            toolbar_location=None,
            x_axis_label="ms",
        )
        fig.quad(top="count", bottom=0, left="left", right="right", source=self.source, alpha=0.7)
        self.figure = fig
        self.model.param.watch(self._on_hist, "histogram")

    def _on_hist(self, event: param.parameterized.Event) -> None:
        self.source.data = dict(event.new) if event.new else {"left": [], "right": [], "count": []}

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        return pn.Column(
            pn.pane.HTML(
                pn.bind(_metrics, m.param.passed, m.param.failed, m.param.skipped, m.param.running),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS],
            ),
            pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
            pn.widgets.Tabulator(
                m.param.failures,
                show_index=False,
                disabled=True,
                theme="midnight",
                height=160,
                sizing_mode="stretch_width",
                layout="fit_columns",
            ),
            sizing_mode="stretch_width",
        )
