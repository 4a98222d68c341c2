"""Pages and cursors: every answer within the budget, nothing lost or repeated, bad cursors
refused with a clear message."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ctas7_panel.errors import UsageError
from ctas7_panel.mcp.budget import (
    Cursor,
    check_key,
    decode_cursor,
    dumps,
    fit,
    shrink,
    text_pages,
)

ITEM = st.dictionaries(st.sampled_from("abcdef"), st.text(max_size=300), max_size=4)


@given(items=st.lists(ITEM, max_size=80), budget=st.integers(400, 3000))
def test_pages_fit_the_budget_and_cover_every_item_once(items: list[dict], budget: int) -> None:
    seen: list[dict] = []
    start = 0
    for _ in range(len(items) + 2):
        page = fit(items, {"hash": "h"}, field="x", view="v", key="k", start=start, budget=budget)
        assert len(dumps(page.answer)) <= budget
        seen += page.answer["x"]
        if page.next_offset is None:
            break
        cursor = decode_cursor(page.answer["next_cursor"], "v")
        assert cursor is not None
        start = check_key(cursor, "k", "schema")
        assert start == page.next_offset
    assert len(seen) == len(items)
    for got, want in zip(seen, items, strict=True):
        assert got == want or (set(got) == {"omitted", "index"} and len(dumps(want)) > budget // 2)


def test_an_item_too_big_for_any_page_becomes_a_stub() -> None:
    page = fit([{"t": "x" * 5000}], {}, field="x", view="v", key="k", budget=1000)
    assert page.answer["x"] == [
        {"omitted": "this item alone is larger than the answer budget", "index": 0}
    ]
    assert page.answer["next_cursor"] is None


def test_limit_and_more() -> None:
    page = fit(list(range(10)), {}, field="x", view="v", key="k", limit=3)
    assert page.answer["x"] == [0, 1, 2] and page.next_offset == 3
    page = fit([1], {}, field="x", view="v", key="k", more=True)
    assert page.answer["next_cursor"] is not None


@pytest.mark.parametrize("bad", ["junk", "c1.", "c1.!!!", "c1." + "A" * 600])
def test_bad_cursors_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="call again without a cursor"):
        decode_cursor(bad, "list_tables")


def test_a_cursor_of_another_view_or_an_old_schema_is_refused() -> None:
    text = Cursor("list_tables", "abc123", 5).encode()
    with pytest.raises(UsageError, match="not one this server issued for query_events"):
        decode_cursor(text, "query_events")
    cursor = decode_cursor(text, "list_tables")
    with pytest.raises(UsageError, match="has changed to def456"):
        check_key(cursor, "def456", "schema")
    assert decode_cursor(None, "x") is None and decode_cursor("", "x") is None


def test_shrink_keeps_small_values_and_previews_big_ones() -> None:
    assert shrink({"a": 1}) == {"a": 1}
    big = shrink({"a": "x" * 10_000}, 1000)
    assert big["truncated"] is True and big["chars"] > 10_000 and len(dumps(big)) <= 1000


TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from('ab"\n\r\\\té\x00\x1f\x7f\u2028\U0001f600'),
        st.characters(codec="utf-8"),  # any character a types file can hold
    ),
    max_size=400,
)


def piece_cost(piece: str, escaped: bool) -> int:
    return len(dumps(piece)) - 2 if escaped else len(piece)


@given(text=TEXT, budget=st.integers(1, 60))
@example(text="\\\\aa", budget=3)  # found by Hypothesis: a cut guessed from the average cost
@example(text="\x00" * 5 + "a\r\nb", budget=6)
@example(text="\U0001f600" * 10, budget=2)
@example(text="", budget=1)
def test_text_pages_reassemble_exactly(text: str, budget: int) -> None:
    for escaped in (False, True):
        slices = text_pages(text, budget, escaped=escaped)
        assert "".join(text[a:b] for a, b in slices) == text
        assert slices[0][0] == 0 and all(a < b for a, b in slices if text)
        for (_, b), (a, _) in itertools.pairwise(slices):
            assert a == b  # contiguous: nothing lost or repeated
        for a, b in slices:
            # within the budget; only one character alone may cost more (a NUL costs 6)
            assert piece_cost(text[a:b], escaped) <= budget or b - a == 1


@given(text=TEXT, budget=st.integers(1, 60))
def test_text_pages_end_at_a_line_end_or_full(text: str, budget: int) -> None:
    """A page stops early only at a line end; elsewhere the next character would not fit."""
    line_ends = set(itertools.accumulate(len(x) for x in text.splitlines(keepends=True)))
    for escaped in (False, True):
        for a, b in text_pages(text, budget, escaped=escaped)[:-1]:
            assert b in line_ends or piece_cost(text[a : b + 1], escaped) > budget


def test_text_pages_cut_at_line_ends() -> None:
    text = "one\ntwo\nthree\n"
    assert text_pages(text, 9) == [(0, 8), (8, 14)]  # "one\ntwo\n" then "three\n"
    assert text_pages("abcdef", 4) == [(0, 4), (4, 6)]  # one long line is cut inside
    assert text_pages("a\nb", 3, escaped=True) == [(0, 2), (2, 3)]  # "a\\n" costs 3 of 4
    with pytest.raises(ValueError, match="budget 0"):
        text_pages("a", 0)
