"""Saved models: ``models/NAME/`` holds a Spark ML PipelineModel and its metadata.

``metadata.json`` records the training scenario and seed, the features, the operating threshold,
validation metrics and a SHA-256 digest of the saved pipeline; loading checks the digest, so a
damaged folder is reported as such instead of surfacing as a Java stack trace.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudlab.errors import UsageError

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PIPELINE_DIR = "pipeline"
METADATA_FILE = "metadata.json"


def validate_model_name(name: str) -> str:
    """``name`` if it can name a model folder, else a UsageError."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid model name: use letters, digits, '.', '-' or '_'."
        )
    return name


def pipeline_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and bytes of every file of a saved pipeline."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".crc")):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SavedModel:
    """A model folder whose metadata was read and whose digest was checked."""

    name: str
    folder: Path
    metadata: dict[str, Any]

    @property
    def digest(self) -> str:
        return str(self.metadata["digest"])

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    def load_pipeline(self) -> PipelineModel:
        """The Spark PipelineModel; a UsageError naming the folder when Spark cannot read it."""
        from pyspark.ml import PipelineModel

        try:
            return PipelineModel.load(str(self.folder / PIPELINE_DIR))
        except Exception as exc:
            first = (
                str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            )
            raise UsageError(
                f"model folder {self.folder} cannot be loaded by Spark: {first}"
            ) from None


def save_model(
    pipeline: PipelineModel, models_dir: Path, name: str, metadata: dict[str, Any]
) -> SavedModel:
    """Save a pipeline and its metadata (with the digest) under ``models_dir/name``."""
    folder = models_dir / validate_model_name(name)
    pipeline.write().overwrite().save(str(folder / PIPELINE_DIR))
    full = {**metadata, "name": name, "digest": pipeline_digest(folder / PIPELINE_DIR)}
    (folder / METADATA_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    return SavedModel(name, folder, full)


def load_model(models_dir: Path, name: str) -> SavedModel:
    """The saved model ``name``; one-sentence UsageErrors for a missing or damaged folder."""
    folder = models_dir / validate_model_name(name)
    if not folder.is_dir():
        raise UsageError(
            f"no model named {name!r} in {models_dir}: train it with "
            f"`fraudlab train --name {name}` (or `make model` for the default)."
        )
    meta_path = folder / METADATA_FILE
    try:
        metadata = json.loads(meta_path.read_text())
        missing = [k for k in ("digest", "threshold", "features") if k not in metadata]
        if missing:
            raise KeyError(missing[0])
    except FileNotFoundError:
        raise UsageError(
            f"model folder {folder} is incomplete: {METADATA_FILE} is missing."
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UsageError(
            f"model folder {folder} is corrupt: {METADATA_FILE} is unreadable ({exc})."
        ) from None
    pipeline = folder / PIPELINE_DIR
    if not pipeline.is_dir():
        raise UsageError(f"model folder {folder} is incomplete: {PIPELINE_DIR}/ is missing.")
    if pipeline_digest(pipeline) != metadata["digest"]:
        raise UsageError(
            f"model folder {folder} is corrupt: its files do not match the digest in "
            f"{METADATA_FILE}."
        )
    return SavedModel(name, folder, metadata)


def list_models(models_dir: Path) -> list[str]:
    """Names of the folders under ``models_dir`` that hold a model."""
    if not models_dir.is_dir():
        return []
    return sorted(p.name for p in models_dir.iterdir() if (p / METADATA_FILE).is_file())
