"""Fixtures of the view tests: archived runs, settings pointing at them, a served Bokeh server
and a headless Chromium.

The archive tests' hand-made run (figures known on paper) is reused from ``tests/archive``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fraudlab.net import free_port
from fraudlab.settings import REPO_ROOT, Settings, load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "archive"))

from served_views import ServedViews, chrome
from view_runs import SMALL, WEAKER, write_empty_run, write_synthetic_run

TEST_OUTPUT = REPO_ROOT / "var" / "test-output" / "viz"


@pytest.fixture(scope="session")
def view_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive folder with two comparable runs, an empty run and the hand-made run."""
    from hand_made_run import write_hand_made_run

    folder = tmp_path_factory.mktemp("view-archive")
    write_synthetic_run(folder, "run-a", SMALL)
    write_synthetic_run(folder, "run-b", WEAKER)
    write_empty_run(folder, "empty")
    write_hand_made_run(folder)
    return folder


@pytest.fixture
def view_settings(view_archive: Path) -> Iterator[Settings]:
    """Settings for the views with the test archive, in force for this test."""
    from viz import context

    settings = load_settings(archive_dir=view_archive, bootstrap_servers="127.0.0.1:9")
    context.configure(settings)
    yield settings
    context.set_live_feed(None)


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where screenshots go (kept after the run, beside the other test output)."""
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="module")
def served_views(
    view_archive: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedViews]:
    """The views served over the test archive, with no Kafka broker to follow."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = ServedViews(view_archive, f"127.0.0.1:{free_port()}", log)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session's browser tests."""
    driver = chrome()
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def fresh_run_folder(tmp_path: Path, view_archive: Path) -> Path:
    """A copy of the test archive this test may change."""
    folder = tmp_path / "archive"
    shutil.copytree(view_archive, folder)
    return folder
