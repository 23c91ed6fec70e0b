"""Fixtures of the engine tests."""

from __future__ import annotations

from typing import Any

import pytest

from fraudlab.settings import Settings


@pytest.fixture(scope="module")
def engine_settings(
    settings: Settings, tiny_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings with the tiny model, and checkpoints and archives of the module's own."""
    return settings.model_copy(
        update={
            "models_dir": tiny_model.folder.parent,
            "checkpoint_dir": tmp_path_factory.mktemp("checkpoints"),
            "archive_dir": tmp_path_factory.mktemp("archive"),
        }
    )
