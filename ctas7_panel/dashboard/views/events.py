"""The live event stream: a table (sortable, filtered, a row opens its payload), the seed's
list of ``telemetry-event`` elements, and the payload viewer.

Both the table (``EventTable``) and the list (``LiveEventList``) are built in the browser from
small row dicts: new rows are sent as they arrive and added there, so a flush sends what
arrived, not the whole table; everything is set as text, never parsed as HTML.

**Row identity**: every row carries its event id (``data-row-id`` in the table,
``data-event-id`` in the list). A click sends that id, read from the clicked element, back as
``selected_id``; the payload viewer shows the event with that id. Nothing depends on a row's
position, so sorting, filtering and rows arriving or rolling off between the click and its
handling cannot show another event's payload. (Panel's Tabulator, used here before, mapped a
click through row positions that its ``stream`` with sorters, filters and rollover let drift
apart between the browser and the server: it showed another event's payload, or raised
``KeyError`` under a filter.)

Filters are applied on the server: only matching rows are sent, and a filter change resets the
table and the list to the newest matching rows.
"""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.reactive import ReactiveHTML

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.models import EventStreamModel

TABLE_COLUMNS = (
    ("time", "time"),
    ("type", "type"),
    ("source", "source"),
    ("summary", "summary"),
    ("id", "event id"),
)

TABLE_CSS = """
:host { color: #d6dde6; }
.ctas7-etable-box { max-height: 430px; overflow: auto; border: 1px solid #273241;
  border-radius: 6px; }
.ctas7-etable { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: 12.5px; }
.ctas7-etable th { position: sticky; top: 0; z-index: 1; background: #1f2935; color: #aab6c4;
  text-align: left; font-weight: 600; padding: 5px 8px; cursor: pointer; user-select: none;
  white-space: nowrap; overflow: hidden; }
.ctas7-etable th[data-dir=asc]::after { content: " \\25B2"; font-size: 9px; }
.ctas7-etable th[data-dir=desc]::after { content: " \\25BC"; font-size: 9px; }
.ctas7-etable td { padding: 4px 8px; border-top: 1px solid #273241; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; }
.ctas7-etable tbody tr { cursor: pointer; }
.ctas7-etable tbody tr:hover { background: #1c2530; }
.ctas7-etable tbody tr.selected { background: #213349; box-shadow: inset 3px 0 #58a6ff; }
.ctas7-etable td.c-time { font-variant-numeric: tabular-nums; }
.ctas7-etable td.c-summary, .ctas7-etable td.c-id { color: #aab6c4;
  font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 12px; }
.ctas7-etable th.c-time { width: 108px; } .ctas7-etable th.c-type { width: 22%; }
.ctas7-etable th.c-source { width: 14%; } .ctas7-etable th.c-id { width: 20%; }
.ctas7-etable .ctas7-empty td { color: #8b98a8; font-style: italic; cursor: default; }
@media (max-width: 700px) {
  .ctas7-etable-box { max-height: none; overflow: visible; }
  .ctas7-etable .c-source, .ctas7-etable .c-id { display: none; }
  .ctas7-etable { font-size: 12px; }
  .ctas7-etable th, .ctas7-etable td { padding: 4px 6px; }
  .ctas7-etable th.c-time { width: 100px; } .ctas7-etable th.c-type { width: 36%; }
  .ctas7-etable tbody tr:nth-child(n + 16) { display: none; }
}
"""


