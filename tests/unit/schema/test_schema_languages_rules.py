"""Python, Go and Swift generator rules on small in-memory catalogs, and hostile names (pure).

The goldens (integration tests) pin the common output byte for byte; these pin the naming
rules the templates use and try to break the promise that the Python we print always imports
with pydantic v2 and the Go always parses and vets, whatever the names in the database.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import types
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctas7_panel.errors import SchemaError, UsageError
from ctas7_panel.schema import languages
from ctas7_panel.schema.model import Attribute, Catalog, CompositeType, Enum, PgType, TypeRef
from ctas7_panel.schema.naming import Namer
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.typegen_go import type_case as go_case
from ctas7_panel.schema.typegen_meta import js_key_order, json_string
from ctas7_panel.schema.typegen_python import class_case, field_case
from ctas7_panel.schema.typegen_swift import property_case, swift_string
from ctas7_panel.schema.typegen_swift import type_case as swift_case

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BASE_TYPES = ["bool", "int2", "int4", "int8", "float8", "numeric", "text", "varchar", "uuid",
              "json", "jsonb", "timestamptz", "date", "bytea", "inet", "tsvector"]  # fmt: skip
VERSIONS = ("0.98.0", "0.99.0")


def with_types(catalog: Catalog) -> Catalog:
    """``catalog`` plus a type list as the database would have it (oid order): each type
    with its array type, named with one more leading underscore until the name is free."""
    listed: dict[tuple[str, str], PgType] = {}

    def add(schema: str, name: str, kind: str = "") -> None:
        listed[(schema, name)] = PgType(schema, name, kind)
        array = "_" + name
        while (schema, array) in listed:
            array = "_" + array
        listed[(schema, array)] = PgType(schema, array)

    for n in BASE_TYPES:
        add("pg_catalog", n)
    for e in catalog.enums:
        add(e.schema, e.name)
    for c in catalog.composites:
        add(c.schema, c.name, "c")
    for r in catalog.relations:
        add(r.schema, r.name, {"view": "v", "materialized_view": "m"}.get(r.kind, "r"))
    return replace(catalog, types=tuple(listed.values()))


def load_python(text: str) -> types.ModuleType:
    """Execute generated Python as a module (pydantic builds every model); errors propagate."""
    module = types.ModuleType(f"generated_{random.getrandbits(64):x}")
    sys.modules[module.__name__] = module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydantic's "shadows a BaseModel attribute"
            exec(compile(text, module.__name__, "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module


# ---------------------------------------------------------------- name rules


def test_name_rules_are_the_templates() -> None:
    assert class_case("pokemon_center") == "PokemonCenter"
    assert class_case("victory-road") == "VictoryRoad"
    assert class_case("pokemon league") == "PokemonLeague"
    assert class_case("日本語") == "" and class_case("_a_b_") == "AB"
    assert field_case("PokemonCenter") == "pokemoncenter"
    assert field_case("Item ID") == "item_id" and field_case("-1") == "_1"
    assert field_case("ünïcödé") == "_n_c_d_"
    assert go_case("pokemon_center") == "PokemonCenter" and go_case("a--b") == "AB"
    assert swift_case("_key_id_context") == "_KeyIdContext"
    assert swift_case("Item ID") == "ItemID"
    assert property_case("pokemon_center") == "pokemonCenter"
    assert property_case("Item ID") == "itemId"
    assert property_case("_under") == "Under"  # the empty first word stays empty
    assert [property_case(k) for k in ("in", "default", "case", "class")] == [
        "`in`",
        "`default`",
        "`case`",
        "class",
    ]


def test_js_helpers() -> None:
    assert js_key_order(["b", "10", "a", "2", "007", "b", "4294967295", "4294967294"]) == [
        "2",
        "10",
        "4294967294",
        "b",
        "a",
        "007",
        "4294967295",
    ]
    assert json_string('it\'s "x"\\\n\t\x01é') == '"it\'s \\"x\\"\\\\\\n\\t\\u0001é"'
    assert swift_string('a"b\\c\n\x7f\u2028é') == '"a\\"b\\\\c\\n\\u{7f}\\u{2028}é"'


def test_namer_keeps_valid_names_and_repairs_the_rest() -> None:
    namer = Namer(is_valid=str.isidentifier, repair=lambda n: "f" + n if n[:1].isdigit() else n)
    names, changed = namer.assign(
        ["a_b", "a_b", "1x", "f1x", "a_b"], exact=[False, True] + [False] * 3
    )
    assert names == ["a_b_2", "a_b", "f1x_2", "f1x", "a_b_3"]
    assert changed == [("a_b", "a_b_2"), ("1x", "f1x_2"), ("a_b", "a_b_3")]


def test_languages_dispatch_and_errors(build) -> None:  # type: ignore[no-untyped-def]
    assert languages.LANGUAGES == ("typescript", "python", "go", "swift")
    with pytest.raises(UsageError, match=r"kotlin.*typescript, python, go, swift"):
        languages.generate("kotlin", build.catalog())
    with pytest.raises(SchemaError, match="type_list=True"):
        languages.generate("python", build.catalog())  # read without the type list
    assert languages.generate("typescript", build.catalog()).startswith("export type Json")
    assert not languages.needs_type_list("typescript") and languages.needs_type_list("go")
    with pytest.raises(UsageError, match="internal, public"):
        TypegenOptions(swift_access_control="private")


# ---------------------------------------------------------------- template rules


def test_python_enum_order_shadowing_and_prototype_names(build) -> None:  # type: ignore[no-untyped-def]
    enums = [Enum("public", "mood", ("a",)), Enum("public", "7", ("x",)),
             Enum("inventory", "mood", ("b",))]  # fmt: skip
    table = build.table("t", [build.column("m", "mood"), build.column("c", "constructor"),
                              build.column("i", "inet", nullable=True)])  # fmt: skip
    catalog = with_types(build.catalog([table], enums=enums))
    # the later of two same-named enums wins: by oid in 0.98.0, by schema name in 0.99.0
    for version, mood in (("0.98.0", "InventoryMood"), ("0.99.0", "PublicMood")):
        text = languages.generate("python", catalog, TypegenOptions(pg_meta_version=version))
        aliases = [line.split(":")[0] for line in text.splitlines() if "TypeAlias =" in line]
        # integer-like keys first, "mood" keeps its first place (a JavaScript object's keys)
        assert aliases == ["Public7", mood]
        assert f"    m: {mood} = Field(" in text
        assert "    c: Object = Field(" in text  # JavaScript's ({}).constructor.name
        assert "    i: Optional[PgCatalogInet] = Field(" in text
        load_python(text)


def test_go_and_swift_type_rules(build) -> None:  # type: ignore[no-untyped-def]
    enums = [Enum("public", "_flag", ("on",)), Enum("public", "flag", ("off",))]
    composite = CompositeType(
        "public", "pair", (Attribute("l", TypeRef("pg_catalog", "text", None, "text")),)
    )
    kinds = [("a", "_int4"), ("b", "_flag"), ("c", "pair"), ("d", "_pair"), ("e", "inet")]
    columns = [build.column(n, t, nullable=True) for n, t in kinds]
    catalog = with_types(replace(build.catalog([build.table("t", columns)], enums=enums),
                                 composites=(composite,)))  # fmt: skip
    go = languages.generate("go", catalog)
    width = len("[]map[string]interface{} ")  # arrays keep a trailing space, padded too
    for field, go_type in (("A", "[]*int32 "), ("B", "*string"), ("C", "map[string]interface{}"),
                           ("D", "[]map[string]interface{} "), ("E", "interface{}")):  # fmt: skip
        # "_flag" is an enum's own name: Go looks enums up before the array prefix
        assert f'  {field} {go_type.ljust(width)} `json:"{field.lower()}"`\n' in go
    assert 'type PublicPair struct {\n  L string `json:"l"`\n}\n' in go
    python = languages.generate("python", catalog)
    assert "    b: Optional[List[PublicFlag_2]] = Field(" in python  # Python reads the prefix
    swift = languages.generate("swift", catalog, TypegenOptions(swift_access_control="public"))
    assert "  public let b: [Flag]?" in swift  # Swift reads the prefix first
    assert "  public let c: PairSelect?" in swift and "  public let e: InetSelect?" in swift
    assert (
        "  public struct Pair: Codable, Hashable, Sendable {\n    public let L: String\n" in swift
    )


# ---------------------------------------------------------------- hostile names

ODD_WORDS = ["class", "from", "None", "model_config", "uuid", "datetime", "int", "str",
             "__proto__", "constructor", "toString", "id", "json"]  # fmt: skip
NAME_ALPHABET = st.sampled_from([*"aAzZ09_- .$\"'\\`\n\té日🚀,", *ODD_WORDS])
NAMES = st.lists(NAME_ALPHABET, min_size=1, max_size=4).map("".join)
COLUMN_TYPES = st.sampled_from(
    BASE_TYPES + ["_" + t for t in BASE_TYPES] + ["mood", "_mood", "pair"]
)


def hostile_catalog(
    tables: Sequence[tuple[str, Sequence[tuple[str, str, bool]]]], build
) -> Catalog:  # type: ignore[no-untyped-def]
    enums = [Enum("public", "mood", ("a", 'b"', "c\\d"))]
    relations = [
        build.table(name, [build.column(c, t, nullable=n) for c, t, n in columns])
        for name, columns in tables
    ]
    catalog = build.catalog(relations, enums=enums)
    composite = CompositeType("public", "pair", tuple(
        Attribute(c, TypeRef("pg_catalog", t, None, t)) for c, t, _ in tables[0][1]
    ) or (Attribute("x", TypeRef("pg_catalog", "text", None, "text")),))  # fmt: skip
    return with_types(replace(catalog, composites=(composite,)))


COLUMNS = st.lists(
    st.tuples(NAMES, COLUMN_TYPES, st.booleans()), max_size=6, unique_by=lambda c: c[0]
)
TABLES = st.lists(st.tuples(NAMES, COLUMNS), min_size=1, max_size=4, unique_by=lambda t: t[0])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tables=TABLES)
def test_python_always_imports_with_pydantic(tables, build) -> None:  # type: ignore[no-untyped-def]
    catalog = hostile_catalog(tables, build)
    for version in VERSIONS:
        result = languages.render("python", catalog, TypegenOptions(pg_meta_version=version))
        module = load_python(result.text)
        classes = [v for v in vars(module).values() if isinstance(v, type)]
        models = [c for c in classes if getattr(c, "__pydantic_fields__", None) is not None]
        dicts = [c for c in classes if hasattr(c, "__required_keys__")]
        # no table, column or attribute lost to a repeated name: one model and two TypedDicts
        # per table plus the composite, every field with its column's name as alias
        columns = sum(len(c) for _, c in tables)
        attributes = len(catalog.composites[0].attributes)
        assert len(models) == len(tables) + 1 and len(dicts) == 2 * len(tables)
        fields = [f for m in models for f in m.__pydantic_fields__.values()]
        assert len(fields) == columns + attributes
        assert sum(len(d.__annotations__) for d in dicts) == 2 * columns
        assert {c for _, cols in tables for c, _, _ in cols} <= {f.alias for f in fields}


def _go_tool() -> str:
    go = shutil.which("go")
    if go is None or shutil.which("gofmt") is None:
        reason = "the Go toolchain is not installed (Debian: apt-get install golang-go)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return go


def test_go_always_parses_and_vets(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    """80 random hostile catalogs x 2 versions, vetted in one ``go vet`` run."""
    go = _go_tool()
    rng = random.Random(20261127)
    alphabet = [*"aAzZ09_- .$\"'\\`\n\té日🚀", "Id", "ID", "id", "class", "x"]
    kinds = BASE_TYPES + ["_" + t for t in BASE_TYPES] + ["mood", "_mood", "pair"]

    def name() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4)))

    module = tmp_path / "generated"
    module.mkdir()
    (module / "go.mod").write_text("module example.com/generated\n\ngo 1.19\n")
    for i in range(80):
        tables = {}
        for _ in range(rng.randint(1, 4)):
            columns = {
                name(): (rng.choice(kinds), rng.random() < 0.5) for _ in range(rng.randint(0, 6))
            }
            tables[name()] = [(c, t, n) for c, (t, n) in columns.items()]
        catalog = hostile_catalog(list(tables.items()), build)
        for version in VERSIONS:
            package = module / f"p{i}_{version.replace('.', '_')}"
            package.mkdir()
            text = languages.generate("go", catalog, TypegenOptions(pg_meta_version=version))
            (package / "database.go").write_text(text)
    env = {**os.environ, "GOCACHE": str(tmp_path / "cache"), "GOPATH": str(tmp_path / "gopath"),
           "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}  # fmt: skip
    gofmt = subprocess.run(
        ["gofmt", "-l", str(module)], capture_output=True, text=True, timeout=120
    )
    assert gofmt.returncode == 0 and not gofmt.stderr, gofmt.stderr[:2000]
    vet = subprocess.run([go, "vet", "./..."], cwd=module, capture_output=True, text=True,
                         env=env, timeout=600)  # fmt: skip
    assert vet.returncode == 0, (vet.stdout + vet.stderr)[:3000]
