"""Schema details: hash, table count, last updated, the last diff, tables with column counts."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from html import escape

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import SchemaModel
from ctas7_panel.dashboard.views.impact import impact_pane


def _metrics(hash_: str, table_count: int | None, updated_at: float | None, status: str) -> str:
    return markup.metrics_row(
        "schema-details",
        "Schema details",
        {
            "schema-hash": ("hash", hash_[:16] if hash_ else "unknown"),
            "table-count": ("tables", "—" if table_count is None else table_count),
            "last-updated": ("last updated", markup.clock(updated_at)),
            "schema-status": ("status", status),
        },
    )


def _diff(diff_text: str, error: str) -> str:
    parts = []
    if error:
        parts.append(
            f"<div data-metric='schema-error' class='ctas7-note error'>{escape(error)}</div>"
        )
    parts.append(
        "<pre data-metric='schema-diff' style='max-height:160px;overflow:auto;font-size:12px'>"
        f"{escape(diff_text or 'no change seen yet')}</pre>"
    )
    return "".join(parts)


class SchemaView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=SchemaModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        return pn.Column(
            pn.pane.HTML(
                pn.bind(
                    _metrics, m.param.hash, m.param.table_count, m.param.updated_at, m.param.status
                ),
                sizing_mode="stretch_width",
                stylesheets=[markup.CSS],
            ),
            pn.pane.HTML(
                pn.bind(_diff, m.param.diff_text, m.param.error), sizing_mode="stretch_width"
            ),
            impact_pane(m),
            pn.widgets.Tabulator(
                m.param.tables,
                show_index=False,
                disabled=True,
                theme="midnight",
                height=220,
                sizing_mode="stretch_width",
                layout="fit_columns",
            ),
            sizing_mode="stretch_width",
        )
