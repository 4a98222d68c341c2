"""The live telemetry dashboard (Panel).

Served: ``panel serve ctas7_panel/app.py`` (``scripts/run-app.sh``) or ``ctas7 serve``.
In a notebook, one line in a cell shows the same live dashboard as the cell's output::

    import ctas7_panel; ctas7_panel.dashboard()

``ctas7_panel.dashboard(...)`` is ``ctas7_panel.dashboard.show(...)`` (this module is callable).
Importing it imports nothing heavy; Panel is loaded by the call.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctas7_panel.settings import Settings


def show(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """The live dashboard for a notebook cell (return it as the cell's value).

    The same dashboard ``panel serve ctas7_panel/app.py`` serves, fed by this kernel's runtime
    (started when a page first shows the output, so a headless run such as nbmake starts
    nothing; stopped when the kernel exits), configured from ``environ``
    (default: the kernel's environment) as the app is: with nothing set, the embedded
    PostgreSQL in ``./.ctas7`` and the demo activity. Two differences keep it from colliding
    with an app running on the same machine: the websocket gateway takes a free port unless
    ``CTAS7_GATEWAY_PORT`` says otherwise, and Panel's JavaScript is put into the notebook
    itself (``inline``) and its stylesheets come from the Jupyter server, so the dashboard
    works offline. Panel's widgets in this notebook use its dark theme from then on. Later
    calls reuse the runtime.
    """
    import os

    import panel as pn

    from ctas7_panel.dashboard.app import Dashboard, get_hub

    env = dict(os.environ if environ is None else environ)
    env.setdefault("CTAS7_GATEWAY_PORT", "0")
    if "ctas7.notebook.loaded" not in pn.state.cache:
        pn.extension(inline=True, notifications=False, design="bootstrap", theme="dark")
        pn.state.cache["ctas7.notebook.loaded"] = True
    # the runtime starts when a page shows the output (not when a notebook runs headless)
    return Dashboard(get_hub(settings, env, start=False))


class _CallableModule(types.ModuleType):
    """Lets ``ctas7_panel.dashboard()`` stand for ``ctas7_panel.dashboard.show()``."""

    def __call__(
        self, settings: Settings | None = None, environ: Mapping[str, str] | None = None
    ) -> Any:
        return show(settings, environ)


sys.modules[__name__].__class__ = _CallableModule
