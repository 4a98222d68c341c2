"""``python -m ctas7_panel`` is the ``ctas7`` command."""

from __future__ import annotations

from ctas7_panel.cli import run

run()
