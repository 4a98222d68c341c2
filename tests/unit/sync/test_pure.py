"""The pure cores of the Schema Sync Node: debounce, the pass decision (backoff: test_backoff)."""

from __future__ import annotations

import pytest

from ctas7_panel.schema.sync import Observed, SnapshotRecord, decide
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
