"""Schema introspection, fingerprint, TypeScript generation, diff and sync.

Public API (imported lazily, so ``import ctas7_panel.schema`` stays cheap):

- ``TypegenOptions``                      (``ctas7_panel.schema.options``)
- ``introspect(conn, options) -> Catalog`` (``ctas7_panel.schema.introspect``)
- ``generate_typescript(catalog, options) -> str``  (``ctas7_panel.schema.typegen``)
- ``to_snapshot``, ``canonical_json``, ``fingerprint``, ``types_hash``, ``load_snapshot``
                                          (``ctas7_panel.schema.snapshot``)
- ``diff_snapshots(old, new) -> SchemaDiff`` (``ctas7_panel.schema.diff``)
- ``inspect_database(url, options) -> SchemaState`` (``ctas7_panel.schema.state``)
- ``Catalog`` and the other frozen model classes (``ctas7_panel.schema.model``)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ctas7_panel.schema.diff import SchemaDiff, diff_snapshots
    from ctas7_panel.schema.introspect import introspect
    from ctas7_panel.schema.model import Catalog
    from ctas7_panel.schema.options import TypegenOptions
    from ctas7_panel.schema.snapshot import (
        canonical_json,
        fingerprint,
        load_snapshot,
        to_snapshot,
        types_hash,
    )
    from ctas7_panel.schema.state import SchemaState, inspect_database
    from ctas7_panel.schema.typegen import generate_typescript

_EXPORTS = {
    "TypegenOptions": "options",
    "Catalog": "model",
    "introspect": "introspect",
    "generate_typescript": "typegen",
    "to_snapshot": "snapshot",
    "canonical_json": "snapshot",
    "fingerprint": "snapshot",
    "types_hash": "snapshot",
    "load_snapshot": "snapshot",
    "diff_snapshots": "diff",
    "SchemaDiff": "diff",
    "inspect_database": "state",
    "SchemaState": "state",
}

__all__ = [
    "Catalog",
    "SchemaDiff",
    "SchemaState",
    "TypegenOptions",
    "canonical_json",
    "diff_snapshots",
    "fingerprint",
    "generate_typescript",
    "inspect_database",
    "introspect",
    "load_snapshot",
    "to_snapshot",
    "types_hash",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ctas7_panel.schema' has no attribute {name!r}")
    return getattr(importlib.import_module(f"ctas7_panel.schema.{module}"), name)
