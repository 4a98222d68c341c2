"""Generator rules the goldens do not all show, on small in-memory catalogs (pure)."""

from __future__ import annotations

from ctas7_panel.schema.model import Enum, Relationship
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen import generate_typescript


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_integer_like_function_names_come_first_in_numeric_order(build) -> None:  # type: ignore[no-untyped-def]
    fns = [build.function(n) for n in ("zz", "42", "007", "7", "aa", "4294967295", "10")]
    text = generate_typescript(build.catalog(functions=fns))
    functions = _section(text, "    Functions: {", "    Enums: {")
    lines = functions.splitlines()[1:-1]
    order = [line.split(":")[0].strip() for line in lines]
    assert order == ['"7"', '"10"', '"42"', '"007"', '"4294967295"', "aa", "zz"]


def test_object_prototype_names_do_not_crash(build) -> None:  # type: ignore[no-untyped-def]
    fns = [build.function(n) for n in ("constructor", "toString", "__proto__", "valueOf")]
    text = generate_typescript(build.catalog(functions=fns))
    for name in ("__proto__", "constructor", "toString", "valueOf"):
        assert f"      {name}: {{ Args: never; Returns: number }}\n" in text


def test_long_members_break_after_the_colon_and_unknown_gets_no_null(build) -> None:  # type: ignore[no-untyped-def]
    enum = Enum("public", "a_rather_long_enum_name_that_pushes_the_line_width", ("x", "y"))
    table = build.table(
        "t",
        [
            build.column("status_with_a_long_column_name", enum.name, nullable=True),
            build.column("addr", "inet", nullable=True),
        ],
    )
    text = generate_typescript(build.catalog([table], enums=[enum]))
    assert "          addr: unknown\n" in text
    ref = 'Database["public"]["Enums"]["a_rather_long_enum_name_that_pushes_the_line_width"]'
    assert (
        f"          status_with_a_long_column_name:\n            | {ref}\n            | null\n"
    ) in text


def test_postgrest_version_and_no_one_to_one(build) -> None:  # type: ignore[no-untyped-def]
    parent = build.table("parent", [build.column("id")])
    child = build.table("child", [build.column("id"), build.column("parent_id")])
    rel = Relationship("child_parent_id_fkey", "public", "child", ("parent_id",), True,
                       "public", "parent", ("id",))  # fmt: skip
    options = TypegenOptions(detect_one_to_one=False, postgrest_version="13.0.5")
    text = generate_typescript(build.catalog([parent, child], relationships=[rel]), options)
    assert text.startswith("export type Json =\n")
    assert (
        "export type Database = {\n"
        "  // Allows to automatically instantiate createClient with right options\n"
        "  // instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)\n"
        "  __InternalSupabase: {\n"
        '    PostgrestVersion: "13.0.5"\n'
        "  }\n"
    ) in text
    assert "isOneToOne" not in text
    assert 'foreignKeyName: "child_parent_id_fkey"' in text
    with_o2o = generate_typescript(build.catalog([parent, child], relationships=[rel]))
    assert "isOneToOne: true" in with_o2o
    assert "__InternalSupabase: {" not in with_o2o
    assert text.endswith("} as const\n\n")


def test_overloads_inline_when_short_and_broken_when_long(build) -> None:  # type: ignore[no-untyped-def]
    short = [build.function("o"), build.function("o", [("x", "json")], "json")]
    text = generate_typescript(build.catalog(functions=short))
    assert (
        "      o: { Args: never; Returns: number } | { Args: { x: Json }; Returns: Json }\n" in text
    )
    long = [
        build.function("overloaded", [("first_argument", "text")], "text"),
        build.function("overloaded", [("first_argument", "text"), ("second_argument", "int4")]),
    ]
    text = generate_typescript(build.catalog(functions=long))
    assert (
        "      overloaded:\n"
        "        | { Args: { first_argument: string }; Returns: string }\n"
        "        | {\n"
        "            Args: { first_argument: string; second_argument: number }\n"
        "            Returns: number\n"
        "          }\n"
    ) in text


def test_no_schema_gives_empty_database_and_constants(build) -> None:  # type: ignore[no-untyped-def]
    text = generate_typescript(build.catalog(schemas=()))
    assert "export type Database = {}\n" in text
    assert text.endswith("export const Constants = {} as const\n\n")


def test_proto_key_in_constants_is_computed(build) -> None:  # type: ignore[no-untyped-def]
    enum = Enum("__proto__", "kind", ("a",))
    text = generate_typescript(build.catalog(enums=[enum], schemas=("__proto__",)))
    assert '  ["__proto__"]: {\n    Enums: {\n      kind: ["a"],\n' in text
    assert "  __proto__: {\n    Tables: {" in text
