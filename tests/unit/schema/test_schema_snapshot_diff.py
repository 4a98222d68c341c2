"""Snapshot canonicality, fingerprint invariance and the diff (pure, property-based)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctas7_panel.errors import ArtifactError
from ctas7_panel.schema.diff import diff_snapshots
from ctas7_panel.schema.model import Enum
from ctas7_panel.schema.snapshot import canonical_json, fingerprint, load_snapshot, to_snapshot

NAMES = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
TYPES = st.sampled_from(["int4", "text", "uuid", "jsonb", "bool", "timestamptz", "_text"])


@st.composite
def catalogs(draw, build):  # type: ignore[no-untyped-def]
    table_names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    tables = []
    for name in table_names:
        col_names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
        cols = [
            build.column(
                c,
                draw(TYPES),
                nullable=draw(st.booleans()),
                default=draw(st.sampled_from([None, "0", "now()"])),
            )
            for c in col_names
        ]
        tables.append(build.table(name, cols))
    enums = [
        Enum("public", "mood", tuple(draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))))
    ]
    return build.catalog(tables, enums=enums)


def _permuted(catalog, rng):  # type: ignore[no-untyped-def]
    relations = list(catalog.relations)
    rng.shuffle(relations)
    return replace(catalog, relations=tuple(relations))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_fingerprint_ignores_catalog_row_order(build, data, seed) -> None:  # type: ignore[no-untyped-def]
    import random

    catalog = data.draw(catalogs(build))
    shuffled = _permuted(catalog, random.Random(seed))
    assert fingerprint(to_snapshot(catalog)) == fingerprint(to_snapshot(shuffled))
    # a snapshot round-tripped through a file (other key order, whitespace) hashes the same
    reloaded = orjson.loads(orjson.dumps(to_snapshot(catalog), option=orjson.OPT_INDENT_2))
    assert fingerprint(reloaded) == fingerprint(to_snapshot(catalog))
    assert diff_snapshots(to_snapshot(catalog), to_snapshot(shuffled)).is_empty


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_column_changes_show_up_in_the_diff(build, data) -> None:  # type: ignore[no-untyped-def]
    catalog = data.draw(catalogs(build))
    rel_index = data.draw(st.integers(0, len(catalog.relations) - 1))
    rel = catalog.relations[rel_index]
    col_index = data.draw(st.integers(0, len(rel.columns) - 1))
    col = rel.columns[col_index]
    change = data.draw(st.sampled_from(["type", "nullable", "default", "drop", "add"]))
    columns = list(rel.columns)
    if change == "type":
        new_type = "numeric(10,2)" if col.data_type != "numeric(10,2)" else "text"
        columns[col_index] = replace(col, data_type=new_type, type_name="numeric", format="numeric")
    elif change == "nullable":
        columns[col_index] = replace(col, is_nullable=not col.is_nullable)
    elif change == "default":
        columns[col_index] = replace(col, default="42" if col.default != "42" else None)
    elif change == "drop":
        del columns[col_index]
    else:
        columns.append(build.column("zz_new_column", "text", position=len(columns) + 1))
    changed = replace(catalog, relations=tuple(
        replace(r, columns=tuple(columns)) if i == rel_index else r
        for i, r in enumerate(catalog.relations)
    ))  # fmt: skip
    old, new = to_snapshot(catalog), to_snapshot(changed)
    result = diff_snapshots(old, new)
    assert not result.is_empty
    assert fingerprint(old) != fingerprint(new)
    column_entries = result.of("column")
    assert len(column_entries) == 1
    entry = column_entries[0]
    expected_name = f"public.{rel.name}.{'zz_new_column' if change == 'add' else col.name}"
    assert entry.name == expected_name
    assert entry.action == {"drop": "removed", "add": "added"}.get(change, "changed")
    if change in ("type", "nullable", "default"):
        field = {"type": "type:", "nullable": "nullable:", "default": "default:"}[change]
        assert any(d.startswith(field) for d in entry.details)
    summary = result.summary()
    assert summary["total"] == len(result.entries)
    assert expected_name in summary[f"columns_{entry.action}"]
    assert entry.to_text() in result.to_text()
    assert orjson.loads(orjson.dumps(result.to_dict()))["entries"]


def test_enum_labels_added_and_tables_added_removed(build) -> None:  # type: ignore[no-untyped-def]
    base = build.catalog([build.table("a", [build.column("id")])],
                         enums=[Enum("public", "mood", ("happy", "sad"))])  # fmt: skip
    after = build.catalog([build.table("b", [build.column("id")])],
                          enums=[Enum("public", "mood", ("happy", "sad", "meh"))])  # fmt: skip
    result = diff_snapshots(to_snapshot(base), to_snapshot(after))
    kinds = {(e.kind, e.name, e.action) for e in result.entries}
    assert ("table", "public.b", "added") in kinds
    assert ("table", "public.a", "removed") in kinds
    (enum,) = result.of("enum")
    assert enum.details == ("labels added: meh",)
    assert result.summary()["tables_added"] == ["public.b"]
    assert diff_snapshots(to_snapshot(base), to_snapshot(base)).to_text() == "no schema changes\n"


def test_snapshot_lists_columns_for_a_registry(build) -> None:  # type: ignore[no-untyped-def]
    columns = [build.column("id", identity="ALWAYS"), build.column("x", "text", nullable=True)]
    snap = to_snapshot(build.catalog([build.table("t", columns)]))
    assert snap["table_count"] == 1
    (rel,) = snap["relations"]
    assert [c["name"] for c in rel["columns"]] == ["id", "x"]
    assert rel["columns"][0]["identity"] == "ALWAYS"
    assert set(rel["columns"][1]) >= {
        "name",
        "type",
        "udt",
        "nullable",
        "default",
        "identity",
        "generated",
    }
    assert canonical_json(snap) == canonical_json(orjson.loads(canonical_json(snap)))


def test_load_snapshot_errors(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ArtifactError, match="does not exist"):
        load_snapshot(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_snapshot(bad)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ArtifactError, match="not a ctas7 schema snapshot"):
        load_snapshot(other)
    good = tmp_path / "good.json"
    snap = to_snapshot(build.catalog([build.table("t", [build.column("id")])]))
    good.write_bytes(canonical_json(snap))
    assert fingerprint(load_snapshot(good)) == fingerprint(snap)
