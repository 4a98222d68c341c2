"""The collation orders names as ICU's root locale does (FORMAT.md's observed orderings)."""

from __future__ import annotations

import random
import string

import pytest

from ctas7_panel.schema.collation import compare, sort_key, sorted_names

# Each list is in the order Supabase's generator (JS localeCompare, ICU root) produces.
ORDERINGS = [
    ["__proto__", "-1", "0"],
    ["a b", "a_b", "a-b", "ab"],
    ["it's", "Item ID"],
    ["_under", "🚀rocket", "$dollar", "123start", "back\\slash"],
    ["a1", "a10", "a2"],
    ["arger", "Ärger"],
    ["eclair", "Eclair", "éclair"],
    ["a", "A", "b", "B"],
    ["_z", "1", "10", "9", "a", "A", "ä", "a b", "a_b", "a-b", "ab", "b", "B", "Z", "z_", "z1",
     "z10", "z2"],
    ["_a", "a", "A", "a_b", "a_very_long", "a-b", "a1", "a10", "a2", "ab", "arger", "Ärger", "B"],
    ["zeta", "Zeta"],
    ["Order Items", "posts"],
    ["_under", "🚀rocket", "$dollar", "123start", "back\\slash", "camelCase", 'has"quote', "it's",
     "Item ID", "item-code", "post id", "ünïcödé", "UPPER", "with.dot", "日本語"],
]  # fmt: skip


@pytest.mark.parametrize("expected", ORDERINGS)
def test_orderings_from_the_spec(expected: list[str]) -> None:
    shuffled = expected[::-1]
    random.Random(7).shuffle(shuffled)
    assert sorted_names(shuffled) == expected


def test_compare_is_consistent_with_sort_key() -> None:
    assert compare("a", "A") < 0
    assert compare("A", "a") > 0
    assert compare("same", "same") == 0


def test_ascii_fast_path_matches_the_uca_tables() -> None:
    """The built-in ASCII weights give the same order as pyuca's full implementation."""
    from ctas7_panel.schema.collation import _uca_key

    rng = random.Random(1)
    alphabet = string.printable
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3000)]
    for word in words[:500]:
        assert sort_key(word) == _uca_key(word), repr(word)
    assert sorted(words, key=sort_key) == sorted(words, key=_uca_key)


def test_agrees_with_icu_root_when_pyicu_is_installed() -> None:
    icu = pytest.importorskip("icu", reason="PyICU is optional: only a cross-check")
    collator = icu.Collator.createInstance(icu.Locale.getRoot())
    rng = random.Random(3)
    alphabet = "aAbBzZ_- .'\"$0129äÄéÉöß日本😀🚀"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(2000)]
    words += [w for group in ORDERINGS for w in group]
    ours = sorted(words, key=lambda w: (sort_key(w), w))
    theirs = sorted(words, key=lambda w: (collator.getSortKey(w), w))
    assert ours == theirs
