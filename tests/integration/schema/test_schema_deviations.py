"""Where Supabase's generator crashes or errs, ours works (listed in docs/typegen.md)."""

from __future__ import annotations

import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema import TypegenOptions, generate_typescript, introspect

NO_ARGS = {"0.98.0": "never", "0.99.0": "Record<PropertyKey, never>"}


@pytest.mark.parametrize("version", ["0.98.0", "0.99.0"])
def test_object_prototype_names_and_spaced_schema(fresh_db_url: str, goldens, version: str) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "deviations")
    options = TypegenOptions(schemas=None, pg_meta_version=version)
    none = NO_ARGS[version]
    with pgtools.connect(fresh_db_url) as conn:
        text = generate_typescript(introspect(conn, options), options)
    functions = text[text.index("  public: {") :]
    functions = functions[functions.index("    Functions: {") : functions.index("    Enums: {")]
    assert functions == (
        "    Functions: {\n"
        f"      __proto__: {{ Args: {none}; Returns: number }}\n"
        f"      constructor: {{ Args: {none}; Returns: number }}\n"
        "      hasOwnProperty: { Args: { k: string }; Returns: boolean }\n"
        f"      plain_fn: {{ Args: {none}; Returns: number }}\n"
        "      toString: { Args: { x: number }; Returns: string }\n"
        f"      valueOf: {{ Args: {none}; Returns: number }}\n"
        "    }\n"
    )
    # schemas named like prototype members, with enums and composite types
    assert "  constructor: {\n" in text and '      kind: "a" | "b"\n' in text
    assert "  toString: {\n" in text and "      pair: {\n        a: number | null\n" in text
    assert '  ["__proto__"]: {\n    Enums: {\n      ["__proto__"]: ["x"],\n' in text
    # a schema name with a space keeps its relationship columns, through views too
    sales = text[text.index('  "Sales Team": {') :]
    assert (
        '            foreignKeyName: "contacts_account_id_fkey"\n'
        '            columns: ["account_id"]\n'
        "            isOneToOne: false\n"
        '            referencedRelation: "accounts"\n'
        '            referencedColumns: ["id"]\n'
    ) in sales
    view = sales[sales.index("      contacts_view: {") :]
    assert 'columns: ["account_id"]' in view[: view.index("    Functions")]
