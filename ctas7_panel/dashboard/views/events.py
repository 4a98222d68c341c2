"""The live event stream: a Tabulator (newest first, filters, a row opens its payload) and the
seed's list of ``telemetry-event`` elements."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import EventStreamModel, empty_rows


def _filter(df: pd.DataFrame, types: list[str], sources: list[str]) -> pd.DataFrame:
    if types:
        df = df[df["event_type"].isin(types)]
    if sources:
        df = df[df["source_node"].isin(sources)]
    return df


class EventStreamView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=EventStreamModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        m = self.model
        self.table = pn.widgets.Tabulator(
            empty_rows(),
            show_index=False,
            disabled=True,
            selectable=1,
            sorters=[{"field": "ts", "dir": "desc"}],
            hidden_columns=["ts"],
            theme="midnight",
            height=380,
            layout="fit_data_stretch",
            titles={"event_type": "type", "source_node": "source"},
            sizing_mode="stretch_width",
            label="events",
            css_classes=["ctas7-event-table"],
        )
        self.table.add_filter(pn.bind(_filter, types=m.param.types, sources=m.param.sources))
        self.table.param.watch(self._on_selection, "selection")
        m.param.watch(self._on_batch, "batch")

    def _on_batch(self, event: param.parameterized.Event) -> None:
        if event.new is not None and len(event.new):
            self.table.stream(event.new, rollover=self.model.max_rows, follow=False)

    def _on_selection(self, event: param.parameterized.Event) -> None:
        if event.new:
            row = self.table.value.iloc[event.new[0]]
            self.model.selected_id = str(row["event_id"])

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        types = pn.widgets.MultiChoice.from_param(
            m.param.types, label="Event types", placeholder="all types", sizing_mode="stretch_width"
        )
        sources = pn.widgets.MultiChoice.from_param(
            m.param.sources, label="Sources", placeholder="all sources", sizing_mode="stretch_width"
        )
        header = pn.pane.HTML(
            pn.bind(
                lambda total, missed: (
                    markup.open_panel("event-stream", "Live event stream")
                    + f"<small data-metric='total'>{total} sightings"
                    + (f", {missed} rows skipped (fell behind)" if missed else "")
                    + "</small></div>"
                ),
                m.param.total,
                m.param.missed,
            ),
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
        listing = pn.pane.HTML(
            pn.bind(
                lambda latest, total: markup.event_list(latest, time.time(), total),
                m.param.latest,
                m.param.total,
            ),
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
        detail = pn.Column(
            pn.pane.HTML("<small>click a row to see its payload</small>"),
            pn.pane.JSON(m.param.detail, depth=3, sizing_mode="stretch_width", height=220),
            sizing_mode="stretch_width",
        )
        return pn.Column(
            header,
            pn.Row(types, sources, sizing_mode="stretch_width"),
            pn.Row(
                pn.Column(self.table, detail, sizing_mode="stretch_width"),
                pn.Column(listing, width=420),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
