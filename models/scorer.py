"""The scorer: a saved xgboost booster and its feature encoding, feature rows in, probabilities out.

A model folder holds ``booster.ubj`` (the trees, in xgboost's own binary JSON) and
``metadata.json`` (the encoding, the threshold, the booster's SHA-256 digest). Every consumer of
a model scores through :class:`Scorer`: training picks its threshold with it, evaluation reports
with it, and the engine calls it inside the fold. The booster predicts on the float32 matrix of
:func:`models.feature_vectors.feature_matrix` with one thread, so the same features give
bit-identical probabilities wherever they are scored.

:func:`load_scorer` keeps one scorer per (folder, digest) for the life of the process, so that a
Spark Python worker reads and checks the booster once, not once per batch.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fraudlab.errors import UsageError
from fraudlab.explanation import Explanation
from models.explanations import DEFAULT_TOP, explanations
from models.feature_vectors import FeatureEncoding, feature_matrix

if TYPE_CHECKING:
    import pandas as pd
    import xgboost

BOOSTER_FILE = "booster.ubj"
METADATA_FILE = "metadata.json"

_loaded: dict[tuple[Path, str], Scorer] = {}


@dataclass(frozen=True, eq=False)
class Scorer:
    """A booster with what it takes to score: the encoding, the threshold, the model's identity."""

    booster: xgboost.Booster
    encoding: FeatureEncoding
    threshold: float
    name: str
    digest: str

    def probabilities(
        self, rows: pd.DataFrame | Sequence[Mapping[str, Any]]
    ) -> npt.NDArray[np.float64]:
        """The fraud probability of each feature row, in row order."""
        matrix = feature_matrix(rows, self.encoding)
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.float64)
        predicted = self.booster.inplace_predict(matrix, validate_features=False)
        return np.asarray(predicted, dtype=np.float64)

    def explain(
        self, rows: pd.DataFrame | Sequence[Mapping[str, Any]], top: int = DEFAULT_TOP
    ) -> list[Explanation]:
        """Why the booster scored each feature row so: its ``top`` feature contributions, the
        rest and the bias, in log-odds (:mod:`models.explanations`), in row order."""
        return explanations(self.booster, self.encoding, rows, top)


def booster_digest(data: bytes) -> str:
    """The SHA-256 of a saved booster's bytes: what a model's ``digest`` names."""
    return hashlib.sha256(data).hexdigest()


def read_booster(folder: Path, data: bytes) -> xgboost.Booster:
    """A booster from saved bytes, set to predict on one thread; a UsageError naming ``folder``."""
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgboost.core.XGBoostError as exc:
        # xgboost prefixes its messages with a time and a source location
        lines = str(exc).strip().splitlines() or ["unreadable"]
        first = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", lines[0])[:200]
        raise UsageError(
            f"model folder {folder} holds a {BOOSTER_FILE} that xgboost cannot read ({first})."
        ) from None
    booster.set_param({"nthread": 1})
    return booster


def load_scorer(folder: Path, digest: str) -> Scorer:
    """The scorer of the model in ``folder`` whose booster has ``digest``, read once per process."""
    key = (Path(folder), digest)
    scorer = _loaded.get(key)
    if scorer is None:
        scorer = _loaded[key] = _read_scorer(key[0], digest)
    return scorer


def _read_scorer(folder: Path, digest: str) -> Scorer:
    try:
        data = (folder / BOOSTER_FILE).read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"model folder {folder} is incomplete: {BOOSTER_FILE} is missing."
        ) from None
    if booster_digest(data) != digest:
        raise UsageError(
            f"model folder {folder} is corrupt: its {BOOSTER_FILE} does not match digest "
            f"{digest[:12]}."
        )
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text())
        encoding = FeatureEncoding.from_dict(metadata["encoding"])
        threshold = float(metadata["threshold"])
        name = str(metadata["name"])
    except FileNotFoundError:
        raise UsageError(
            f"model folder {folder} is incomplete: {METADATA_FILE} is missing."
        ) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(
            f"model folder {folder} is corrupt: {METADATA_FILE} is unreadable ({exc!r})."
        ) from None
    return Scorer(read_booster(folder, data), encoding, threshold, name, digest)
