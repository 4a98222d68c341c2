"""Every answer within a size budget, with a cursor to page on (pure).

An answer is compact JSON (``dumps``). ``BUDGET`` (20,000 characters) bounds the JSON of every
tool answer and every resource read, so the largest schema never floods a context window
(Supabase's ``list_tables`` answered 3 MB on big projects). Lists are cut into pages:
``fit(items, envelope, ...)`` returns the longest run of items from an offset whose answer
(``envelope`` + the items + counts + ``next_cursor``) serialises within the budget.

A cursor is opaque to the client: ``c1.`` + base64url of ``{"v": view, "k": key, "o": offset}``.
``view`` names the list it pages (a cursor of ``list_tables`` is refused by ``query_events``),
``key`` pins what was paged (a schema fingerprint, an event sequence number); a cursor that does
not decode, or belongs to another view, is a ``UsageError`` saying to start again without one.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ctas7_panel.errors import UsageError

BUDGET = 20_000  # characters of JSON per answer
ITEM_BUDGET = 4_000  # one list item (an event, a dead letter) is shrunk to this before paging
_PREFIX = "c1."


def dumps(value: Any) -> str:
    """Compact JSON text (the form whose length the budget counts)."""
    return orjson.dumps(value, default=str).decode()


def size(value: Any) -> int:
    return len(dumps(value))


@dataclass(frozen=True, slots=True)
class Cursor:
    view: str
    key: str
    offset: int

    def encode(self) -> str:
        raw = orjson.dumps({"v": self.view, "k": self.key, "o": self.offset})
        return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, view: str) -> Cursor | None:
    """The cursor a client sent back (None when it sent none)."""
    if text is None or text == "":
        return None
    bad = UsageError(
        f"cursor {text[:40]!r} is not one this server issued for {view}: "
        "call again without a cursor to start from the first page"
    )
    if not text.startswith(_PREFIX) or len(text) > 512:
        raise bad
    body = text[len(_PREFIX) :]
    try:
        obj = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise bad from exc
    if (
        not isinstance(obj, dict)
        or obj.get("v") != view
        or not isinstance(obj.get("k"), str)
        or not isinstance(obj.get("o"), int)
        or obj["o"] < 0
    ):
        raise bad
    return Cursor(view, obj["k"], obj["o"])


def check_key(cursor: Cursor | None, key: str, what: str) -> int:
    """The cursor's offset, after checking it pages the same ``key`` (e.g. fingerprint)."""
    if cursor is None:
        return 0
    if cursor.key != key:
        raise UsageError(
            f"the cursor was issued for {what} {cursor.key[:12]}, which has changed to "
            f"{key[:12]} since: call again without a cursor to start over"
        )
    return cursor.offset


@dataclass(frozen=True, slots=True)
class Page:
    answer: dict[str, Any]
    returned: int
    next_offset: int | None


def fit(
    items: Sequence[Any],
    envelope: Mapping[str, Any],
    *,
    field: str,
    view: str,
    key: str,
    start: int = 0,
    limit: int | None = None,
    budget: int = BUDGET,
    more: bool = False,
) -> Page:
    """The answer holding the longest run of ``items[start:]`` that keeps it within ``budget``.

    The answer is ``{**envelope, field: [...], "total": len(items), "offset": start,
    "next_cursor": ...}``; ``next_cursor`` is None on the last page. ``limit`` caps the items
    per page. ``more`` says there are items beyond ``items`` (a fetch window); the cursor then
    points past the last item even when all of ``items`` fit. An item that cannot fit even
    alone is replaced by a stub saying so (callers shrink items first: ``shrink``).
    """
    cap = len(items) if limit is None else min(len(items), start + max(1, limit))
    worst_cursor = Cursor(view, key, len(items) + 1).encode()
    shell = {**envelope, field: [], "total": len(items), "offset": start, "next_cursor": None}
    used = size(shell) - len("null") + len(worst_cursor) + 2
    chosen: list[Any] = []
    i = start
    while i < cap:
        cost = size(items[i]) + (1 if chosen else 0)
        if used + cost > budget:
            if chosen:
                break
            stub = {"omitted": "this item alone is larger than the answer budget", "index": i}
            chosen.append(stub)
            used += size(stub)
            i += 1
            continue
        chosen.append(items[i])
        used += cost
        i += 1
    has_next = i < len(items) or more
    next_offset = i if has_next else None
    answer = {
        **envelope,
        field: chosen,
        "total": len(items),
        "offset": start,
        "next_cursor": None if next_offset is None else Cursor(view, key, next_offset).encode(),
    }
    return Page(answer, len(chosen), next_offset)


def shrink(value: Any, max_chars: int = ITEM_BUDGET) -> Any:
    """``value`` itself when its JSON fits in ``max_chars``, else a truncated preview of it."""
    text = dumps(value)
    if len(text) <= max_chars:
        return value
    keep = max(0, max_chars - 120)
    return {"truncated": True, "chars": len(text), "preview": text[:keep]}


def char_costs(text: str, *, escaped: bool) -> list[int]:
    """What each character of ``text`` costs: 1, or (``escaped``) its length inside a JSON
    string as ``dumps`` writes it (``"`` and ``\\`` cost 2, a NUL 6, an astral character 1).
    JSON escapes character by character, so a piece costs the sum of its characters' costs."""
    if not escaped:
        return [1] * len(text)
    table: dict[str, int] = {}
    for ch in set(text):
        try:
            table[ch] = len(dumps(ch)) - 2
        except orjson.JSONEncodeError:  # a lone surrogate: what \\uXXXX would take
            table[ch] = 6
    return [table[ch] for ch in text]


def text_pages(text: str, budget: int, *, escaped: bool = False) -> list[tuple[int, int]]:
    """Cut ``text`` into ``(start, end)`` slices that concatenate to ``text`` exactly.

    Each slice costs at most ``budget`` (characters, or with ``escaped`` its length as JSON
    string content: a newline costs two, a NUL six), except a single character that alone
    costs more. A page ends at the last line end that fits (``str.splitlines``' line ends, where
    ``\\r\\n`` is one), and only a line longer than a page is cut inside. Empty text is one
    empty slice. O(n) to prepare, then a binary search per page.
    """
    if budget < 1:
        raise ValueError(f"budget {budget} must be at least 1")
    if not text:
        return [(0, 0)]
    prefix = [0, *itertools.accumulate(char_costs(text, escaped=escaped))]
    line_ends = list(itertools.accumulate(len(line) for line in text.splitlines(keepends=True)))
    out: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        # the furthest end whose piece fits; at least one character
        end = max(start + 1, bisect.bisect_right(prefix, prefix[start] + budget) - 1)
        if end < n:
            i = bisect.bisect_right(line_ends, end) - 1  # the last line end at or before end
            if i >= 0 and line_ends[i] > start:
                end = line_ends[i]
        out.append((start, end))
        start = end
    return out


__all__ = [
    "BUDGET",
    "ITEM_BUDGET",
    "Cursor",
    "Page",
    "char_costs",
    "check_key",
    "decode_cursor",
    "dumps",
    "fit",
    "shrink",
    "size",
    "text_pages",
]
