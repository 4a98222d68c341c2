"""docs/events.md stays true: its examples equal what the transforms produce."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from ctas7_panel.bridge.transforms import GENERIC, PREFIX_TRANSFORMS, TRANSFORMS, transform_for
from ctas7_panel.events import Event

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"
BLOCK = re.compile(r"^```json (\w+)\n(.*?)^```", re.S | re.M)


def sections() -> list[tuple[str, list[tuple[str, object]]]]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### `([^`]+)`\n", text, flags=re.M)[1:]
    out = []
    for title, body in zip(parts[::2], parts[1::2], strict=True):
        out.append((title, [(m[1], orjson.loads(m[2])) for m in BLOCK.finditer(body)]))
    return out


def test_every_example_equals_the_transform_output() -> None:
    checked = 0
    for title, blocks in sections():
        assert blocks[0][0] == "event", title
        event = Event.from_dict(blocks[0][1])
        assert event.event_type == title
        assert len(blocks) > 1, f"{title}: no target example"
        for target, expected in blocks[1:]:
            got = transform_for(target, event.event_type)(event)
            assert got == expected, f"docs/events.md: {title} -> {target} is out of date"
            checked += 1
    assert checked >= 20


def test_every_transform_is_documented() -> None:
    used = set()
    for _, blocks in sections():
        event = Event.from_dict(blocks[0][1])
        used.update(transform_for(t, event.event_type) for t, _ in blocks[1:])
    every = {*TRANSFORMS.values(), *PREFIX_TRANSFORMS.values(), *GENERIC.values()}
    missing = sorted(f.__name__ for f in every - used)
    assert not missing, f"undocumented transforms: {missing}"