class EventTable(ReactiveHTML):
    """The newest events as table rows, sortable by any column, built in the browser.

    ``rows`` is the whole table (a render, a reset); ``appended`` (oldest first) is added to
    what the page shows, keeping the newest ``size`` rows by time. A click (or Enter) on a row
    sets ``selected_id`` to the row's event id, read from the row element. While the pointer is
    over the table, new rows wait (``data-paused="true"``) so rows do not move under it; they
    are added when it leaves.
    """

    rows = param.List(default=[], doc="the whole table (markup.table_row dicts)")
    appended = param.List(default=[], doc="rows to add, oldest first")
    size = param.Integer(default=200, bounds=(1, None), doc="rows kept (the newest by time)")
    selected_id = param.String(default="", doc="event id of the clicked row")

    _template = (
        '<div id="box" class="ctas7-etable-box">'
        '<table id="table" class="ctas7-etable" data-component="event-table" data-sort="ts:desc">'
        '<thead><tr id="head">'
        + "".join(
            f'<th class="c-{k}" data-key="{"ts" if k == "time" else k}"'
            f"{' data-dir=desc' if k == 'time' else ''}>{t}</th>"
            for k, t in TABLE_COLUMNS
        )
        + '</tr></thead><tbody id="body"></tbody></table></div>'
    )
    _scripts = {
        "render": """
state.keys = KEYS;
state.sort = {key: 'ts', dir: 'desc'};
state.make = (r) => {
  const tr = document.createElement('tr');
  tr.setAttribute('data-row-id', r.id);
  tr.setAttribute('data-event-type', r.type);
  tr.tabIndex = 0;
  tr._row = r;
  for (const k of state.keys) {
    const td = document.createElement('td');
    td.className = 'c-' + k;
    td.textContent = String(r[k]);
    td.title = String(r[k]);
    tr.append(td);
  }
  return tr;
};
state.cmp = (a, b) => {
  const k = state.sort.key, x = a._row[k], y = b._row[k];
  const c = (k === 'ts') ? x - y : String(x).localeCompare(String(y));
  return (state.sort.dir === 'asc' ? c : -c) || (b._row.ts - a._row.ts);
};
state.order = () => {
  const trs = Array.from(body.querySelectorAll('tr[data-row-id]'));
  trs.sort(state.cmp);
  body.append(...trs);
};
state.trim = () => {
  const trs = Array.from(body.querySelectorAll('tr[data-row-id]'));
  if (trs.length <= data.size) return;
  trs.sort((a, b) => a._row.ts - b._row.ts);
  for (const tr of trs.slice(0, trs.length - data.size)) tr.remove();
};
state.mark = () => {
  for (const tr of body.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  if (!data.selected_id) return;
  for (const tr of body.querySelectorAll('tr[data-row-id]')) {
    if (tr.getAttribute('data-row-id') === data.selected_id) tr.classList.add('selected');
  }
};
state.empty = () => {
  if (body.querySelector('tr[data-row-id]')) {
    const e = body.querySelector('.ctas7-empty'); if (e) e.remove(); return;
  }
  if (body.querySelector('.ctas7-empty')) return;
  const tr = document.createElement('tr'); tr.className = 'ctas7-empty';
  const td = document.createElement('td'); td.colSpan = state.keys.length;
  td.textContent = 'waiting for events…'; tr.append(td); body.append(tr);
};
state.paused = false; state.queue = [];
state.add = (rows) => {
  const have = new Set(Array.from(body.querySelectorAll('tr[data-row-id]'),
                                  (tr) => tr.getAttribute('data-row-id')));
  for (const r of rows) if (!have.has(r.id)) { have.add(r.id); body.append(state.make(r)); }
  state.order(); state.trim(); state.mark(); state.empty();
};
box.addEventListener('mouseenter', () => {
  state.paused = true; table.setAttribute('data-paused', 'true');
});
box.addEventListener('mouseleave', () => {
  state.paused = false; table.setAttribute('data-paused', 'false');
  const rows = state.queue; state.queue = []; if (rows.length) state.add(rows);
});
state.pick = (tr) => {
  const id = tr && tr.getAttribute('data-row-id');
  if (id === null || id === undefined) return;
  data.selected_id = id;
  state.mark();
};
body.addEventListener('click', (e) => state.pick(e.target.closest('tr[data-row-id]')));
body.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault(); state.pick(e.target.closest('tr[data-row-id]'));
  }
});
head.addEventListener('click', (e) => {
  const th = e.target.closest('th[data-key]'); if (!th) return;
  const key = th.getAttribute('data-key');
  const dir = (state.sort.key === key && state.sort.dir === 'desc') ? 'asc' : 'desc';
  state.sort = {key, dir};
  for (const h of head.children) h.removeAttribute('data-dir');
  th.setAttribute('data-dir', dir);
  table.setAttribute('data-sort', key + ':' + dir);
  state.order();
});
self.rows();
""".replace("KEYS", str([k for k, _ in TABLE_COLUMNS])),
        "rows": """
state.queue = [];
body.replaceChildren(...data.rows.slice(0, data.size).map(state.make));
state.order(); state.mark(); state.empty();
""",
        "appended": """
if (!data.appended.length) return;
if (state.paused) { state.queue = state.queue.concat(data.appended).slice(-data.size); return; }
state.add(data.appended);
""",
        "selected_id": "state.mark();",
    }
    _stylesheets = [TABLE_CSS]

    def reset(self, rows: list[dict[str, Any]]) -> None:
        """Show exactly ``rows`` (newest first); sent even when equal to the last reset."""
        if rows == self.rows:
            self.param.trigger("rows")
        else:
            self.rows = rows

    def add(self, appended: list[dict[str, Any]]) -> None:
        """Add ``appended`` (oldest first) on open pages; new renders get the whole table."""
        if not appended:
            return
        with param.discard_events(self):
            kept = {r["id"] for r in appended}
            self.rows = (appended[::-1] + [r for r in self.rows if r["id"] not in kept])[
                : self.size
            ]
        self.appended = appended


