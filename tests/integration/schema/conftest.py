"""Fixtures for the schema integration tests: the typegen goldens and how to load them."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema import reference
from ctas7_panel.schema.options import TypegenOptions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "typegen"


@dataclass(frozen=True)
class Goldens:
    """The typegen fixture set: SQL, expected output per generator version, settings.

    ``golden/`` holds postgres-meta 0.98.0's outputs, ``golden-0.99.0/`` 0.99.0's.
    """

    root: Path = FIXTURES

    def folder(self, version: str = "0.98.0") -> Path:
        return self.root / ("golden" if version == "0.98.0" else f"golden-{version}")

    def options(self, name: str, version: str = "0.98.0") -> TypegenOptions:
        """The generator settings a golden was made with (its ``.options`` file)."""
        text = (self.folder(version) / f"{name}.options").read_text()
        match = re.search(r"INCLUDED_SCHEMAS=(?:'([^']*)'|(\S+))", text)
        assert match, f"no INCLUDED_SCHEMAS in {name}.options"
        schemas = tuple((match.group(1) or match.group(2)).split(","))
        one_to_one = "DETECT_ONE_TO_ONE_RELATIONSHIPS=true" in text
        postgrest = re.search(r"POSTGREST_VERSION=(\S+)", text)
        return TypegenOptions(
            schemas=schemas,
            detect_one_to_one=one_to_one,
            postgrest_version=postgrest.group(1) if postgrest else None,
            pg_meta_version=version,
        )

    def expected(self, name: str, version: str = "0.98.0") -> str:
        return (self.folder(version) / f"{name}.ts").read_text()

    def sql(self, name: str) -> str:
        path = self.root / "schemas" / f"{name}.sql"
        return (path if path.exists() else self.root / "extra" / f"{name}.sql").read_text()

    def load(self, url: str, name: str) -> None:
        """Run the SQL; big scripts go in batches so no transaction needs more locks than a
        default server allows."""
        text = self.sql(name)
        if len(text) < 100_000:
            pgtools.apply_sql(url, text)
            return
        statements = [s for s in re.split(r";\s*\n", text) if s.strip()]
        for start in range(0, len(statements), 300):
            pgtools.apply_sql(url, ";\n".join(statements[start : start + 300]) + ";\n")


@pytest.fixture(scope="session")
def goldens() -> Goldens:
    return Goldens()


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def install_reference(version: str) -> None:
    """``npm ci`` in the version's project when it is not installed (one process at a time)."""
    project = reference.project_dir(version)
    with open(project / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if reference.is_installed(version):
            return
        subprocess.run(reference.install_command(version), cwd=project, check=True, timeout=900)


@pytest.fixture(scope="session")
def reference_versions() -> tuple[str, ...]:
    """Every postgres-meta version of ``tests/refgen``, installed from npm when missing.

    Without node/npm the tests that need the oracle are skipped, except under ``CI=true``.
    """
    if shutil.which("node") is None or shutil.which("npm") is None:
        reason = "node/npm not installed: the typegen oracle (postgres-meta) cannot run"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    for version in reference.REFERENCE_VERSIONS:
        install_reference(version)
    return reference.REFERENCE_VERSIONS


@pytest.fixture(scope="session")
def reference_servers(reference_versions: tuple[str, ...]) -> Iterator[reference.ReferenceServers]:
    """One long-lived postgres-meta process per version (``tests/refgen/driver.mjs``), for
    the whole session: the differential test's hundreds of outputs cost one Node start each
    otherwise. ``test_schema_reference.py`` checks that it prints what one-shot mode prints."""
    with reference.ReferenceServers() as servers:
        yield servers


class Tally(list):  # type: ignore[type-arg]
    """The comparisons made so far; a short repr (Hypothesis prints the test's arguments)."""

    def __repr__(self) -> str:
        return f"<{len(self)} typegen comparisons>"


DIFF_OUTCOMES = pytest.StashKey[Tally]()


@pytest.fixture(scope="session")
def differential_outcomes(request: pytest.FixtureRequest) -> Tally:
    """Every comparison the differential typegen tests made, for the end-of-run tally."""
    return request.config.stash.setdefault(DIFF_OUTCOMES, Tally())


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    outcomes = config.stash.get(DIFF_OUTCOMES, None)
    if outcomes:
        from ctas7_panel.schema.differential import tally

        terminalreporter.write_sep("-", "typegen differential (ours vs postgres-meta from npm)")
        kinds: dict[str, list[str]] = {}
        for o in outcomes:
            if o.verdict == "deviation":
                reason = o.detail.splitlines()[0][:90] if o.detail else "(no detail)"
                kinds.setdefault(reason, []).append(f"{o.case}/{o.lang}/{o.version}")
        for reason, where in sorted(kinds.items()):
            terminalreporter.write_line(f"deviation x{len(where)}: {reason}: {', '.join(where)}")
        terminalreporter.write_line(tally(outcomes))
