"""``store_writer.isolate``: telling one bad event from an outage, pure (no store, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctas7_panel.errors import StoreError, StoreUnavailable
from ctas7_panel.store_writer import isolate


class Table:
    """A toy all-or-nothing table: refuses any write holding a row in ``bad``."""

    def __init__(self, bad: set[int], *, down: bool = False) -> None:
        self.bad = bad
        self.down = down
        self.rows: set[int] = set()
        self.writes = 0

    def write(self, rows: Sequence[int]) -> int:
        self.writes += 1
        if self.down:
            raise StoreError("the table is locked")
        hit = self.bad.intersection(rows)
        if hit:
            raise StoreError(f"cannot store {min(hit)}")
        new = set(rows) - self.rows
        self.rows |= new
        return len(new)

    def check(self) -> None:
        if self.down:
            raise StoreError("the table is locked")


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 600), st.sets(st.integers(0, 599), max_size=5))
def test_every_good_row_is_written_and_only_the_bad_ones_are_refused(n: int, bad: set[int]) -> None:
    table = Table({b for b in bad if b < n})
    rows = list(range(n))
    refused: list[tuple[int, str]] = []
    written = isolate(rows, table.write, table.check, lambda r, why: refused.append((r, why)))
    assert table.rows == set(rows) - table.bad
    assert written == len(table.rows)
    assert sorted(r for r, _ in refused) == sorted(table.bad)
    assert all(reason.startswith("cannot store") for _, reason in refused)
    if not table.bad:
        assert table.writes == 1  # the usual case costs one write


def test_one_bad_row_in_a_thousand_costs_about_two_writes_per_halving() -> None:
    table = Table({777})
    isolate(list(range(1000)), table.write, table.check, lambda r, why: None)
    assert table.writes <= 2 * 11 + 1


def test_an_outage_is_not_mistaken_for_bad_rows() -> None:
    table = Table(set(), down=True)
    with pytest.raises(StoreError, match="locked"):
        isolate(list(range(100)), table.write, table.check, lambda r, why: None)
    assert table.rows == set() and table.writes == 1


def test_a_full_disk_ends_the_search_at_the_first_row_it_cannot_keep_either() -> None:
    """Every write fails but the no-row check passes; keeping the refused row fails too."""
    table = Table(set(range(1000)))

    def keep(row: int, why: str) -> None:
        raise StoreError("database or disk is full")

    with pytest.raises(StoreError, match="full"):
        isolate(list(range(1000)), table.write, table.check, keep)
    assert table.writes <= 2 * 11 + 1  # one halving path, not the whole tree


def test_a_row_that_fails_once_then_passes_is_not_refused() -> None:
    table = Table(set())
    failures = iter([True])  # the first write fails, the try after a passing check does not

    def flaky(rows: Sequence[int]) -> int:
        if next(failures, False):
            raise StoreError("blip")
        return table.write(rows)

    refused: list[int] = []
    written = isolate([5], flaky, table.check, lambda r, why: refused.append(r))
    assert (written, refused, table.rows) == (1, [], {5})


def test_an_error_no_row_is_to_blame_for_is_an_outage_at_once() -> None:
    """A lock timeout, a full disk, a lost connection: no halving, no check."""
    checks: list[int] = []

    def write(rows: Sequence[int]) -> int:
        raise StoreUnavailable("database or disk is full")

    with pytest.raises(StoreUnavailable):
        isolate(list(range(100)), write, lambda: checks.append(1), lambda r, why: None)
    assert checks == []
