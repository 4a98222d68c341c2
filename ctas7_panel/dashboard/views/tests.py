"""Test results: passed/flaky/failed/skipped, runs per project (device) live, the duration
distribution, the latest failures."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import TestResultsModel


def _metrics(passed: int, flaky: int, failed: int, skipped: int, running: int) -> str:
    return markup.metrics_row(
        "test-results",
        "Test results",
        {
            "passed": ("passed", passed),
            "flaky": ("flaky", flaky),
            "failed": ("failed", failed),
            "skipped": ("skipped", skipped),
            "running": ("running", running),
        },
    )


RUN_COLUMNS = ("run", "project", "passed", "flaky", "failed", "skipped", "running", "status")


def _runs(rows: list[tuple[Any, ...]], note: str) -> str:
    """The latest runs, one row per project (device), and what the last run said."""
    parts = []
    if note:
        parts.append(f"<div class='ctas7-test-note' data-test-note>{escape(note)}</div>")
    if rows:
        head = "".join(f"<th>{c}</th>" for c in RUN_COLUMNS)
        body = "".join(_run_row(r) for r in rows)
        parts.append(
            f"<table class='ctas7-runs' data-component='test-runs'><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>"
        )
    return "".join(parts)


def _run_row(row: tuple[Any, ...]) -> str:
    cells = "".join(
        f"<td data-col='{c}'>{escape(str(v))}</td>" for c, v in zip(RUN_COLUMNS, row, strict=True)
    )
    run, project = escape(str(row[0]), quote=True), escape(str(row[1]), quote=True)
    return f"<tr data-run='{run}' data-project='{project}'>{cells}</tr>"


RUNS_CSS = """
.ctas7-runs { border-collapse: collapse; font-size: 12.5px; width: 100%; }
.ctas7-runs th, .ctas7-runs td { padding: 2px 6px; text-align: left;
  border-bottom: 1px solid rgba(127,127,127,.2); font-variant-numeric: tabular-nums; }
.ctas7-test-note { font-size: 13px; opacity: .8; margin: 4px 0; }
"""


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
                pn.bind(
                    _metrics,
                    m.param.passed,
                    m.param.flaky,
                    m.param.failed,
                    m.param.skipped,
                    m.param.running,
                ),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS],
            ),
            pn.pane.HTML(
                pn.bind(_runs, m.param.runs, m.param.note),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS, RUNS_CSS],
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
