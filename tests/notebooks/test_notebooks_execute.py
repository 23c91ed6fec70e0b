"""The assignment's three notebooks executed end to end, as a user runs them: each on a kernel
of the project's venv (nbclient, kernel ``python3``), its runs on the session's real broker,
scored by the engine's own Spark, archived into this module's folders (``FRAUDLAB_SETTINGS_FILE``
points the kernel at them), with the default model the project ships.

A check cell is added after each notebook's own cells, so that a notebook that runs but shows
nothing fails. A failing cell fails the test with its source and error. Each notebook's wall
time is written on the suite's output, and its executed copy kept in the test's tmp folder."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from run_settings import own_run_settings

from fraudlab.settings import Settings
from lab.default_model import install

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CELL_TIMEOUT_S = 300
# what each notebook must have shown, checked in its kernel after its last cell
CHECKS = {
    "producer": (
        "assert status.archived and status.state == 'complete', status\n"
        "assert report['events'] > 0 and report['transactions'] > 0, report"
    ),
    "streaming": (
        "assert len(scores) > 0 and scores.prediction.sum() > 0, len(scores)\n"
        "assert len(alerts) > 0 and len(top) > 0, (len(alerts), len(top))\n"
        "assert report['status'] == 'complete', report['status']"
    ),
    "consumer": (
        "assert shown.stopped == 'ended' and shown.pushes > 0, shown\n"
        "assert len(shown.charts.timeline.data['window_end']) > 0\n"
        "assert run.status().state == 'complete'"
    ),
}


@pytest.fixture(scope="module")
def notebook_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A settings file for the notebooks' kernels: the session's broker, this module's own
    folders, and the shipped default model installed into its models folder."""
    root = tmp_path_factory.mktemp("notebooks")
    install(settings.model_copy(update={"models_dir": root / "models"}))
    return own_run_settings(settings, root / "models", root)


@pytest.mark.parametrize("name", ["producer", "streaming", "consumer"])
def test_the_notebook_runs_end_to_end(
    name: str,
    notebook_settings: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: pytest.RecordProperty,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("FRAUDLAB_SETTINGS_FILE", str(notebook_settings))
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    own_cells = len(notebook.cells)
    # the kernel is the venv's own Python (nbclient's python3 resolves to sys.executable)
    notebook.cells.insert(
        0,
        nbformat.v4.new_code_cell(
            f"import sys\nassert sys.executable == {sys.executable!r}, sys.executable"
        ),
    )
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS[name]))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    started = time.monotonic()
    executed = tmp_path / f"{name}.ipynb"
    try:
        client.execute()
    except CellExecutionError as failed:
        pytest.fail(f"notebooks/{name}.ipynb failed (run: {executed}):\n{failed}", pytrace=False)
    finally:
        # what it showed, for a look afterwards
        nbformat.write(notebook, executed)
    took = time.monotonic() - started
    line = f"notebooks/{name}.ipynb: {own_cells} cells executed in {took:.1f} s"
    record_property("notebook", line)
    # on the suite's own output (stderr reaches it from pytest-xdist's workers too)
    with capsys.disabled():
        print(f"\n{line}", file=sys.stderr, flush=True)
