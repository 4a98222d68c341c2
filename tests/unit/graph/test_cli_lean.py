"""``ctas7 schema impact`` stays lean: no Panel, Bokeh, pandas or SurrealDB client imported
(in a subprocess), and ``ctas7 graph`` needs the client only when it opens a store."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from ctas7_panel.cli import main
url = "postgresql://nobody@127.0.0.1:1/none"
code = main(["schema", "impact", "public.t.c", "--db-url", url], {})
heavy = sorted(m for m in sys.modules
               if m.split(".")[0] in {"panel", "bokeh", "pandas", "param", "surrealdb"})
print(json.dumps([code, heavy]))
"""


def test_schema_impact_imports_nothing_heavy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    code, heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert code == 2 and heavy == []
    assert "cannot connect to postgresql://nobody@127.0.0.1:1/none" in result.stderr


def test_graph_help_and_bad_usage() -> None:
    from ctas7_panel.cli import main

    assert main(["graph"], {}) == 2
    assert main(["graph", "query", "RETURN 1", "--graph-url", "ftp://x"], {}) == 2
    assert (
        main(["schema", "impact", "t", "--max-hops", "0", "--db-url", "postgresql://x/y"], {}) == 2
    )


def test_without_the_extra_the_mirror_says_how_to_get_it() -> None:
    probe = (
        "import sys; sys.modules['surrealdb'] = None\n"
        "from ctas7_panel.cli import main\n"
        "raise SystemExit(main(['graph', 'query', 'RETURN 1', '--graph-url', 'mem://'], {}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "pip install 'ctas7-panel[graph]'" in result.stderr
