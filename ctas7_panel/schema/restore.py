"""Artifact restore: put back what the last sync pass wrote when a file was edited or deleted.

``restore_artifacts(expected)`` compares each file with the bytes the last pass wrote and
rewrites (atomically) those that differ; it returns one ``(path, change, error)`` per file it
found changed (``change``: ``modified`` or ``deleted``; ``error``: None when restored, else why
not). The watcher calls it (through ``SchemaSyncNode.restore_artifacts_blocking``) when
watchfiles reports a change, under the node's lock, in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ctas7_panel.errors import Ctas7Error
from ctas7_panel.schema import artifacts


def restore_artifacts(expected: Mapping[Path, bytes]) -> list[tuple[Path, str, str | None]]:
    """Rewrite every file whose bytes differ from ``expected``; what changed and how it went."""
    out: list[tuple[Path, str, str | None]] = []
    for path, data in list(expected.items()):
        try:
            current: bytes | None = path.read_bytes()
        except OSError:
            current = None
        if current == data:
            continue
        change = "deleted" if current is None else "modified"
        try:
            artifacts.atomic_write(path, data)
        except Ctas7Error as exc:
            out.append((path, change, str(exc)))
            continue
        out.append((path, change, None))
    return out
