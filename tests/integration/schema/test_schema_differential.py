"""Differential typegen: ours against Supabase's generator from npm, byte for byte.

Both reference versions (``tests/refgen``), every language our dispatcher speaks
(``ctas7_panel.schema.languages``; TypeScript alone without it), on
- the shared goldens' schemas (their SQL and options),
- hand-written schemas of the shapes public Supabase projects have
  (``tests/fixtures/typegen/diff/*.sql``, each naming its schema list),
- Hypothesis-generated schemas (``ctas7_panel.schema.randschema``; derandomized here,
  ``benchmarks/typegen_diff.py`` runs more, with fresh seeds).
Every comparison must be identical or a documented deviation (``docs/typegen.md``); the tally
is printed at the end of the run. The reference runs in one long-lived Node process per
version (``reference_servers``), each schema in one fresh database.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ctas7_panel.schema.differential import Case, Outcome, run_case
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.randschema import DatabaseSpec, databases
from ctas7_panel.schema.reference import ReferenceServers

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "typegen"
HAND_WRITTEN = sorted((FIXTURES / "diff").glob("*.sql"))
GOLDEN_SCHEMAS = ["ctas7_core", "ctas7_supabase_like", "edge_cases", "feature_matrix"]

pytestmark = pytest.mark.timeout(900)


def _run(
    admin_url: str, case: Case, versions: tuple[str, ...], servers: ReferenceServers
) -> list[Outcome]:
    """Every language x version of ``case``, all requests to the long-lived references at once."""
    return run_case(admin_url, case, versions=versions, run=servers.run, workers=8)


def _check(outcomes: list[Outcome], tally: list[Outcome], sql: str | None = None) -> None:
    tally.extend(outcomes)
    bad = [o for o in outcomes if o.verdict == "mismatch"]
    if bad:
        shown = "\n\n".join(f"{o.case} {o.lang} {o.version}:\n{o.detail}" for o in bad)
        pytest.fail(
            f"{len(bad)} mismatches against the reference:\n{shown}"
            + (f"\n\nschema:\n{sql}" if sql else "")
        )


def test_hand_written_schemas_are_many_and_distinct() -> None:
    assert len(HAND_WRITTEN) >= 10
    texts = [p.read_text() for p in HAND_WRITTEN]
    assert all(t.startswith("-- schemas: ") for t in texts)
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("name", GOLDEN_SCHEMAS)
def test_golden_schemas(
    name: str,
    pg_admin_url: str,
    reference_versions,
    reference_servers,
    goldens,
    differential_outcomes,  # type: ignore[no-untyped-def]
) -> None:
    case = Case(name, goldens.sql(name), goldens.options(name))
    _check(_run(pg_admin_url, case, reference_versions, reference_servers), differential_outcomes)


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: p.stem)
def test_hand_written_schemas(
    path: Path,
    pg_admin_url: str,
    reference_versions,
    reference_servers,
    differential_outcomes,  # type: ignore[no-untyped-def]
) -> None:
    case = Case.from_file(path)
    _check(_run(pg_admin_url, case, reference_versions, reference_servers), differential_outcomes)


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=databases())
def test_generated_schemas(
    spec: DatabaseSpec,
    pg_admin_url: str,
    reference_versions,
    reference_servers,
    differential_outcomes,  # type: ignore[no-untyped-def]
) -> None:
    sql = spec.sql()
    name = f"generated_{hashlib.sha256(sql.encode()).hexdigest()[:8]}"
    case = Case(name, sql, TypegenOptions(schemas=spec.included))
    outcomes = _run(pg_admin_url, case, reference_versions, reference_servers)
    _check(outcomes, differential_outcomes, sql)
