"""Neural Mux metrics: KPIs with their trend, and the Mux topics seen."""

# param types ClassSelector values as Optional and pn.bind as generator-returning: both false
# positives here (the model is always set); narrowed to this module.
# mypy: disable-error-code="union-attr,arg-type,misc"

from __future__ import annotations

import math
from typing import Any

import panel as pn
import param

from ctas7_panel.dashboard import markup
from ctas7_panel.dashboard.digest import KPI_LABELS, KPI_NAMES, KpiSample
from ctas7_panel.dashboard.models import MuxModel

TREND_POINTS = 120


def _kpis(kpis: dict[str, float | None]) -> str:
    return markup.metrics_row(
        "neural-mux-metrics",
        "Neural Mux metrics",
        {
            name: (KPI_LABELS[name], "—" if kpis.get(name) is None else f"{kpis[name]:.1f}")
            for name in KPI_NAMES
        },
    )


class MuxMetricsView(pn.viewable.Viewer):
    model = param.ClassSelector(class_=MuxModel, doc="what to show")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.trends = {
            name: pn.indicators.Trend(
                label=KPI_LABELS[name],
                data={"x": [], "y": []},
                plot_type="line",
                height=110,
                width=190,
            )
            for name in KPI_NAMES
        }
        self.model.param.watch(self._on_batch, "kpi_batch")

    def _on_batch(self, event: param.parameterized.Event) -> None:
        samples: list[KpiSample] = event.new
        for name, trend in self.trends.items():
            xs, ys = [], []
            for s in samples:
                v = s.values.get(name)
                if v is not None and math.isfinite(v):
                    xs.append(s.t)
                    ys.append(v)
            if xs:
                trend.stream({"x": xs, "y": ys}, rollover=TREND_POINTS)

    def __panel__(self) -> pn.viewable.Viewable:
        m = self.model
        return pn.Column(
            pn.pane.HTML(
                pn.bind(_kpis, m.param.kpis), sizing_mode="stretch_width", stylesheets=[markup.CSS]
            ),
            pn.FlexBox(*self.trends.values()),
            pn.widgets.Tabulator(
                m.param.topics,
                show_index=False,
                disabled=True,
                theme="midnight",
                height=160,
                sizing_mode="stretch_width",
                layout="fit_columns",
            ),
            sizing_mode="stretch_width",
        )
