"""``async with`` for the long-lived services, and the one way they stop their tasks.

The buses, the gateway, the bridge, the dashboard hub, the Legion engine and the neural mux all
open and shut the same way; they inherit the two dunder methods from ``AsyncService`` instead of
each spelling them out. ``cancel_and_wait`` is how a ``close()`` stops its background tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Self


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel every task given (``None`` is skipped), then await each one: a task's
    ``CancelledError`` is swallowed, any other exception it ended with is raised."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class AsyncService:
    """A mixin: ``async with service:`` is ``await service.start()`` … ``await service.close()``.

    A subclass defines ``start`` (idempotent, extra parameters keyword-only with defaults) and
    ``close``; ``close`` runs however the block ends.
    """

    async def start(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define start()")

    async def close(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define close()")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
