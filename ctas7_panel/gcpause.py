"""``gc_paused()``: no cyclic garbage collection while building large acyclic structures.

Introspection, generation and the snapshot allocate tens of thousands of objects that form
no reference cycles (rows, model values, dicts, lines); the collector would only rescan the
growing heap over and over (a quarter of the snapshot's time on big_1000, ~60 ms of a
``ctas7 schema typegen`` process). Reference counting still frees everything as usual; the
collector's previous state is restored on exit, so nesting and callers that disabled it
themselves are respected.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block, then restore its previous state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
