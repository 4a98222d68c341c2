"""Nightly-style differential typegen run: many more generated schemas than the test suite.

Ours against postgres-meta 0.98.0 and 0.99.0 from npm (``tests/refgen``, installed when
missing), every language of the dispatcher, on ``--examples`` Hypothesis-generated schemas
drawn from ``--seed`` (default: a fresh one, printed so a failure can be replayed), plus the
hand-written schemas and the goldens' schemas unless ``--generated-only``. Prints every
mismatch with its schema, then the tally and the load average. Exit 1 on any mismatch.
The references run in one long-lived Node process per version (``reference.ReferenceServers``,
as in the test suite); ``--one-shot`` starts one per output, as the Supabase CLI does.

    .venv/bin/python benchmarks/typegen_diff.py [--examples 100] [--seed N] [--generated-only]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from ctas7_panel.schema import reference
from ctas7_panel.schema.differential import Case, Outcome, report, run_case, tally
from ctas7_panel.schema.options import TypegenOptions
from ctas7_panel.schema.randschema import example_specs

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "typegen"
GOLDEN_SCHEMAS = ["ctas7_core", "ctas7_supabase_like", "edge_cases", "feature_matrix"]


def golden_case(name: str) -> Case:
    text = (FIXTURES / "golden" / f"{name}.options").read_text()
    match = re.search(r"INCLUDED_SCHEMAS=(?:'([^']*)'|(\S+))", text)
    assert match is not None, name
    schemas = tuple((match.group(1) or match.group(2)).split(","))
    return Case(name, (FIXTURES / "schemas" / f"{name}.sql").read_text(), TypegenOptions(schemas))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--generated-only", action="store_true")
    parser.add_argument("--one-shot", action="store_true", help="one Node process per output")
    parser.add_argument("--admin-url", default=os.environ.get("CTAS7_TEST_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.admin_url:
        print("set CTAS7_TEST_DATABASE_URL or pass --admin-url", file=sys.stderr)
        return 2
    for version in reference.REFERENCE_VERSIONS:
        if not reference.is_installed(version):
            subprocess.run(
                reference.install_command(version), cwd=reference.project_dir(version), check=True
            )
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}", flush=True)
    cases: list[Case] = []
    if not args.generated_only:
        cases += [golden_case(name) for name in GOLDEN_SCHEMAS]
        cases += [Case.from_file(p) for p in sorted((FIXTURES / "diff").glob("*.sql"))]
    for i, spec in enumerate(example_specs(args.examples, seed)):
        cases.append(Case(f"generated_{i}", spec.sql(), TypegenOptions(schemas=spec.included)))
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with reference.ReferenceServers() as servers:
        run = None if args.one_shot else servers.run
        for case in cases:
            try:
                found = run_case(args.admin_url, case, run=run, workers=4 if run is None else 8)
            except reference.ReferenceError as exc:  # e.g. SQL the server rejects
                print(f"skipped {case.name}: {exc}", flush=True)
                continue
            outcomes += found
            bad = [o for o in found if o.verdict == "mismatch"]
            if bad:
                print(f"--- {case.name}: {len(bad)} mismatches; schema:\n{case.sql}", flush=True)
            print(f"{case.name}: {tally(found)}", flush=True)
    report(outcomes)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{time.perf_counter() - started:.0f} s, load average {load}, seed {seed}")
    return 1 if any(o.verdict == "mismatch" for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
