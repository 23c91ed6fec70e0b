"""Feature rows to model inputs: one encoding, for pandas frames and lists of dicts alike."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.definition import CATEGORY_FEATURES, FEATURES, NUMERIC_FEATURES
from models.feature_vectors import FeatureEncoding, encoding_for, feature_matrix, feature_names


def _row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        name: ("OVO" if kind == "category" else float(i))
        for i, (name, kind) in enumerate(FEATURES.items())
    }
    return {**row, **overrides}


@pytest.fixture
def training_rows() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row(payment_method="OVO"),
            _row(payment_method="Gopay", total_amount=1.5),
            _row(payment_method=""),
            _row(payment_method=None),
            _row(payment_method="Credit Card"),
            _row(payment_method="OVO"),
        ]
    )


def test_the_encoding_learns_each_category_s_sorted_non_empty_values(
    training_rows: pd.DataFrame,
) -> None:
    encoding = encoding_for(training_rows)
    assert encoding.numeric == NUMERIC_FEATURES
    assert encoding.categories == (("payment_method", ("Credit Card", "Gopay", "OVO")),)
    names = feature_names(encoding)
    assert names[: len(NUMERIC_FEATURES)] == list(NUMERIC_FEATURES)
    assert names[len(NUMERIC_FEATURES) :] == [
        "payment_method=Credit Card",
        "payment_method=Gopay",
        "payment_method=OVO",
    ]
    assert encoding.width == len(names) == len(NUMERIC_FEATURES) + 3


def test_numbers_in_order_then_one_hot_categories_with_unseen_values_all_zeros(
    training_rows: pd.DataFrame,
) -> None:
    encoding = encoding_for(training_rows)
    rows = [
        _row(payment_method="Gopay"),
        _row(payment_method="LinkAja"),  # not seen in training
        _row(payment_method=""),
        _row(payment_method=None),
    ]
    matrix = feature_matrix(rows, encoding)
    assert matrix.dtype == np.float32 and matrix.shape == (4, encoding.width)
    numbers = len(NUMERIC_FEATURES)
    expected = np.array([rows[0][n] for n in NUMERIC_FEATURES], dtype=np.float32)
    assert (matrix[:, :numbers] == expected).all()
    assert matrix[:, numbers:].tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_a_frame_and_a_list_of_dicts_encode_alike(training_rows: pd.DataFrame) -> None:
    encoding = encoding_for(training_rows)
    frame = training_rows.copy()
    frame["total_amount"] = [0.1, 1e9 + 0.3, -2.0, 123456.789, 0.0, 7.0]
    records = frame.to_dict("records")
    from_frame, from_list = feature_matrix(frame, encoding), feature_matrix(records, encoding)
    assert from_frame.tobytes() == from_list.tobytes()
    # float64 features become the float32 nearest to them, as xgboost would round them itself
    column = NUMERIC_FEATURES.index("total_amount")
    assert from_frame[:, column].tolist() == np.float32(frame["total_amount"].to_numpy()).tolist()


def test_missing_numbers_stay_missing_and_missing_features_are_named(
    training_rows: pd.DataFrame,
) -> None:
    encoding = encoding_for(training_rows)
    matrix = feature_matrix([_row(total_amount=None)], encoding)
    assert np.isnan(matrix[0, NUMERIC_FEATURES.index("total_amount")])
    row = _row()
    del row["distance_km"]
    with pytest.raises(ValueError, match="lack the feature 'distance_km'"):
        feature_matrix([row], encoding)
    with pytest.raises(ValueError, match="lack the feature 'payment_method'"):
        feature_matrix(training_rows.drop(columns=list(CATEGORY_FEATURES)), encoding)


def test_no_rows_give_an_empty_matrix(training_rows: pd.DataFrame) -> None:
    encoding = encoding_for(training_rows)
    assert feature_matrix([], encoding).shape == (0, encoding.width)
    assert feature_matrix(training_rows.iloc[:0], encoding).shape == (0, encoding.width)


def test_the_encoding_survives_metadata_json(training_rows: pd.DataFrame) -> None:
    encoding = encoding_for(training_rows)
    # metadata.json is written with sorted keys: the category order must not depend on them
    text = json.dumps({"encoding": encoding.to_dict()}, sort_keys=True)
    assert FeatureEncoding.from_dict(json.loads(text)["encoding"]) == encoding
