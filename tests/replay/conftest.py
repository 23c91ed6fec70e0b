"""Fixtures of the replay tests: a unique run id and an archive folder per test."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from fraudlab.settings import Settings


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A run id no other test uses (topics of every test share the session's broker)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def offline_settings(base_settings: Settings, archive_dir: Path) -> Settings:
    """Settings for tests without a broker, with an archive folder of the test's own."""
    return base_settings.model_copy(update={"archive_dir": archive_dir})