class LiveEventList(ReactiveHTML):
    """The newest events as ``telemetry-event`` elements, built in the browser from row dicts.

    ``rows`` is the whole list (newest first: a render, a reset); ``appended`` (oldest first) is
    prepended to what the page shows, trimmed to ``size``. Rows are ``markup.event_row`` dicts:
    their strings are set as text and attributes, never parsed as HTML. A click on an element
    sets ``selected_id`` to its ``data-event-id``. While the pointer is over the list it holds
    still (``data-paused="true"``); what arrived meanwhile is shown when the pointer leaves.
    """

    rows = param.List(default=[], doc="the whole list, newest first (markup.event_row dicts)")
    appended = param.List(default=[], doc="rows to prepend, oldest first")
    size = param.Integer(default=25, bounds=(1, None), doc="rows kept")
    total = param.Integer(default=0, doc="events received so far (data-total)")
    selected_id = param.String(default="", doc="event id of the clicked element")

    _template = '<div id="list" class="ctas7-events" data-component="event-list"></div>'
    _scripts = {
        "render": (
            "state.make = (r) => {" + markup.LIST_ROW_JS + " return el; };"
            """
state.empty = () => {
  const e = document.createElement('div');
  e.className = 'ctas7-empty'; e.textContent = 'waiting for events…'; return e; };
state.mark = () => {
  for (const el of list.querySelectorAll('.selected')) el.classList.remove('selected');
  for (const el of list.children)
    if (data.selected_id && el.getAttribute('data-event-id') === data.selected_id)
      el.classList.add('selected'); };
state.show = (rows) => {
  const els = rows.slice(0, data.size).map(state.make);
  list.replaceChildren(...(els.length ? els : [state.empty()])); state.mark(); };
state.prepend = (rows) => {
  const empty = list.querySelector('.ctas7-empty');
  if (empty) empty.remove();
  for (const r of rows) {
    if (list.querySelector('[data-event-id="' + CSS.escape(r.id) + '"]')) continue;
    list.prepend(state.make(r));
  }
  while (list.children.length > data.size) list.lastElementChild.remove();
  state.mark(); };
state.paused = false; state.pending = [];
list.addEventListener('mouseenter', () => {
  state.paused = true; list.setAttribute('data-paused', 'true'); });
list.addEventListener('mouseleave', () => {
  state.paused = false; list.setAttribute('data-paused', 'false');
  const ops = state.pending; state.pending = [];
  for (const [op, rows] of ops) (op === 'rows' ? state.show : state.prepend)(rows); });
list.addEventListener('click', (e) => {
  const el = e.target.closest('[data-event-id]'); if (!el) return;
  data.selected_id = el.getAttribute('data-event-id'); state.mark(); });
self.rows(); self.total();
"""
        ),
        "total": "list.setAttribute('data-total', String(data.total));",
        "rows": """
if (state.paused) { state.pending = [['rows', data.rows]]; return; }
state.show(data.rows);
""",
        "appended": """
if (!data.appended.length) return;
if (state.paused) { state.pending.push(['appended', data.appended]); return; }
state.prepend(data.appended);
""",
        "selected_id": "state.mark();",
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


FILTER_CSS = """
:host { color: #d6dde6; }
.ctas7-filter { display: flex; flex-wrap: wrap; gap: 5px; align-items: center; font-size: 12.5px; }
.ctas7-filter .label { color: #8b98a8; margin-right: 4px; }
.ctas7-filter button { font: inherit; color: #c9d1d9; background: #1f2935; cursor: pointer;
  border: 1px solid #273241; border-radius: 12px; padding: 2px 10px; max-width: 100%;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ctas7-filter button[aria-pressed=true] { background: #213349; border-color: #58a6ff;
  color: #ffffff; }
.ctas7-filter .more { color: #8b98a8; }
"""


class FilterChips(ReactiveHTML):
    """A filter as a row of toggle chips: ``value`` holds the chosen ``options`` (none = all).

    Names come from outside (event types, sources): they are set as text, never as HTML. At most
    ``shown`` chips are drawn (then "+N more": narrow with the other filter or the history).
    """

    options = param.List(default=[], doc="names to choose from")
    value = param.List(default=[], doc="chosen names (empty: all)")
    label = param.String(default="", doc="what is filtered")
    name_attr = param.String(default="", doc="data-filter value (for tests and users' scripts)")
    shown = param.Integer(default=60, bounds=(1, None), doc="chips drawn at most")

    _template = '<div id="box" class="ctas7-filter"></div>'
    _scripts = {
        "render": """
state.draw = () => {
  box.setAttribute('data-filter', data.name_attr);
  const label = document.createElement('span'); label.className = 'label';
  label.textContent = data.label;
  const chip = (text, value, pressed) => {
    const b = document.createElement('button'); b.type = 'button'; b.textContent = text;
    b.title = text; if (value !== null) b.setAttribute('data-value', value);
    b.setAttribute('aria-pressed', String(pressed)); return b;
  };
  const els = [label, chip('all', null, data.value.length === 0)];
  for (const o of data.options.slice(0, data.shown)) els.push(chip(o, o, data.value.includes(o)));
  if (data.options.length > data.shown) {
    const more = document.createElement('span'); more.className = 'more';
    more.textContent = '+' + (data.options.length - data.shown) + ' more'; els.push(more);
  }
  box.replaceChildren(...els);
};
box.addEventListener('click', (e) => {
  const b = e.target.closest('button'); if (!b) return;
  const v = b.getAttribute('data-value');
  if (v === null) { data.value = []; }
  else if (data.value.includes(v)) { data.value = data.value.filter((x) => x !== v); }
  else { data.value = [...data.value, v]; }
});
state.draw();
""",
        "options": "state.draw();",
        "value": "state.draw();",
        "label": "state.draw();",
    }
    _stylesheets = [FILTER_CSS]


def _header(events: int, missed: int, max_rows: int) -> str:
    text = (
        f"{events} events received; the table keeps the newest {max_rows} (they hold still"
        " while the pointer is over it). Click a row for its payload."
    )
    if missed:
        text += (
            f" {missed} arrived faster than this page could list them and are only in the"
            " history (`ctas7 events tail`)."
        )
    return (
        markup.open_panel("event-stream", "Live event stream")
        + markup.caption(text, "total")
        + "</div>"
    )


class EventStreamView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=EventStreamModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)  # type: ignore[no-untyped-call]  # param's, unannotated
        m = self.model
        self.table = EventTable(
            rows=list(m.table_rows), size=m.max_rows, sizing_mode="stretch_width"
        )
        self.listing = LiveEventList(
            rows=[markup.event_row(r) for r in m.latest],
            size=m.list_size,
            sizing_mode="stretch_width",
        )
        self.types_filter = FilterChips(
            options=list(m.type_options),
            value=list(m.types),
            label="types",
            name_attr="types",
            sizing_mode="stretch_width",
        )
        self.sources_filter = FilterChips(
            options=list(m.source_options),
            value=list(m.sources),
            label="sources",
            name_attr="sources",
            sizing_mode="stretch_width",
        )
        for chips, options, chosen in (
            (self.types_filter, "type_options", "types"),
            (self.sources_filter, "source_options", "sources"),
        ):
            m.param.watch(lambda e, c=chips: setattr(c, "options", list(e.new)), options)
            m.param.watch(lambda e, c=chips: self._sync(c, "value", e.new), chosen)
            chips.param.watch(lambda e, n=chosen: self._sync(m, n, e.new), "value")
        m.param.watch(self._on_table_rows, "table_rows")
        m.param.watch(self._on_table_batch, "table_batch")
        m.param.watch(self._on_latest, "latest")
        m.param.watch(self._on_appended, "appended")
        m.param.watch(self._on_total, "total")
        m.param.watch(self._on_model_selected, "selected_id")
        self.table.param.watch(self._on_clicked, "selected_id")
        self.listing.param.watch(self._on_clicked, "selected_id")

    @staticmethod
    def _sync(target: param.Parameterized, name: str, value: list[str]) -> None:
        if list(getattr(target, name)) != list(value):
            setattr(target, name, list(value))

    def _on_table_rows(self, event: param.parameterized.Event) -> None:
        self.table.reset(list(event.new))

    def _on_table_batch(self, event: param.parameterized.Event) -> None:
        self.table.add(list(event.new))

    def _on_latest(self, event: param.parameterized.Event) -> None:
        self.listing.reset([markup.event_row(r) for r in event.new])

    def _on_appended(self, event: param.parameterized.Event) -> None:
        self.listing.prepend(event.new)

    def _on_total(self, event: param.parameterized.Event) -> None:
        self.listing.total = event.new

    def _on_clicked(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.model.selected_id = event.new

    def _on_model_selected(self, event: param.parameterized.Event) -> None:
        for part in (self.table, self.listing):
            if part.selected_id != event.new:
                part.selected_id = event.new

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        header = pn.pane.HTML(
            pn.bind(_header, m.param.total, m.param.missed, m.param.max_rows),
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS],
        )
        types = self.types_filter
        sources = self.sources_filter
        payload = pn.pane.HTML(
            pn.bind(markup.payload_view, m.param.detail),
            sizing_mode="stretch_width",
            stylesheets=[markup.CSS, ":host { width: 100%; } .ctas7-payload { width: auto; }"],
            margin=(8, 0, 0, 0),
        )
        return pn.Column(
            header,
            pn.Column(types, sources, sizing_mode="stretch_width"),
            pn.FlexBox(
                pn.Column(
                    self.table,
                    payload,
                    sizing_mode="stretch_width",
                    styles={"flex": "3 1 420px", "min-width": "0"},
                ),
                pn.Column(
                    self.listing,
                    sizing_mode="stretch_width",
                    styles={"flex": "2 1 280px", "min-width": "0"},
                ),
                flex_wrap="wrap",
                gap="10px",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
