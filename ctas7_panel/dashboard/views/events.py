"""The live event stream: a Tabulator (newest first, filters, a row opens its payload) and the
seed's list of ``telemetry-event`` elements.

The list is a ``LiveEventList``: new rows are sent as small dicts and prepended in the browser
(trimmed to ``size``), so a flush sends what arrived, not the whole list; the full markup is
sent only on a reset (first render, filter change, once a second when routes were reached).
"""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param
from panel.reactive import ReactiveHTML

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import EventStreamModel, empty_rows


def _filter(df: pd.DataFrame, types: list[str], sources: list[str]) -> pd.DataFrame:
    if types:
        df = df[df["event_type"].isin(types)]
    if sources:
        df = df[df["source_node"].isin(sources)]
    return df


class LiveEventList(ReactiveHTML):
    """The newest events as ``telemetry-event`` elements, built in the browser from row dicts.

    ``rows`` is the whole list (newest first: a render, a reset); ``appended`` (oldest first) is
    prepended to what the page shows, trimmed to ``size``. Rows are ``markup.event_row`` dicts:
    their strings are set as text and attributes, never parsed as HTML.
    """

    rows = param.List(default=[], doc="the whole list, newest first (markup.event_row dicts)")
    appended = param.List(default=[], doc="rows to prepend, oldest first")
    size = param.Integer(default=25, bounds=(1, None), doc="rows kept")
    total = param.Integer(default=0, doc="sightings so far (data-total)")

    _template = '<div id="list" class="ctas7-events" data-component="event-list"></div>'
    _scripts = {
        "render": (
            "state.make = (r) => {" + markup.LIST_ROW_JS + " return el; };"
            "state.empty = () => {"
            "  const e = document.createElement('div');"
            "  e.className = 'ctas7-empty'; e.textContent = 'waiting for events…'; return e; };"
            "self.rows(); self.total();"
        ),
        "total": "list.setAttribute('data-total', String(data.total));",
        "rows": (
            "const els = data.rows.slice(0, data.size).map(state.make);"
            "list.replaceChildren(...(els.length ? els : [state.empty()]));"
        ),
        "appended": (
            "if (!data.appended.length) return;"
            "const empty = list.querySelector('.ctas7-empty');"
            "if (empty) empty.remove();"
            "for (const r of data.appended) {"
            "  if (list.querySelector('[data-event-id=\"' + CSS.escape(r.id) + '\"]')) continue;"
            "  list.prepend(state.make(r));"
            "}"
            "while (list.children.length > data.size) list.lastElementChild.remove();"
        ),
    }
    _stylesheets = [markup.CSS]

    def reset(self, rows: list[dict[str, str]]) -> None:
        """Show exactly ``rows`` (sent even when equal to the last reset: the page moved on)."""
        if rows == self.rows:
            self.param.trigger("rows")
        else:
            self.rows = rows

    def prepend(self, appended: list[dict[str, str]]) -> None:
        """Prepend ``appended`` (oldest first) on open pages; new renders get the whole list."""
        if not appended:
            return
        with param.discard_events(self):
            self.rows = (appended[::-1] + self.rows)[: self.size]
        self.appended = appended


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
        self.listing = LiveEventList(
            rows=[markup.event_row(r) for r in m.latest],
            size=m.list_size,
            sizing_mode="stretch_width",
        )
        m.param.watch(self._on_batch, "batch")
        m.param.watch(self._on_latest, "latest")
        m.param.watch(self._on_appended, "appended")
        m.param.watch(self._on_total, "total")

    def _on_batch(self, event: param.parameterized.Event) -> None:
        if event.new and event.new.get("event_id"):
            self.table.stream(event.new, rollover=self.model.max_rows, follow=False)

    def _on_latest(self, event: param.parameterized.Event) -> None:
        self.listing.reset([markup.event_row(r) for r in event.new])

    def _on_appended(self, event: param.parameterized.Event) -> None:
        self.listing.prepend(event.new)

    def _on_total(self, event: param.parameterized.Event) -> None:
        self.listing.total = event.new

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
                pn.Column(self.listing, width=420),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
