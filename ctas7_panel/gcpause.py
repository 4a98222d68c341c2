"""``gc_paused()``: no cyclic garbage collection while building large acyclic structures.

Introspection, generation, the snapshot and Legion's parse of a snapshot file allocate tens of
thousands of objects that form no reference cycles (rows, model values, dicts, lines); the
collector would only rescan the growing heap over and over (a quarter of the snapshot's time on
big_1000, ~60 ms of a ``ctas7 schema typegen`` process; several collections walking the previous
registry during a Legion reload). Reference counting still frees everything as usual.

The pause is process-wide and counted: nested and concurrent uses (threads: a reload in a worker
thread while the schema watcher generates types in another) keep the collector off until the
last one leaves, and only then turn it back on. A collector already disabled by someone else
when the first pause begins is left disabled.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0  # pauses in progress that this module turned the collector off for


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (see the module docstring)."""
    global _pauses
    with _lock:
        if _pauses:
            _pauses += 1
        elif gc.isenabled():
            gc.disable()
            _pauses = 1
    try:
        yield
    finally:
        with _lock:
            if _pauses:
                _pauses -= 1
                if _pauses == 0:
                    gc.enable()
