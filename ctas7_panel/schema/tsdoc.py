"""A small subset of prettier 3.5: its document printer and its TypeScript string rules.

Supabase's generator builds a TypeScript source string and runs it through
``prettier.format(src, {parser: "typescript", semi: false})``. This module reproduces what
that does to the few constructs the generator emits:

- ``Doc`` values and ``print_doc`` are prettier's document IR and line-fitting printer
  (``group``/``indent``/``align``/``line``/``softline``/``hardline``/``ifBreak``), width 80.
- ``string_width`` is prettier's ``getStringWidth`` (CJK and emoji count 2, combining
  marks and control characters 0).
- ``ts_string`` re-quotes a JSON string the way prettier prints a string literal (double
  quotes unless the text holds more ``"`` than ``'``); ``ts_key`` prints an object key,
  unquoted only when it is an ES5 IdentifierName (``quoteProps: "as-needed"``).

Everything here is pure.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

PRINT_WIDTH = 80

# --------------------------------------------------------------------------- strings


_EMOJI_PATTERN = (
    "(?:[\U0001f1e6-\U0001f1ff]{2})"  # flags
    "|(?:[#*0-9]\ufe0f?\u20e3)"  # keycaps
    "|(?:[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff]\ufe0f?[\U0001f3fb-\U0001f3ff]?"
    "(?:\u200d[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff]\ufe0f?[\U0001f3fb-\U0001f3ff]?)+)"
    "|(?:[\U0001f000-\U0001faff][\U0001f3fb-\U0001f3ff])"
    "|(?:[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff]\ufe0f)"
)


@lru_cache(maxsize=1)
def _emoji_sequence() -> re.Pattern[str]:
    """Compiled on first use (~3 ms): only names with non-ASCII characters need it."""
    return re.compile(_EMOJI_PATTERN)


@lru_cache(maxsize=65536)
def string_width(text: str) -> int:
    """Columns ``text`` takes in prettier's measure (``getStringWidth``)."""
    if text.isascii():
        return len(text)
    text = _emoji_sequence().sub("  ", text)
    width = 0
    for char in text:
        code = ord(char)
        if code <= 0x1F or 0x7F <= code <= 0x9F or 0x300 <= code <= 0x36F:
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("F", "W") else 1
    return width


_PLAIN_STRING = re.compile(r"[ !#-&(-\[\]-~]*")


@lru_cache(maxsize=65536)
def ts_string(value: str) -> str:
    """``value`` as prettier prints the literal ``JSON.stringify(value)``."""
    if _PLAIN_STRING.fullmatch(value):  # printable ASCII without quotes or backslashes
        return '"' + value + '"'
    raw = json.dumps(value, ensure_ascii=False)[1:-1]
    doubles = value.count('"')
    singles = value.count("'")
    if doubles > singles:
        return "'" + raw.replace('\\"', '"').replace("'", "\\'") + "'"
    return '"' + raw + '"'


_ASCII_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ID_START_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl"})
_ID_PART_CATEGORIES = _ID_START_CATEGORIES | {"Mn", "Mc", "Nd", "Pc"}


@lru_cache(maxsize=65536)
def is_es5_identifier(name: str) -> bool:
    """Whether ``name`` is an ES5 IdentifierName (reserved words included)."""
    if not name:
        return False
    if name.isascii():
        return _ASCII_IDENTIFIER.fullmatch(name) is not None
    first = name[0]
    if first not in "$_" and unicodedata.category(first) not in _ID_START_CATEGORIES:
        return False
    return all(
        ch in "$_\u200c\u200d" or unicodedata.category(ch) in _ID_PART_CATEGORIES for ch in name[1:]
    )


@lru_cache(maxsize=65536)
def ts_key(name: str) -> str:
    """An object key as prettier prints ``JSON.stringify(name)`` with quoteProps as-needed."""
    if is_es5_identifier(name):
        return name
    return ts_string(name)


# --------------------------------------------------------------------------- documents


@dataclass(slots=True)
class Group:
    contents: Doc
    should_break: bool = False


@dataclass(frozen=True, slots=True)
class Indent:
    contents: Doc


@dataclass(frozen=True, slots=True)
class Align:
    width: int
    contents: Doc


@dataclass(frozen=True, slots=True)
class Line:
    soft: bool = False
    hard: bool = False


@dataclass(frozen=True, slots=True)
class IfBreak:
    break_contents: Doc
    flat_contents: Doc = ""


@dataclass(slots=True)
class Concat:
    parts: list[Doc] = field(default_factory=list)


Doc = str | Group | Indent | Align | Line | IfBreak | Concat | list[Any]

