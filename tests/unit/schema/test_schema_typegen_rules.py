"""Generator rules the goldens do not all show, on small in-memory catalogs (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ctas7_panel.schema.model import Enum, FunctionArg, Relationship, TypeRef
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen import generate_typescript

V098 = TypegenOptions(pg_meta_version="0.98.0")
V099 = TypegenOptions(pg_meta_version="0.99.0")
NO_ARGS = {"0.98.0": "never", "0.99.0": "Record<PropertyKey, never>"}


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_integer_like_function_names_come_first_in_numeric_order(build) -> None:  # type: ignore[no-untyped-def]
    fns = [build.function(n) for n in ("zz", "42", "007", "7", "aa", "4294967295", "10")]
    text = generate_typescript(build.catalog(functions=fns))
    functions = _section(text, "    Functions: {", "    Enums: {")
    lines = functions.splitlines()[1:-1]
    order = [line.split(":")[0].strip() for line in lines]
    assert order == ['"7"', '"10"', '"42"', '"007"', '"4294967295"', "aa", "zz"]


@pytest.mark.parametrize("version", ["0.98.0", "0.99.0"])
def test_object_prototype_names_do_not_crash(build, version: str) -> None:  # type: ignore[no-untyped-def]
    fns = [build.function(n) for n in ("constructor", "toString", "__proto__", "valueOf")]
    text = generate_typescript(build.catalog(functions=fns), replace(V098, pg_meta_version=version))
    for name in ("__proto__", "constructor", "toString", "valueOf"):
        assert f"      {name}: {{ Args: {NO_ARGS[version]}; Returns: number }}\n" in text


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
    text = generate_typescript(build.catalog(functions=short), V098)
    assert (
        "      o: { Args: never; Returns: number } | { Args: { x: Json }; Returns: Json }\n" in text
    )
    long = [
        build.function("overloaded", [("first_argument", "text")], "text"),
        build.function("overloaded", [("first_argument", "text"), ("second_argument", "int4")]),
    ]
    text = generate_typescript(build.catalog(functions=long), V098)
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


def _fn(build, name: str, args: list[tuple[str, str, str, int]], returns: str = "int4", **kw):  # type: ignore[no-untyped-def]
    """A function whose arguments are ``(name, mode, typname, oid)``; ``kw`` sets fields."""
    fn = build.function(name, returns=returns)
    fargs = tuple(
        FunctionArg(n, mode, TypeRef("pg_catalog", t, kw.pop(f"kind_{t}", None), t, oid), False)
        for n, mode, t, oid in args
    )
    return replace(
        fn, args=fargs, argument_types=", ".join(f"{n} {t}".strip() for n, _, t, _ in args), **kw
    )


@pytest.mark.parametrize("version", ["0.98.0", "0.99.0"])
def test_overloads_with_one_unnamed_argument_each_are_no_conflict(build, version: str) -> None:  # type: ignore[no-untyped-def]
    """Bug A: f(text) and f(jsonb) are told apart by type; only named arguments conflict."""
    fns = [_fn(build, "f", [("", "in", "text", 25)]), _fn(build, "f", [("", "in", "jsonb", 3802)])]
    text = generate_typescript(build.catalog(functions=fns), replace(V099, pg_meta_version=version))
    assert (
        '      f:\n        | { Args: { "": Json }; Returns: number }\n'
        '        | { Args: { "": string }; Returns: number }\n'
    ) in text
    assert "Could not choose" not in text


def test_named_conflicts_list_by_type_oid_and_set_returns_append_brackets(build) -> None:  # type: ignore[no-untyped-def]
    """The conflict list is in argument-type OID order; a set-returning overload keeps its
    ``[]``, written after the message literal (bug C's relative)."""
    fns = [
        _fn(build, "n", [("x", "in", "text", 25)], returns_set=True, rows=1000.0),
        _fn(build, "n", [("x", "in", "int4", 23)]),
    ]
    text = generate_typescript(build.catalog(functions=fns), V099)
    message = (
        "Could not choose the best candidate function between: public.n(x => int4), "
        "public.n(x => text). Try renaming the parameters or the function itself in the "
        "database so function overloading can be resolved"
    )
    assert f'        }} & "{message}"[]\n' in text
    assert f'        }} & "{message}"\n' in text


def test_no_args_conflict_names_the_defaulted_overloads_return_type(build) -> None:  # type: ignore[no-untyped-def]
    fns = [
        _fn(build, "d", []),
        replace(_fn(build, "d", [("", "in", "text", 25)], returns="bool"), default_count=1),
    ]
    text = generate_typescript(build.catalog(functions=fns), V098)
    assert "public.d(), public.d( => bool). Try renaming" in text


def test_setof_source_is_the_only_argument_of_any_mode(build) -> None:  # type: ignore[no-untyped-def]
    """``SetofOptions.from`` names the row type of a function's only argument, even an OUT
    one; with two arguments (one of them OUT) it is "*"."""
    table = build.table("a", [build.column("id")])
    row = TypeRef("public", "a", "r", "a")
    only_out = replace(_fn(build, "o1", [("r", "out", "a", 16384)], kind_a="r"), return_type=row)
    in_and_out = replace(
        _fn(build, "o2", [("p", "in", "a", 16384), ("r", "out", "a", 16384)], kind_a="r"),
        return_type=row,
    )
    text = generate_typescript(build.catalog([table], functions=[only_out, in_and_out]), V098)
    o1 = _section(text, "      o1: {", "      o2: {")
    assert 'from: "a"' in o1 and "isOneToOne: true" in o1
    assert 'from: "*"' in text[text.index("      o2: {") :]


def test_set_of_an_inline_enum_appends_brackets_to_its_last_label(build) -> None:  # type: ignore[no-untyped-def]
    hidden = Enum("hidden", "vis", ("secret", "top_secret"))
    fn = replace(
        _fn(build, "sv", []), return_type=TypeRef("hidden", "vis", None, "hidden.vis"),
        returns_set=True, rows=1000.0,
    )  # fmt: skip
    text = generate_typescript(build.catalog(functions=[fn], enums=[hidden]), V099)
    assert '        Returns: "secret" | "top_secret"[]\n' in text


def test_a_user_type_named_text_is_not_text(build) -> None:  # type: ignore[no-untyped-def]
    """Unnamed arguments are kept only for pg_catalog's json, jsonb and text."""
    fn = _fn(build, "dt", [("", "in", "text", 99999)])
    fn = replace(fn, args=(replace(fn.args[0], type=TypeRef("public", "text", None, "text")),))
    text = generate_typescript(build.catalog(functions=[fn]), V099)
    assert "dt:" not in text
