"""``ctas7 schema typegen --lang python|go|swift`` against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctas7_panel.cli import main

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "typegen" / "golden-0.99.0"
OURS = Path(__file__).resolve().parents[2] / "fixtures" / "typegen" / "ours" / "0.99.0"


def test_each_language_to_stdout_and_file(
    fresh_db_url: str, goldens, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    base = ["schema", "typegen", "--db-url", fresh_db_url]
    assert main([*base, "--lang", "python"], {}) == 0
    out = capsys.readouterr()
    assert out.out == (GOLDEN / "ctas7_core.py").read_text() and out.err == ""
    target = tmp_path / "database.go"
    target.write_text("old")
    assert main([*base, "--lang", "go", "-o", str(target)], {}) == 0
    assert target.read_text() == (GOLDEN / "ctas7_core.go").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["database.go"]  # no temp file left
    assert main([*base, "--lang", "swift", "--swift-access-control", "public"], {}) == 0
    assert capsys.readouterr().out == (GOLDEN / "ctas7_core.swift_public.swift").read_text()
    assert main([*base, "--lang", "swift"], {}) == 0
    assert capsys.readouterr().out == (GOLDEN / "ctas7_core.swift").read_text()


def test_deviations_are_announced_on_stderr(fresh_db_url: str, goldens, capsys) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "edge_cases")
    argv = ["schema", "typegen", "--db-url", fresh_db_url, "--lang", "python"]
    assert main([*argv, "--schema", "public,empty_schema,My Schema"], {}) == 0
    out = capsys.readouterr()
    assert out.out == (OURS / "edge_cases.py").read_text()
    assert out.err.startswith("ctas7: this python output differs from Supabase's in ")
    assert "docs/typegen.md" in out.err and out.err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lang", "kotlin"], "invalid choice: 'kotlin'"),
        (["--lang", "swift", "--swift-access-control", "private"], "invalid choice: 'private'"),
    ],
)
def test_bad_language_options_exit_2(extra: list[str], message: str, capsys) -> None:  # type: ignore[no-untyped-def]
    argv = ["schema", "typegen", "--db-url", "postgresql://x@127.0.0.1:1/y", *extra]
    with pytest.raises(SystemExit) as info:
        main(argv, {})
    assert info.value.code == 2
    assert message in capsys.readouterr().err
