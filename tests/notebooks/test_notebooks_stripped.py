"""The assignment's three notebooks are in git without outputs: no output and no execution
count in any code cell (strip them with ``.venv/bin/nbstripout notebooks/*.ipynb``)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
STRIP = "strip them with `.venv/bin/nbstripout notebooks/*.ipynb`"


def unstripped_cells(notebook: nbformat.NotebookNode) -> list[int]:
    """The indices of the code cells that hold outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]


def test_the_assignment_s_three_notebooks_are_there() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == [
        "consumer",
        "producer",
        "streaming",
    ]


@pytest.mark.parametrize("name", ["producer", "streaming", "consumer"])
def test_a_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 2
    dirty = unstripped_cells(notebook)
    assert not dirty, f"{name}.ipynb: code cells {dirty} hold outputs: {STRIP}."


def test_an_executed_cell_is_caught() -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("1 + 1"), nbformat.v4.new_code_cell("2 + 2")]
    )
    assert unstripped_cells(notebook) == []
    notebook.cells[1].execution_count = 1
    notebook.cells[1].outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "4"}, execution_count=1)
    ]
    assert unstripped_cells(notebook) == [1]
    notebook.cells[1].outputs = []
    assert unstripped_cells(notebook) == [1]  # the count alone gives it away
