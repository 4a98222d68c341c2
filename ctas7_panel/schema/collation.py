"""Locale-independent string ordering: the Unicode Collation Algorithm, root order.

Supabase's generator sorts names with JavaScript's ``a.localeCompare(b)`` in a process without
``LANG``, i.e. ICU's root collation at tertiary strength: letters compare case-insensitively
first and lowercase sorts before uppercase on a tie (``a < A < b``), accents are secondary
(``eclair < Eclair < éclair``), punctuation is not ignored (``"a b" < "a_b" < "a-b" < "ab"``),
digits are not numeric (``a1 < a10 < a2``).

``sort_key(text)`` returns a key with that order. Plain ASCII text (nearly every identifier)
is keyed from a built-in table of DUCET weights with two ``str.translate`` calls; anything
else goes through ``pyuca`` (pure Python, UCA 10.0.0 tables), loaded lazily on first use
because reading its table costs ~0.15 s. Both paths produce the same key shape
``(primaries, secondaries, tertiaries)`` as strings of weights, so keys of either kind compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

T = TypeVar("T")
SortKey = tuple[str, str, str]

# DUCET (UCA 10.0.0) primary weight of every ASCII character that is not fully ignorable;
# tertiary weight is 8 for A-Z and 2 otherwise; secondary is 32 for all of them.
_ASCII_PRIMARY: dict[int, int] = {
    9: 513, 10: 514, 11: 515, 12: 516, 13: 517, 32: 521, 33: 609, 34: 781, 35: 921,
    36: 7287, 37: 922, 38: 919, 39: 774, 40: 792, 41: 793, 42: 912, 43: 1580, 44: 546,
    45: 525, 46: 632, 47: 917, 48: 7331, 49: 7332, 50: 7333, 51: 7334, 52: 7335, 53: 7336,
    54: 7337, 55: 7338, 56: 7339, 57: 7340, 58: 570, 59: 564, 60: 1584, 61: 1585, 62: 1586,
    63: 615, 64: 911, 91: 794, 92: 918, 93: 795, 94: 1179, 95: 523, 96: 1176, 123: 796,
    124: 1588, 125: 797, 126: 1590,
    **{ord(c): w for c, w in zip("abcdefghijklmnopqrstuvwxyz", (
        7341, 7366, 7392, 7413, 7440, 7499, 7514, 7550, 7576, 7602, 7627, 7645, 7696,
        7711, 7747, 7794, 7815, 7833, 7895, 7931, 7963, 8009, 8027, 8037, 8049, 8071,
    ), strict=True)},
}  # fmt: skip
for _c in range(ord("A"), ord("Z") + 1):
    _ASCII_PRIMARY[_c] = _ASCII_PRIMARY[_c + 32]

_PRIMARY_TABLE: dict[int, str | None] = {
    i: (chr(_ASCII_PRIMARY[i]) if i in _ASCII_PRIMARY else None) for i in range(128)
}
_SECONDARY_TABLE: dict[int, str | None] = {
    i: (chr(32) if i in _ASCII_PRIMARY else None) for i in range(128)
}
_TERTIARY_TABLE: dict[int, str | None] = {
    i: (chr(8 if 65 <= i <= 90 else 2) if i in _ASCII_PRIMARY else None) for i in range(128)
}


@lru_cache(maxsize=1)
def _pyuca() -> Any:
    from pyuca.collator import Collator_10_0_0

    return Collator_10_0_0()


def _uca_key(text: str) -> SortKey:
    weights: tuple[int, ...] = _pyuca().sort_key(text)
    levels: list[list[int]] = [[], [], []]
    level = 0
    for weight in weights:
        if weight == 0:
            level += 1
            if level == 3:
                break
            continue
        levels[level].append(weight)
    return (
        "".join(map(chr, levels[0])),
        "".join(map(chr, levels[1])),
        "".join(map(chr, levels[2])),
    )


@lru_cache(maxsize=65536)
def sort_key(text: str) -> SortKey:
    """A key ordering ``text`` as ICU's root collation (tertiary strength) does."""
    if text.isascii():
        return (
            text.translate(_PRIMARY_TABLE),
            text.translate(_SECONDARY_TABLE),
            text.translate(_TERTIARY_TABLE),
        )
    return _uca_key(text)


def compare(a: str, b: str) -> int:
    """``a.localeCompare(b)`` in the root locale: negative, zero or positive."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def sorted_by(items: Iterable[T], name: Callable[[T], str]) -> list[T]:
    """``items`` sorted by ``name(item)`` in collation order; ties keep their input order."""
    return sorted(items, key=lambda item: sort_key(name(item)))


def sorted_names(names: Iterable[str]) -> list[str]:
    """Names in collation order."""
    return sorted(names, key=sort_key)
