"""Writing a batch of feed frames to many websocket connections: the one module that relies on
websockets' connection internals beyond its public ``send``.

websockets' public ``broadcast()`` writes one message per call (one system call per message
per client) and lets a slow client's write buffer grow without bound. A feed sends batches: each
batch is encoded once and written to each client in one write per chunk, and a client whose
write buffer is over the limit is reported (the gateway closes it). For that this module uses
``ServerConnection.transport``, ``.protocol`` (``state``, ``extensions``, ``send_text``),
``.send_in_progress``, ``.send_data()`` and ``websockets.frames.Frame.serialize``: what
``broadcast()`` itself uses, plus the transport. They are stable over ``TESTED`` (pyproject
pins websockets to that range), and ``tests/unit/core/test_fanout.py`` checks each of them on
the installed version, so an upgrade that moves them fails the suite, not a running gateway.

``write(conn, messages, encoded, limit)`` returns what happened (``Outcome``); it never raises.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

TESTED = ((13, 0), (18, 0))  # websockets >= 13.0, < 18.0 (pyproject.toml)


class Outcome(enum.Enum):
    """What ``write`` did with one connection."""

    SENT = "sent"
    GONE = "gone"  # its transport is closed: drop it
    SLOW = "slow"  # its write buffer is over the limit: close it (slow consumer)
    NOT_OPEN = "not_open"  # the closing handshake is in progress: skipped
    BUSY = "busy"  # a fragmented message is being sent on it: skipped
    FAILED = "failed"  # the write raised: skipped


def encode(messages: Sequence[bytes]) -> bytes:
    """The text frames of ``messages`` (unmasked, as a server sends them), concatenated."""
    from websockets.frames import Frame, Opcode

    return b"".join(Frame(Opcode.TEXT, data).serialize(mask=False) for data in messages)


def write(
    conn: ServerConnection,
    messages: Sequence[bytes],
    encoded: Callable[[], bytes],
    limit: int,
) -> Outcome:
    """Write ``messages`` (text frames, in order) to ``conn`` in one write; ``encoded()`` gives
    their frames (computed once by the caller for all connections). A connection that
    negotiated an extension (permessage-deflate) gets them through its own protocol."""
    from websockets.protocol import State

    transport = conn.transport
    if transport is None or transport.is_closing():
        return Outcome.GONE
    if transport.get_write_buffer_size() > limit:
        return Outcome.SLOW
    protocol = conn.protocol
    if protocol.state is not State.OPEN:
        return Outcome.NOT_OPEN
    if getattr(conn, "send_in_progress", None):
        return Outcome.BUSY
    try:
        if protocol.extensions:
            for data in messages:
                protocol.send_text(data)
            conn.send_data()
        else:
            transport.write(encoded())
    except Exception:  # a connection going away is not the feed's problem
        return Outcome.FAILED
    return Outcome.SENT


def version_tested(version: str) -> bool:
    """True when websockets ``version`` is in ``TESTED``."""
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    low, high = TESTED
    return low <= parts < high
