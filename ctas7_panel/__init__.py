"""ctas7-panel: keep a Postgres/Supabase schema and everything that depends on it in step.

Subpackages by responsibility: ``schema`` (introspection, fingerprint, typegen, sync),
``bridge`` (routing, transforms, delivery), ``streams`` (buses, gateway), ``dashboard`` (Panel),
``testing`` (schema audit, pytest plugin). Importing this package imports nothing heavy.
"""

from __future__ import annotations

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``ctas7_panel.dashboard`` without importing it first (it is callable: the live
    dashboard in a notebook cell, see ``ctas7_panel.dashboard.show``)."""
    if name == "dashboard":
        import importlib

        return importlib.import_module("ctas7_panel.dashboard")
    raise AttributeError(f"module 'ctas7_panel' has no attribute {name!r}")
