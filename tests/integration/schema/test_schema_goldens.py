"""Every golden of both generator versions (postgres-meta 0.98.0 in ``golden/``, 0.99.0 in
``golden-0.99.0/``) regenerates byte for byte, on the test server (PG 15 in CI) and on
embedded PG 18.

Also: generated files type-check with ``tsc --noEmit --strict`` (one tsc run for all of them).
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema import TypegenOptions, generate_typescript, introspect

REPO = Path(__file__).resolve().parents[3]
GOLDEN_NAMES = sorted(p.stem for p in (REPO / "tests/fixtures/typegen/golden").glob("*.ts"))
VERSIONS = ("0.98.0", "0.99.0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _check_all_versions(goldens, url: str, name: str) -> None:  # type: ignore[no-untyped-def]
    """Load ``name`` once, then generate and compare it for every version."""
    goldens.load(url, name)
    with pgtools.connect(url) as conn:
        for version in VERSIONS:
            options = goldens.options(name, version)
            _assert_same(goldens, name, version, generate_typescript(introspect(conn, options)))


def _assert_same(goldens, name: str, version: str, text: str) -> None:  # type: ignore[no-untyped-def]
    expected = goldens.expected(name, version)
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), "golden", "generated", lineterm=""
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(f"{name} ({version}): generated types differ from the golden:\n{shown}")


def test_goldens_are_present() -> None:
    newer = REPO / "tests/fixtures/typegen/golden-0.99.0"
    assert sorted(p.stem for p in newer.glob("*.ts")) == GOLDEN_NAMES
    assert GOLDEN_NAMES == [
        "big_1000",
        "ctas7_core",
        "ctas7_supabase_like",
        "edge_cases",
        "feature_matrix",
    ]


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_on_test_server(name: str, fresh_db_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    _check_all_versions(goldens, fresh_db_url, name)


@pytest.mark.parametrize("name", GOLDEN_NAMES)
def test_golden_on_embedded_pg18(name: str, fresh_embedded_db_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    with pgtools.connect(fresh_embedded_db_url) as conn:
        version = int(conn.execute("show server_version_num").fetchone()[0])  # type: ignore[index]
    assert version >= 180000, f"embedded server is {version}, expected PostgreSQL 18"
    _check_all_versions(goldens, fresh_embedded_db_url, name)


def find_tsc() -> str | None:
    """``tsc`` from ``npm install`` at the repo root (package.json), else one on PATH."""
    local = REPO / "node_modules" / ".bin" / "tsc"
    if local.exists():
        return str(local)
    return shutil.which("tsc")


def test_generated_files_type_check(tmp_path: Path, fresh_db_url: str, goldens) -> None:  # type: ignore[no-untyped-def]
    """The goldens (which we reproduce byte for byte, tests above) and our output for the
    cases Supabase cannot handle, under several option combinations, all pass tsc --strict."""
    tsc = find_tsc()
    if tsc is None or shutil.which("node") is None:
        reason = "node/tsc not installed (run 'npm install' at the repo root)"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    files = []
    for name in GOLDEN_NAMES:
        for version in VERSIONS:
            target = tmp_path / f"{name}-{version}.ts"
            target.write_text(goldens.expected(name, version))
            files.append(str(target))
    goldens.load(fresh_db_url, "edge_cases")
    goldens.load(fresh_db_url, "deviations")
    variants = {
        f"{label}_{version}": replace(options, pg_meta_version=version)
        for label, options in {
            "all_schemas": TypegenOptions(schemas=None),
            "internal_no_o2o": TypegenOptions(
                schemas=("public", "Sales Team"),
                detect_one_to_one=False,
                postgrest_version="13.0.5",
            ),
            "nothing": TypegenOptions(schemas=("no_such_schema",)),
        }.items()
        for version in VERSIONS
    }
    with pgtools.connect(fresh_db_url) as conn:
        for label, options in variants.items():
            target = tmp_path / f"generated_{label}.ts"
            target.write_text(generate_typescript(introspect(conn, options), options))
            files.append(str(target))
    result = subprocess.run(
        [tsc, "--noEmit", "--strict", "--target", "es2020", "--skipLibCheck", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
