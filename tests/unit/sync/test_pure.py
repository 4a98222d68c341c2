"""The pure cores of the Schema Sync Node: debounce, the pass decision (backoff: test_backoff)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ctas7_panel.schema.decision import Observed, ProbeMark, decide, verified_by_probe
from ctas7_panel.schema.snapshot_file import SnapshotRecord
from ctas7_panel.schema.watch import Debouncer

FP_OLD = "a" * 64
FP_NEW = "b" * 64
TYPES = "c" * 64


def record(fp: str = FP_OLD, types_hash: str = TYPES, generator: str = "builtin") -> SnapshotRecord:
    return SnapshotRecord(fp, types_hash, generator, 7, {"tables": []})


def observed(
    cached: str | None = FP_OLD,
    cache_problem: str | None = None,
    rec: SnapshotRecord | None = None,
    rec_problem: str | None = None,
    types_sha: str | None = TYPES,
    *,
    no_record: bool = False,
) -> Observed:
    return Observed(
        cached, cache_problem, None if no_record else (rec or record()), rec_problem, types_sha
    )


# --- debouncer ---------------------------------------------------------------------------------


def test_debouncer_waits_for_quiet() -> None:
    d = Debouncer(quiet=0.1, max_wait=1.0)
    assert d.deadline() is None and not d.due(100.0)
    d.note(10.0)
    assert d.deadline() == pytest.approx(10.1)
    d.note(10.05)
    assert not d.due(10.1)
    assert d.due(10.15)


def test_debouncer_fires_at_max_wait_during_a_long_burst() -> None:
    d = Debouncer(quiet=0.1, max_wait=0.5)
    t = 0.0
    while t < 0.49:
        d.note(t)
        t += 0.05
    assert d.due(0.5)
    d.reset()
    assert not d.pending and d.deadline() is None


def test_debouncer_max_wait_is_never_below_quiet() -> None:
    d = Debouncer(quiet=0.3, max_wait=0.1)
    d.note(0.0)
    assert d.deadline() == pytest.approx(0.3)


# --- decide ------------------------------------------------------------------------------------


def test_everything_agrees_is_unchanged() -> None:
    decision = decide(FP_OLD, "builtin", observed())
    assert decision.action == "unchanged"
    assert decision.old_hash == FP_OLD


def test_new_fingerprint_regenerates_with_old_hash() -> None:
    decision = decide(FP_NEW, "builtin", observed())
    assert decision.action == "regenerate"
    assert decision.reasons == ("schema changed",)
    assert decision.old_hash == FP_OLD


@pytest.mark.parametrize("problem", ["missing", "empty", "corrupt: 'zz' is not a hex fingerprint"])
def test_unknown_hash_cache_regenerates_and_says_why(problem: str) -> None:
    decision = decide(FP_OLD, "builtin", observed(cached=None, cache_problem=problem))
    assert decision.action == "regenerate"
    assert decision.old_hash is None
    assert decision.reasons == (f"hash cache {problem}",)


def test_unknown_snapshot_regenerates_even_when_the_hash_matches() -> None:
    decision = decide(FP_OLD, "builtin", observed(no_record=True, rec_problem="corrupt: x"))
    assert decision.action == "regenerate"
    assert decision.reasons == ("snapshot corrupt: x",)
    assert decision.old_hash == FP_OLD


def test_snapshot_of_another_schema_regenerates() -> None:
    decision = decide(FP_OLD, "builtin", observed(rec=record(fp=FP_NEW)))
    assert decision.action == "regenerate"
    assert "snapshot does not match the hash cache" in decision.reasons


def test_generator_change_regenerates() -> None:
    decision = decide(FP_OLD, "command:supabase gen types", observed())
    assert decision.action == "regenerate"
    assert decision.reasons == ("generator changed",)


def test_deleted_types_file_is_restored_not_a_schema_update() -> None:
    decision = decide(FP_OLD, "builtin", observed(types_sha=None))
    assert (decision.action, decision.reasons) == ("restore", ("types file deleted",))


def test_edited_types_file_is_restored() -> None:
    decision = decide(FP_OLD, "builtin", observed(types_sha="d" * 64))
    assert (decision.action, decision.reasons) == ("restore", ("types file modified",))


def test_schema_change_wins_over_a_missing_types_file() -> None:
    decision = decide(FP_NEW, "builtin", observed(types_sha=None))
    assert decision.action == "regenerate"


def test_everything_missing_lists_every_reason() -> None:
    decision = decide(
        FP_OLD,
        "builtin",
        observed(cached=None, cache_problem="missing", rec_problem="missing", no_record=True),
    )
    assert decision.reasons == ("hash cache missing", "snapshot missing")


# --- the catalog-probe fast path (shared by the node and ctas7 audit) --------------------------


def test_probe_mark_round_trips_and_refuses_what_is_not_one() -> None:
    mark = ProbeMark("postgresql://u:***@h/db", "7:abc", FP_OLD)
    assert ProbeMark.decode(mark.encode()) == mark
    for data in (None, b"", b"not json", b"[]", b'{"format": "ctas7-audit-probe/1"}'):
        assert ProbeMark.decode(data) is None
    assert ProbeMark.decode(mark.encode().replace(b'"7:abc"', b"7")) is None


def test_verified_by_probe_needs_the_database_the_files_and_then_the_probe() -> None:
    mark = ProbeMark("db", "p1", FP_OLD)
    calls: list[str] = []

    def probe(value: str) -> Callable[[], str]:
        def run() -> str:
            calls.append(value)
            return value

        return run

    same = observed()  # hash cache, record and types file agree with FP_OLD
    args = {"generator": "builtin", "observed": same}
    assert verified_by_probe(mark, database="db", probe=probe("p1"), **args)
    assert not verified_by_probe(mark, database="db", probe=probe("p2"), **args)  # DDL since
    assert calls == ["p1", "p2"]
    # anything else off: no database round trip at all
    assert not verified_by_probe(None, database="db", probe=probe("x"), **args)
    assert not verified_by_probe(mark, database="other", probe=probe("x"), **args)
    edited = observed(types_sha="e" * 64)
    assert not verified_by_probe(
        mark, database="db", generator="builtin", observed=edited, probe=probe("x")
    )
    assert not verified_by_probe(
        ProbeMark("db", "p1", FP_NEW), database="db", probe=probe("x"), **args
    )
    other_generator = {"generator": "cmd", "observed": same}
    assert not verified_by_probe(mark, database="db", probe=probe("x"), **other_generator)
    assert calls == ["p1", "p2"]
