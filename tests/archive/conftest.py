"""Fixtures of the archive tests: a fresh archive folder and a unique run id per test."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraudlab.settings import Settings


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A run id no other test uses (topics of every test share the session's broker)."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"{slug}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def archive_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The session's settings (broker included) with an archive folder of the test's own."""
    return settings.model_copy(update={"archive_dir": tmp_path / "archive"})


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing can be written to: mode 555, or (as root, who ignores modes) a read-only
    tmpfs mounted there."""
    folder = tmp_path / "read-only"
    if os.geteuid() != 0:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if not _mount_tmpfs(folder, "ro,size=1m"):
        pytest.skip("running as root without permission to mount a read-only tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a file system of 1 MiB, to fill up (needs root to mount it)."""
    folder = tmp_path / "tiny-disk"
    if os.geteuid() != 0 or not _mount_tmpfs(folder, "size=1m"):
        pytest.skip("a tiny file system needs root and permission to mount a tmpfs")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)
