"""Saved models: ``models/NAME/`` holds an xgboost booster and its metadata.

``booster.ubj`` is the booster in xgboost's binary JSON; ``metadata.json`` records the training
scenario and seed, the features and their encoding, the operating threshold, validation metrics,
the xgboost version and the SHA-256 digest of the booster file. Loading checks the digest, so a
damaged folder is reported as such instead of surfacing as an xgboost error.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraudlab.errors import UsageError
from models.scorer import BOOSTER_FILE, METADATA_FILE, Scorer, booster_digest, load_scorer

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# where models saved before the move to xgboost kept their Spark ML PipelineModel
LEGACY_PIPELINE_DIR = "pipeline"
REQUIRED_METADATA = ("digest", "threshold", "features", "encoding")


def validate_model_name(name: str) -> str:
    """``name`` if it can name a model folder, else a UsageError."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid model name: use letters, digits, '.', '-' or '_'."
        )
    return name


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

    def scorer(self) -> Scorer:
        """The model's scorer (read once per process); a UsageError naming the folder."""
        return load_scorer(self.folder, self.digest)


def save_model(booster: bytes, models_dir: Path, name: str, metadata: dict[str, Any]) -> SavedModel:
    """Save a booster (UBJSON bytes) and its metadata, with its digest, in ``models_dir/name``."""
    folder = models_dir / validate_model_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    legacy = folder / LEGACY_PIPELINE_DIR
    if legacy.is_dir():
        shutil.rmtree(legacy)
    (folder / BOOSTER_FILE).write_bytes(booster)
    full = {**metadata, "name": name, "digest": booster_digest(booster)}
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
    booster = folder / BOOSTER_FILE
    if (folder / LEGACY_PIPELINE_DIR).is_dir() and not booster.is_file():
        raise UsageError(
            f"model folder {folder} holds a Spark ML pipeline from an older fraudlab, which no "
            f"longer scores: retrain it (`make model-clean model` for the default, "
            f"`fraudlab train --name {name}` for another)."
        )
    meta_path = folder / METADATA_FILE
    try:
        metadata = json.loads(meta_path.read_text())
        missing = [k for k in REQUIRED_METADATA if k not in metadata]
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
    if not booster.is_file():
        raise UsageError(f"model folder {folder} is incomplete: {BOOSTER_FILE} is missing.")
    if booster_digest(booster.read_bytes()) != metadata["digest"]:
        raise UsageError(
            f"model folder {folder} is corrupt: its files do not match the digest in "
            f"{METADATA_FILE}."
        )
    return SavedModel(name, folder, metadata)


def list_models(models_dir: Path) -> list[str]:
    """Names of the folders under ``models_dir`` that hold a model."""
    if not models_dir.is_dir():
        return []
    return sorted(
        p.name
        for p in models_dir.iterdir()
        if (p / METADATA_FILE).is_file() and NAME_PATTERN.fullmatch(p.name)
    )


CHAMPION = "default"  # the model a run scores with when it names none


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did: the model promoted, the champion it replaced (kept under
    ``kept_as``; None when there was none), and whether anything changed."""

    promoted: SavedModel
    kept_as: str | None
    changed: bool


def promote(models_dir: Path, name: str) -> Promotion:
    """Make model ``name`` the champion: its booster and metadata become ``models_dir/default``
    (the metadata then names ``default``, records ``promoted_from`` and the digest it replaced),
    and the champion it replaces is kept as ``default-<its digest's first 12 hex digits>``, so
    that promoting that name brings it back. Scores name a model by its booster's digest, which
    a promotion keeps. A model already the champion changes nothing.

    The new folder is written beside the old one and swapped in by two renames: a reader never
    sees half a model. UsageErrors, in one sentence: no such model, a damaged one, or
    ``default`` itself.
    """
    if name == CHAMPION:
        raise UsageError(f"{CHAMPION!r} is the champion already: promote another model.")
    chosen = load_model(models_dir, name)
    current = models_dir / CHAMPION
    try:
        old: SavedModel | None = load_model(models_dir, CHAMPION) if current.exists() else None
    except UsageError:  # a damaged champion is kept aside, as it is, and replaced
        old = None
    if old is not None and old.digest == chosen.digest:
        return Promotion(old, None, False)
    staged = models_dir / f".{CHAMPION}.promoting"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    shutil.copyfile(chosen.folder / BOOSTER_FILE, staged / BOOSTER_FILE)
    metadata = {
        **chosen.metadata,
        "name": CHAMPION,
        "promoted_from": name,
        "replaced_digest": None if old is None else old.digest,
    }
    (staged / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    kept_as = None
    if current.exists():
        kept_as = f"{CHAMPION}-{old.digest[:12]}" if old is not None else f"{CHAMPION}-unreadable"
        kept = models_dir / kept_as
        if kept.exists():
            shutil.rmtree(kept)
        current.rename(kept)
        if old is not None:
            kept_metadata = {**old.metadata, "name": kept_as}
            (kept / METADATA_FILE).write_text(
                json.dumps(kept_metadata, indent=2, sort_keys=True) + "\n"
            )
    staged.rename(current)
    return Promotion(load_model(models_dir, CHAMPION), kept_as, True)
