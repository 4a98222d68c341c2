"""Every requirement in pyproject.toml has an upper bound (the next major release, or the next
minor of a 0.x package: a new major may break the API the code relies on), and what is
installed fits the ranges (a bound that excludes the tested version is a typo)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"
CAPPING = {"<", "<=", "==", "===", "~="}  # operators that bound a version from above


def requirements() -> list[tuple[str, Requirement]]:
    """(where, requirement) for the build system, the dependencies and every extra; the
    project's references to its own extras are left out."""
    data = tomllib.loads(PYPROJECT.read_text())
    project = data["project"]
    found = [("build-system", Requirement(r)) for r in data["build-system"]["requires"]]
    found += [("dependencies", Requirement(r)) for r in project["dependencies"]]
    for extra, reqs in project["optional-dependencies"].items():
        found += [(f"[{extra}]", Requirement(r)) for r in reqs]
    return [(where, req) for where, req in found if req.name != project["name"]]


def upper_bound(spec: SpecifierSet) -> Version | None:
    bounds = [Version(s.version.rstrip(".*")) for s in spec if s.operator in CAPPING]
    return min(bounds) if bounds else None


def test_every_requirement_has_an_upper_bound() -> None:
    unbounded = [
        f"{where} {req}" for where, req in requirements() if upper_bound(req.specifier) is None
    ]
    assert not unbounded, f"no upper bound (add '<NEXT_MAJOR'): {unbounded}"


def test_installed_versions_fit_the_ranges() -> None:
    outside = []
    checked = 0
    for where, req in requirements():
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            continue  # an extra not installed here (or the build backend)
        checked += 1
        if not req.specifier.contains(installed, prereleases=True):
            outside.append(f"{where} {req}: installed {installed}")
    if checked == 0:
        pytest.skip("none of the requirements is installed")
    assert not outside, outside


def test_a_missing_bound_is_found() -> None:
    assert upper_bound(SpecifierSet(">=1.5")) is None
    assert upper_bound(SpecifierSet(">=1.5,!=1.7")) is None
    assert upper_bound(SpecifierSet(">=1.5,<2")) == Version("2")
    assert upper_bound(SpecifierSet("~=1.5")) == Version("1.5")
    assert upper_bound(SpecifierSet("==1.5.*")) == Version("1.5")
