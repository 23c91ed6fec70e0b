"""The settings file of a test that runs ``fraudlab`` commands as a user would: the session's
broker, a folder of models, and the test's own archive, checkpoints and logs."""

from __future__ import annotations

from pathlib import Path

from fraudlab.settings import Settings, settings_toml

__all__ = ["own_run_settings"]


def own_run_settings(settings: Settings, models_dir: Path, root: Path) -> Path:
    """Write ``root/fraudlab.toml``: ``settings`` with ``models_dir`` and the archive,
    checkpoints and logs under ``root``, Spark's driver at 1 GiB; its path."""
    own = settings.model_copy(
        update={
            "models_dir": models_dir,
            "archive_dir": root / "archive",
            "checkpoint_dir": root / "checkpoints",
            "logs_dir": root / "logs",
            "spark_driver_memory": "1g",
        }
    )
    path = root / "fraudlab.toml"
    path.write_text(settings_toml(own))
    return path
