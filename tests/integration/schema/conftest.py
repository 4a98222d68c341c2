"""Fixtures for the schema integration tests: the typegen goldens and how to load them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctas7_panel import pgtools
from ctas7_panel.schema.options import TypegenOptions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "typegen"


@dataclass(frozen=True)
class Goldens:
    """The typegen fixture set: SQL, expected TypeScript, generator settings."""

    root: Path = FIXTURES

    def options(self, name: str) -> TypegenOptions:
        """The generator settings a golden was made with (its ``.options`` file)."""
        text = (self.root / "golden" / f"{name}.options").read_text()
        match = re.search(r"INCLUDED_SCHEMAS=(?:'([^']*)'|(\S+))", text)
        assert match, f"no INCLUDED_SCHEMAS in {name}.options"
        schemas = tuple((match.group(1) or match.group(2)).split(","))
        one_to_one = "DETECT_ONE_TO_ONE_RELATIONSHIPS=true" in text
        return TypegenOptions(schemas=schemas, detect_one_to_one=one_to_one)

    def expected(self, name: str) -> str:
        return (self.root / "golden" / f"{name}.ts").read_text()

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
