"""Every notebook under ``notebooks/`` runs top to bottom in a real Jupyter kernel, shows no
error and no warning, and leaves no temporary folder behind.

Executed through nbmake (its ``NotebookRun``: the same execution as ``pytest --nbmake``), then
the executed notebook's outputs are read: an error, or anything on stderr (where a warning
goes), fails the test. The kernel gets its own ``TMPDIR`` so the check for left-over
``ctas7-notebook-*`` folders sees only its own. Slow (30-45 s each at load 12-14 on 2 cores):
each notebook runs the real pipeline for 8 s.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbmake.nb_run import NotebookRun

NOTEBOOKS = sorted((Path(__file__).resolve().parents[3] / "notebooks").glob("*.ipynb"))


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Errors and stderr output (warnings), with the cell they came from."""
    found = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {index} wrote to stderr: {out.get('text', '')[:500]}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_clean_and_cleans_up(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the kernel inherits this process's environment
    result = NotebookRun(path, default_timeout=300, kernel="python3").execute()
    if result.error is not None:
        pytest.fail(f"{path.name}: {result.error.summary}\n{result.error.trace}")
    found = problems(result.nb)
    assert not found, "\n".join(found)
    left = sorted(p.name for p in tmp.iterdir() if p.name.startswith("ctas7-notebook-"))
    assert left == [], "the notebook left its temporary folder behind"


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3
