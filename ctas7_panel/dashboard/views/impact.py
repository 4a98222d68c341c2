"""What the last schema change affects: the ``impact`` of ``schema_updated``, under the diff."""

from __future__ import annotations

from html import escape

import panel as pn

from ctas7_panel.dashboard.models import SchemaModel


def impact_html(text: str) -> str:
    body = escape(text or "no impact reported yet")
    return (
        "<pre data-metric='schema-impact' style='max-height:140px;overflow:auto;font-size:12px'>"
        f"{body}</pre>"
    )


def impact_pane(model: SchemaModel) -> pn.viewable.Viewable:
    """A pane bound to ``model.impact_text``."""
    return pn.pane.HTML(pn.bind(impact_html, model.param.impact_text), sizing_mode="stretch_width")
