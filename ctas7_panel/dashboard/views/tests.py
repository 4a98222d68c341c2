"""Test results: passed/failed/skipped, the duration distribution, the latest failures."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import TestResultsModel


def _results(
    passed: int,
    failed: int,
    skipped: int,
    running: int,
    histogram: dict[str, list[float]],
    failures: list[tuple[str, str, str]],
    note: str,
) -> str:
    metrics = {
        "passed": ("passed", passed),
        "failed": ("failed", failed),
        "skipped": ("skipped", skipped),
        "running": ("running", running),
    }
    inner = "".join(markup.metric(name, label, value) for name, (label, value) in metrics.items())
    parts = [
        markup.open_panel("test-results", "Test results"),
        f"<div class='ctas7-metrics'>{inner}</div>",
    ]
    if note:
        parts.append(markup.caption(note, "test-note"))
    elif not (passed or failed or skipped or running):
        parts.append(
            markup.caption(
                "No test results yet: they arrive as playwright_test_* events from a pytest run "
                "with the ctas7 plugin (the demo runs one every few seconds).",
                "test-note",
            )
        )
    parts.append(markup.histogram_svg(histogram))
    if failures:
        parts.append("<h4 class='ctas7-title' style='margin-top:8px'>latest failures</h4>")
        parts.append(markup.html_table("test-failures", ("time", "test", "message"), failures))
    parts.append("</div>")
    return "".join(parts)


class TestResultsView(pn.viewable.Viewer):
    __test__ = False

    model = param.ClassSelector(class_=TestResultsModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        html: Any = pn.bind(
            _results,
            m.param.passed,
            m.param.failed,
            m.param.skipped,
            m.param.running,
            m.param.histogram,
            m.param.failures,
            m.param.note,
        )
        return pn.pane.HTML(html, sizing_mode="stretch_width", stylesheets=[markup.CSS])
