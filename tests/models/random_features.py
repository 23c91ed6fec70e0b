"""Feature rows drawn at random, one column per feature of the contract: for tests of the
scorer and its explanations that need a booster trained on something."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.definition import FEATURES

METHODS = ("Gopay", "OVO", "Credit Card")


def random_features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """``n`` rows: each category feature one of :data:`METHODS`, each number normal with a
    standard deviation of 100; drawn from ``rng``, which the caller draws on afterwards."""
    data: dict[str, Any] = {}
    for name, kind in FEATURES.items():
        if kind == "category":
            data[name] = [METHODS[i] for i in rng.integers(0, len(METHODS), n)]
        else:
            data[name] = rng.normal(size=n) * 100.0
    return pd.DataFrame(data)
