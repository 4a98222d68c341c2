"""The status bar: bus, database and each endpoint (connected or not, since when), schema hash."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import StatusModel


class StatusBarView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=StatusModel, doc="what to show")

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        html: Any = pn.bind(
            markup.status_bar,
            m.param.components,
            m.param.schema_hash,
            m.param.schema_status,
            m.param.notification,
            m.param.notification_type,
        )
        return pn.pane.HTML(html, sizing_mode="stretch_width", stylesheets=[markup.CSS])
