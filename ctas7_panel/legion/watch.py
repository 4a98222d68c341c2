"""Watching the schema artifacts on disk (watchfiles), so another process's sync reloads Legion.

``artifact_hash`` says which schema the files on disk describe: the hash cache's fingerprint,
else the SHA-256 of the snapshot's bytes. ``watch_artifacts`` calls ``on_change`` (debounced)
whenever one of the watched files is written, created or replaced, until ``stop`` is set; it never
swallows ``CancelledError``. Errors of ``on_change`` are logged and watching goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import watchfiles

from ctas7_panel.schema.artifacts import file_sha256, read_hash_cache

log = logging.getLogger(__name__)


def artifact_hash(hash_cache_path: Path, snapshot_path: Path) -> str | None:
    """The fingerprint in the hash cache, else ``sha256:<hex>`` of the snapshot, else None."""
    cached = read_hash_cache(hash_cache_path)
    if cached.ok:
        return str(cached.value)
    digest = file_sha256(snapshot_path)
    return f"sha256:{digest}" if digest else None


async def watch_artifacts(
    paths: Iterable[Path],
    on_change: Callable[[set[Path]], Awaitable[None]],
    *,
    stop: asyncio.Event,
    debounce_ms: int = 50,
    ready: asyncio.Event | None = None,
) -> None:
    """Watch the directories of ``paths`` (not recursively) and report changes to those files."""
    targets = {p.resolve() for p in paths}
    dirs = sorted({p.parent for p in targets})
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)

    def wanted(change: watchfiles.Change, path: str) -> bool:
        return Path(path) in targets

    if ready is not None:
        ready.set()
    async for changes in watchfiles.awatch(
        *dirs,
        watch_filter=wanted,
        stop_event=stop,
        debounce=debounce_ms,
        step=min(debounce_ms, 50),
        recursive=False,
        yield_on_timeout=False,
    ):
        changed = {Path(p) for _, p in changes}
        try:
            await on_change(changed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("legion: reload after a change of %s failed", sorted(map(str, changed)))
