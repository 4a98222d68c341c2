"""ctas7-panel: keep a Postgres/Supabase schema and everything that depends on it in step.

Subpackages by responsibility: ``schema`` (introspection, fingerprint, typegen, sync),
``bridge`` (routing, transforms, delivery), ``streams`` (buses, gateway), ``dashboard`` (Panel),
``testing`` (schema audit, pytest plugin). Importing this package imports nothing heavy.
"""

from __future__ import annotations

__version__ = "0.1.0"
