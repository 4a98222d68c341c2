"""``panel serve ctas7_panel/app.py``: the telemetry dashboard (see ctas7_panel/dashboard/).

Each session passes the dashboard's gate first (``ctas7_panel.dashboard.access``): whatever
``--address`` says, a client not on this machine is refused unless access control is configured.
"""

from __future__ import annotations

import os

import panel as pn

from ctas7_panel.dashboard.access import guarded_app
from ctas7_panel.dashboard.app import pin_local_resources
from ctas7_panel.settings import Settings

pn.extension(notifications=False, design="bootstrap", theme="dark")
pin_local_resources()

guarded_app(Settings.from_env(os.environ), os.environ).servable(title="CTAS-7 Telemetry")
