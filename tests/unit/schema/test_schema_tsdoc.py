"""prettier's string width, quoting and key rules, and its line-fitting printer."""

from __future__ import annotations

import pytest

from ctas7_panel.schema.tsdoc import (
    LINE,
    SOFTLINE,
    Group,
    IfBreak,
    Indent,
    is_es5_identifier,
    join,
    print_doc,
    string_width,
    ts_key,
    ts_string,
)


@pytest.mark.parametrize(
    ("text", "width"),
    [
        ("abc", 3),
        ("日本語", 6),
        ("🚀rocket", 8),
        ("ünïcödé", 7),
        ("e\u0301", 1),  # combining accent counts 0
        ("👍🏽", 2),  # emoji with skin tone modifier is one wide character
        ("❤️", 2),
        ("", 0),
    ],
)
def test_string_width(text: str, width: int) -> None:
    assert string_width(text) == width


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("plain", '"plain"'),
        ('has"quote', "'has\"quote'"),
        ("it's", '"it\'s"'),
        ("back\\slash", '"back\\\\slash"'),
        ("new\nline", '"new\\nline"'),
        ("tab\there", '"tab\\there"'),
        ("both ' and \"", '"both \' and \\""'),
        ('two "" one \'', "'two \"\" one \\''"),
    ],
)
def test_ts_string(value: str, printed: str) -> None:
    assert ts_string(value) == printed


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("id", "id"),
        ("delete", "delete"),
        ("__proto__", "__proto__"),
        ("$dollar", "$dollar"),
        ("ünïcödé", "ünïcödé"),
        ("日本語", "日本語"),
        ("0", '"0"'),
        ("1.5", '"1.5"'),
        ("123start", '"123start"'),
        ("a b", '"a b"'),
        ("a-b", '"a-b"'),
        ("🚀rocket", '"🚀rocket"'),
        ("", '""'),
    ],
)
def test_ts_key(name: str, key: str) -> None:
    assert ts_key(name) == key


def test_identifier_rules() -> None:
    assert is_es5_identifier("camelCase")
    assert not is_es5_identifier("with.dot")
    assert not is_es5_identifier("")


def test_group_breaks_only_when_it_does_not_fit() -> None:
    items = [f'"item{i}"' for i in range(3)]
    doc = Group(["[", Indent([SOFTLINE, join([",", LINE], items)]), IfBreak(","), SOFTLINE, "]"])
    assert print_doc(doc) == '["item0", "item1", "item2"]'
    long_items = [f'"a_rather_long_item_{i}"' for i in range(5)]
    doc = Group(
        ["[", Indent([SOFTLINE, join([",", LINE], long_items)]), IfBreak(","), SOFTLINE, "]"]
    )
    assert print_doc(doc) == "[\n" + "".join(f"  {i},\n" for i in long_items) + "]"


def test_trailing_whitespace_is_trimmed_at_a_break() -> None:
    doc = ["key: ", Group(Indent([IfBreak([LINE, "| "]), "x" * 80, LINE, "| ", "null"]))]
    assert print_doc(doc) == "key:\n  | " + "x" * 80 + "\n  | null"
