"""``async with`` for the long-lived services: ``start()`` on entry, ``close()`` on exit.

The buses, the gateway, the bridge, the dashboard hub, the Legion engine and the neural mux all
open and shut the same way; they inherit the two dunder methods from ``AsyncService`` instead of
each spelling them out.
"""

from __future__ import annotations

from typing import Self


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
