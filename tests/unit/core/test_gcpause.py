"""The one GC pause: off inside, back on after the last of nested or concurrent pauses."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from ctas7_panel.gcpause import gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_off_inside_on_after_also_after_an_error() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_nested_pauses_end_with_the_outer_one() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_concurrent_pauses_keep_it_off_until_the_last_leaves() -> None:
    a_in, a_may_leave, a_left = (threading.Event() for _ in range(3))
    seen: list[bool] = []

    def a() -> None:
        with gc_paused():
            a_in.set()
            a_may_leave.wait(10)
        a_left.set()

    t = threading.Thread(target=a)
    t.start()
    assert a_in.wait(10)
    with gc_paused():  # b, entered while a is paused
        a_may_leave.set()
        assert a_left.wait(10)
        seen.append(gc.isenabled())  # a left first: still off for b
    t.join(10)
    assert seen == [False] and gc.isenabled()
