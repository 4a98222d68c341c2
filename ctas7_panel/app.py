"""``panel serve ctas7_panel/app.py``: the telemetry dashboard (see ctas7_panel/dashboard/)."""

from __future__ import annotations

import os

import panel as pn

from ctas7_panel.dashboard.app import create_app, pin_local_resources
from ctas7_panel.settings import Settings

pn.extension("tabulator", notifications=False, design="bootstrap")
pin_local_resources()

create_app(Settings.from_env(os.environ), os.environ).servable()
