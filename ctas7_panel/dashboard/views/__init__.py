"""One ``pn.viewable.Viewer`` per panel. Views render a model and never fetch data."""

from ctas7_panel.dashboard.views.bridge import BridgeHealthView
from ctas7_panel.dashboard.views.events import EventStreamView
from ctas7_panel.dashboard.views.latency import LatencyView
from ctas7_panel.dashboard.views.mux import MuxMetricsView
from ctas7_panel.dashboard.views.schema import SchemaView
from ctas7_panel.dashboard.views.status import StatusBarView
from ctas7_panel.dashboard.views.tests import TestResultsView

__all__ = [
    "BridgeHealthView",
    "EventStreamView",
    "LatencyView",
    "MuxMetricsView",
    "SchemaView",
    "StatusBarView",
    "TestResultsView",
]
