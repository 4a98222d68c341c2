"""The oracle: Supabase's generator from npm, both versions, reproduces the shared goldens.

If these fail, the differential test compares against the wrong thing; they pin the oracle's
setup (versions, prettier pin, environment, locale) to what made the goldens.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.errors import UsageError
from ctas7_panel.schema import reference
from ctas7_panel.schema.options import TypegenOptions

SHARED = Path(__file__).resolve().parents[2] / "fixtures" / "typegen"

pytestmark = pytest.mark.timeout(900)  # the first use may install both versions from npm


@pytest.mark.parametrize("version", reference.REFERENCE_VERSIONS)
def test_oracle_reproduces_golden(
    version: str, reference_versions: tuple[str, ...], fresh_db_url: str, goldens
) -> None:  # type: ignore[no-untyped-def]
    goldens.load(fresh_db_url, "ctas7_core")
    options = goldens.options("ctas7_core", version)
    text = reference.run_reference(fresh_db_url, version, options)
    assert text == goldens.expected("ctas7_core", version)


def _output(run, *args, **kwargs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """("ok", text) or ("failed", the error's message line) of one reference run."""
    try:
        return ("ok", run(*args, **kwargs))
    except reference.ReferenceFailure as exc:
        return ("failed", exc.message)


def test_long_lived_driver_prints_what_one_shot_prints(
    reference_versions: tuple[str, ...],
    reference_servers: reference.ReferenceServers,
    pg_admin_url: str,
    goldens,  # type: ignore[no-untyped-def]
) -> None:
    """``ReferenceServers`` (one Node process per version, what the differential test uses)
    against the one-shot mode the Supabase CLI runs: every language, both versions, the same
    text or the same crash, on a schema the driver meets after serving another one
    (``feature_matrix``: 0.98.0's Python generator crashes on it, nothing else does)."""
    with (
        pgtools.temporary_database(pg_admin_url, prefix="ctas7_refdrv_") as first,
        pgtools.temporary_database(pg_admin_url, prefix="ctas7_refdrv_") as second,
    ):
        goldens.load(first, "edge_cases")
        goldens.load(second, "feature_matrix")
        keys = [
            (version, lang, access)
            for version in reference_versions
            for lang, access in [
                ("typescript", None),
                ("python", None),
                ("go", None),
                ("swift", "internal"),
                ("swift", "public"),
            ]
        ]
        for version, lang, access in keys:  # the driver has generated something else first
            options = goldens.options("edge_cases", version)
            _output(
                reference_servers.run, first, version, options, lang=lang,
                swift_access_control=access,
            )  # fmt: skip

        def both(key: tuple[str, str, str | None]) -> tuple[tuple[str, str], tuple[str, str]]:
            version, lang, access = key
            options = goldens.options("feature_matrix", version)
            kwargs = {"lang": lang, "swift_access_control": access}
            return (
                _output(reference_servers.run, second, version, options, **kwargs),
                _output(reference.run_reference, second, version, options, **kwargs),
            )

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(zip(keys, pool.map(both, keys), strict=True))
    for key, (driver, one_shot) in results.items():
        assert driver == one_shot, key
    failed = {key for key, (driver, _) in results.items() if driver[0] == "failed"}
    assert failed == {("0.98.0", "python", None)}


def test_driver_failure_names_the_error(reference_servers: reference.ReferenceServers) -> None:
    url = "postgresql://postgres@127.0.0.1:1/nothing_listens_here"
    with pytest.raises(reference.ReferenceFailure) as info:
        reference_servers.run(url, "0.99.0", TypegenOptions(), timeout=120)
    assert "ECONNREFUSED" in info.value.message
    # the process survives a failed request
    with pytest.raises(reference.ReferenceFailure, match="ECONNREFUSED"):
        reference_servers.run(url, "0.98.0", TypegenOptions(), lang="go", timeout=120)


def test_oracle_failure_names_the_error(reference_versions: tuple[str, ...]) -> None:
    url = "postgresql://postgres@127.0.0.1:1/nothing_listens_here"
    with pytest.raises(reference.ReferenceFailure) as info:
        reference.run_reference(url, "0.99.0", TypegenOptions(), timeout=120)
    assert info.value.returncode != 0
    assert "ECONNREFUSED" in info.value.message


def test_missing_install_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(reference.ReferenceNotInstalled, match="npm ci"):
        reference.run_reference("postgresql://x/y", "0.98.0", TypegenOptions(), refgen_dir=tmp_path)
    with pytest.raises(UsageError, match=r"0\.98\.0, 0\.99\.0"):
        reference.run_reference("postgresql://x/y", "0.97.0", TypegenOptions())


def test_environment_is_the_cli_one() -> None:
    base = {"PATH": "/bin", "LC_ALL": "sv_SE.UTF-8", "PG_META_GENERATE_TYPES_DEFAULT_SCHEMA": "x"}
    env = reference.environment(
        "postgresql://h/db",
        TypegenOptions(schemas=("public", " api"), detect_one_to_one=False, postgrest_version="13"),
        lang="swift",
        swift_access_control="public",
        base=base,
    )
    assert env == {
        "PATH": "/bin",
        "LANG": "C.UTF-8",
        "PG_META_DB_URL": "postgresql://h/db",
        "PG_META_GENERATE_TYPES": "swift",
        "PG_META_GENERATE_TYPES_DETECT_ONE_TO_ONE_RELATIONSHIPS": "false",
        "PG_META_GENERATE_TYPES_INCLUDED_SCHEMAS": "public, api",
        "PG_META_POSTGREST_VERSION": "13",
        "PG_META_GENERATE_TYPES_SWIFT_ACCESS_CONTROL": "public",
    }
    with pytest.raises(UsageError, match="kotlin"):
        reference.environment("postgresql://h/db", TypegenOptions(), lang="kotlin")


def test_socket_urls_get_a_host_node_accepts() -> None:
    url = "postgresql://postgres:@/db_1?host=/tmp/pg-x/pg"
    assert reference.node_url(url) == "postgresql://postgres:@localhost/db_1?host=/tmp/pg-x/pg"
    assert reference.node_url("postgresql://u@h:5433/d") == "postgresql://u@h:5433/d"
