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

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import TestResultsModel


def _results(
    passed: int,
    flaky: int,
    failed: int,
    skipped: int,
    running: int,
    runs: list[tuple[Any, ...]],
    histogram: dict[str, list[float]],
    failures: list[tuple[str, str, str]],
    note: str,
) -> str:
    metrics = {
        "passed": ("passed", passed),
        "flaky": ("flaky", flaky),
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
    elif not (passed or flaky or failed or skipped or running):
        parts.append(
            markup.caption(
                "No test results yet: they arrive as playwright_test_* events from a pytest run "
                "with the ctas7 plugin (the demo runs one every few seconds) or from a "
                "Playwright run with the ctas7 reporter.",
                "test-note",
            )
        )
    parts.append(_runs(runs))
    parts.append(markup.histogram_svg(histogram))
    if failures:
        parts.append("<h4 class='ctas7-title' style='margin-top:8px'>latest failures</h4>")
        parts.append(markup.html_table("test-failures", ("time", "test", "message"), failures))
    parts.append("</div>")
    return "".join(parts)


RUN_COLUMNS = ("run", "project", "passed", "flaky", "failed", "skipped", "running", "status")


def _runs(rows: list[tuple[Any, ...]]) -> str:
    """The latest runs, one row per project (device)."""
    if not rows:
        return ""
    head = "".join(f"<th>{c}</th>" for c in RUN_COLUMNS)
    body = "".join(_run_row(r) for r in rows)
    return (
        f"<div class='ctas7-scroll-x'><table class='ctas7-runs' data-component='test-runs'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _run_row(row: tuple[Any, ...]) -> str:
    cells = "".join(
        f"<td data-col='{c}'>{escape(str(v))}</td>" for c, v in zip(RUN_COLUMNS, row, strict=True)
    )
    run, project = escape(str(row[0]), quote=True), escape(str(row[1]), quote=True)
    return f"<tr data-run='{run}' data-project='{project}'>{cells}</tr>"


RUNS_CSS = """
.ctas7-scroll-x { overflow-x: auto; max-width: 100%; }
.ctas7-runs { border-collapse: collapse; font-size: 12.5px; width: 100%; margin: 4px 0; }
.ctas7-runs th, .ctas7-runs td { padding: 2px 6px; text-align: left;
  border-bottom: 1px solid rgba(127,127,127,.2); font-variant-numeric: tabular-nums; }
"""


class TestResultsView(pn.viewable.Viewer):
    __test__ = False

    model = param.ClassSelector(class_=TestResultsModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        html: Any = pn.bind(
            _results,
            m.param.passed,
            m.param.flaky,
            m.param.failed,
            m.param.skipped,
            m.param.running,
            m.param.runs,
            m.param.histogram,
            m.param.failures,
            m.param.note,
        )
        return pn.pane.HTML(html, sizing_mode="stretch_width", stylesheets=[markup.CSS, RUNS_CSS])
