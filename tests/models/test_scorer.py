"""The scorer: a saved booster scores rows the same after a reload, and is read once per process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost
from random_features import random_features

from fraudlab.errors import UsageError
from models.feature_vectors import encoding_for, feature_matrix
from models.scorer import BOOSTER_FILE, METADATA_FILE, Scorer, booster_digest, load_scorer


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = random_features(rng, n)
    risk = rows["total_amount"] + 80.0 * (rows["payment_method"] == "OVO") + rng.normal(size=n) * 50
    rows["label"] = (risk > 150.0).astype(float)
    return rows


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, str, pd.DataFrame]:
    """A small booster trained on random rows, saved in a model folder the way training saves it."""
    rows = _rows(400, 0)
    encoding = encoding_for(rows)
    booster = xgboost.train(
        {"objective": "binary:logistic", "max_depth": 3, "nthread": 1, "seed": 1},
        xgboost.DMatrix(feature_matrix(rows, encoding), label=rows["label"]),
        num_boost_round=20,
    )
    raw = bytes(booster.save_raw("ubj"))
    folder = tmp_path / "small"
    folder.mkdir()
    (folder / BOOSTER_FILE).write_bytes(raw)
    metadata = {"name": "small", "threshold": 0.4, "encoding": encoding.to_dict()}
    (folder / METADATA_FILE).write_text(json.dumps(metadata, sort_keys=True))
    return folder, booster_digest(raw), rows


def test_probabilities_are_bit_identical_after_a_reload(
    saved: tuple[Path, str, pd.DataFrame],
) -> None:
    folder, digest, _ = saved
    scorer = load_scorer(folder, digest)
    assert (scorer.name, scorer.threshold, scorer.digest) == ("small", 0.4, digest)
    rows = _rows(300, 1)
    probs = scorer.probabilities(rows)
    assert probs.dtype == np.float64 and probs.shape == (300,)
    assert 0.0 < probs.min() < 0.5 < probs.max() < 1.0

    booster = xgboost.Booster()
    booster.load_model(str(folder / BOOSTER_FILE))
    again = Scorer(booster, scorer.encoding, scorer.threshold, scorer.name, digest)
    assert again.probabilities(rows).tobytes() == probs.tobytes()
    # a list of dicts (one row at a time, as in a stream) scores the same as the frame
    records = rows.to_dict("records")
    one_by_one = np.concatenate([scorer.probabilities([r]) for r in records[:25]])
    assert one_by_one.tobytes() == probs[:25].tobytes()
    assert scorer.probabilities(records).tobytes() == probs.tobytes()
    assert scorer.probabilities([]).shape == (0,)


def test_a_scorer_is_read_once_per_folder_and_digest(
    saved: tuple[Path, str, pd.DataFrame],
) -> None:
    folder, digest, _ = saved
    first = load_scorer(folder, digest)
    assert load_scorer(folder, digest) is first
    assert load_scorer(Path(str(folder)), digest) is first


def test_a_booster_that_does_not_match_its_digest_is_corrupt(
    saved: tuple[Path, str, pd.DataFrame],
) -> None:
    folder, _, _ = saved
    booster = folder / BOOSTER_FILE
    booster.write_bytes(booster.read_bytes() + b"\0")
    with pytest.raises(UsageError, match=f"model folder {folder} is corrupt"):
        load_scorer(folder, "0" * 64)


def test_a_damaged_booster_is_one_sentence_naming_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "damaged"
    folder.mkdir()
    garbage = b"{not a booster"
    (folder / BOOSTER_FILE).write_bytes(garbage)
    (folder / METADATA_FILE).write_text(
        json.dumps(
            {"name": "damaged", "threshold": 0.5, "encoding": encoding_for(_rows(5, 0)).to_dict()}
        )
    )
    with pytest.raises(UsageError) as caught:
        load_scorer(folder, booster_digest(garbage))
    message = str(caught.value)
    assert message.startswith(f"model folder {folder} holds a {BOOSTER_FILE} that xgboost cannot")
    assert "\n" not in message and message.endswith(".")


def test_a_missing_booster_is_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"{BOOSTER_FILE} is missing"):
        load_scorer(tmp_path, "0" * 64)