LINE = Line()
SOFTLINE = Line(soft=True)
HARDLINE = Line(hard=True)


def join(separator: Doc, docs: Sequence[Doc]) -> list[Doc]:
    out: list[Doc] = []
    for i, doc in enumerate(docs):
        if i:
            out.append(separator)
        out.append(doc)
    return out


def propagate_breaks(doc: Doc) -> bool:
    """Mark every group that contains a hard line as broken; return whether ``doc`` has one."""
    if isinstance(doc, str):
        return False
    if isinstance(doc, list):
        found = False
        for part in doc:
            found = propagate_breaks(part) or found
        return found
    if isinstance(doc, Concat):
        return propagate_breaks(doc.parts)
    if isinstance(doc, Group):
        inner = propagate_breaks(doc.contents)
        if inner:
            doc.should_break = True
        return inner or doc.should_break
    if isinstance(doc, Indent | Align):
        return propagate_breaks(doc.contents)
    if isinstance(doc, Line):
        return doc.hard
    if isinstance(doc, IfBreak):
        a = propagate_breaks(doc.break_contents)
        b = propagate_breaks(doc.flat_contents)
        return a or b
    raise TypeError(f"unknown doc node {doc!r}")


_BREAK = 1
_FLAT = 0


def _fits(
    next_cmd: tuple[int, int, Doc],
    rest: list[tuple[int, int, Doc]],
    width: int,
) -> bool:
    rest_idx = len(rest)
    cmds = [next_cmd]
    while width >= 0:
        if not cmds:
            if rest_idx == 0:
                return True
            rest_idx -= 1
            cmds.append(rest[rest_idx])
            continue
        ind, mode, doc = cmds.pop()
        if isinstance(doc, str):
            width -= string_width(doc)
        elif isinstance(doc, list):
            for part in reversed(doc):
                cmds.append((ind, mode, part))
        elif isinstance(doc, Concat):
            for part in reversed(doc.parts):
                cmds.append((ind, mode, part))
        elif isinstance(doc, Indent | Align):
            cmds.append((ind, mode, doc.contents))
        elif isinstance(doc, Group):
            cmds.append((ind, _BREAK if doc.should_break else mode, doc.contents))
        elif isinstance(doc, IfBreak):
            contents = doc.break_contents if mode == _BREAK else doc.flat_contents
            if contents:
                cmds.append((ind, mode, contents))
        elif isinstance(doc, Line):
            if mode == _BREAK or doc.hard:
                return True
            if not doc.soft:
                width -= 1
    return False


def print_doc(doc: Doc, *, indent: int = 0, column: int | None = None) -> str:
    """Print ``doc`` as prettier does, the first line starting at ``column`` (default ``indent``).

    ``indent`` is the indentation that line breaks return to; the caller has already written
    the first line's indentation (so the result has none at its start).
    """
    propagate_breaks(doc)
    out: list[str] = []
    pos = indent if column is None else column
    cmds: list[tuple[int, int, Doc]] = [(indent, _BREAK, doc)]
    while cmds:
        ind, mode, node = cmds.pop()
        if isinstance(node, str):
            out.append(node)
            pos += string_width(node)
        elif isinstance(node, list):
            for part in reversed(node):
                cmds.append((ind, mode, part))
        elif isinstance(node, Concat):
            for part in reversed(node.parts):
                cmds.append((ind, mode, part))
        elif isinstance(node, Indent):
            cmds.append((ind + 2, mode, node.contents))
        elif isinstance(node, Align):
            cmds.append((ind + node.width, mode, node.contents))
        elif isinstance(node, Group):
            if mode == _FLAT and not node.should_break:
                cmds.append((ind, _FLAT, node.contents))
            else:
                flat = (ind, _FLAT, node.contents)
                if not node.should_break and _fits(flat, cmds, PRINT_WIDTH - pos):
                    cmds.append(flat)
                else:
                    cmds.append((ind, _BREAK, node.contents))
        elif isinstance(node, IfBreak):
            contents = node.break_contents if mode == _BREAK else node.flat_contents
            if contents:
                cmds.append((ind, mode, contents))
        elif isinstance(node, Line):
            if mode == _FLAT and not node.hard:
                if not node.soft:
                    out.append(" ")
                    pos += 1
                continue
            # trim trailing whitespace, then break
            while out and out[-1].endswith((" ", "\t")):
                trimmed = out[-1].rstrip(" \t")
                pos -= len(out[-1]) - len(trimmed)
                if trimmed:
                    out[-1] = trimmed
                    break
                out.pop()
            out.append("\n" + " " * ind)
            pos = ind
    return "".join(out)
