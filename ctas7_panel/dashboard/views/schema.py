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
from ctas7_panel.dashboard.views.impact import impact_html


def _details(
    hash_: str,
    table_count: int | None,
    updated_at: float | None,
    status: str,
    diff_text: str,
    error: str,
    tables: list[tuple[str, int]],
    impact_text: str = "",
) -> str:
    metrics = {
        "table-count": ("tables", "—" if table_count is None else table_count),
        "last-updated": ("last updated", markup.clock(updated_at)),
        "schema-status": ("status", status),
    }
    inner = "".join(markup.metric(name, label, value) for name, (label, value) in metrics.items())
    parts = [
        markup.open_panel("schema-details", "Schema details"),
        f"<div class='ctas7-metrics'>{inner}</div>",
        '<div class="ctas7-metric" data-metric="schema-hash">'
        f'<div class="value mono" title="{escape(hash_, quote=True)}">'
        f"{escape(hash_[:16]) if hash_ else 'unknown'}</div>"
        "<div class='label'>fingerprint (SHA-256, first 16 hex digits)</div></div>",
    ]
    if error:
        parts.append(
            f"<div data-metric='schema-error' class='ctas7-note error'>{escape(error)}</div>"
        )
    parts.append("<h4 class='ctas7-title' style='margin-top:10px'>last change</h4>")
    parts.append(
        f"<pre data-metric='schema-diff' class='ctas7-diff'>"
        f"{escape(diff_text or 'no change seen yet')}</pre>"
    )
    parts.append("<h4 class='ctas7-title' style='margin-top:10px'>impact</h4>")
    parts.append(impact_html(impact_text))
    parts.append("<h4 class='ctas7-title' style='margin-top:10px'>tables</h4>")
    parts.append(
        markup.html_table(
            "schema-tables",
            ("table", "columns"),
            tables,
            empty="not known yet (they come with the next schema event)",
            numeric=("columns",),
        )
    )
    parts.append("</div>")
    return "".join(parts)


class SchemaView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=SchemaModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        return pn.pane.HTML(
            pn.bind(
                _details,
                m.param.hash,
                m.param.table_count,
                m.param.updated_at,
                m.param.status,
                m.param.diff_text,
                m.param.error,
                m.param.tables,
                m.param.impact_text,
            ),
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
