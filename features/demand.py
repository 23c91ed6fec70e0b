"""Demand features: what a product's browsing and recent non-fraud sales say about its next sales.

The engine counts, per 30-second event-time window and product, the window's signals (the
*window counts*, columns :data:`COUNT_COLUMNS`): VI product views, units put in carts by ATC
events, CO check-outs, and units sold in non-fraud transactions. Browsing events that name no
product (a CO, or every event of a dataset in the assignment's layout) count on the "" row. One
row per (window, product) that had any activity; windows with none are absent.

:class:`DemandState` folds those counts one window at a time and gives, at each window end ``t``,
the features of every product active in the last :data:`LOOKBACKS_S` [-1] seconds: the product's
views, carts and units, and the shop's totals, over each lookback. The lookbacks are 1 minute
(a flash sale's first minute: its visitors browse before they buy), 5 minutes (a surge shows
within it) and 30 minutes (the default horizon: a product's popularity over that long is read
from dozens of views, not from a handful of sales, and its units over it are the naive forecast
the model must beat). Trained on history seeds 7, 8 and 9, the 1-minute lookback lowered the
forecast's WAPE over the naive forecast's on validation seed 1007 (flash-sale 0.897 -> 0.883,
baseline 0.886 -> 0.879) and on held-out seed 101 (flash-sale 0.797 -> 0.770, baseline 0.689 ->
0.686), counted without Spark by ``tests/models/demand_data.py``.
``history_minutes`` says how much of the longest lookback the state has seen, so that the start of
a run (every count still short) is not read as a quiet shop; the per-minute rates over the longest
lookback (the counts over the minutes seen) and the shop's *trends* (its views and units per minute
over the shortest lookback against over the longest) say the same to trees in one split. Shares of
the shop's views and units put a product's popularity apart from the shop's traffic. On held-out
simulated runs the rates and trends lowered the model's WAPE a little (baseline 0.461 -> 0.456,
and 0.604 -> 0.577 with product browsing hidden); the short lookbacks are what let browsing lead
sales.
Product-level browsing features are NaN while the run's browsing has named no product at all (the
assignment's layout), so that a model still forecasts there from the shop's browsing and the
product's sales.

:func:`demand_rows` replays a whole counts frame through the same state and adds the units each
product sold over the horizon that followed: the table the demand model is trained and evaluated
on (:mod:`models.demand`).

>>> counts = pd.DataFrame({"window_start": [0, 0, 30, 60], "product_id": ["a", "", "a", "b"],
...     "views": [3, 0, 1, 2], "carts": [1, 0, 0, 0], "checkouts": [0, 2, 0, 0],
...     "units": [0, 0, 2, 1]})
>>> state = DemandState()
>>> for start, window in counts.groupby("window_start"):
...     state.add_window(int(start), window)
>>> row = state.features(90).set_index("product_id")
>>> row.loc["a", ["views_5m", "units_5m", "shop_checkouts_5m", "units_share_30m"]].tolist()
[4.0, 2.0, 2.0, 0.6666666666666666]
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd

WINDOW_S = 30
DEFAULT_HORIZON_MINUTES = 30.0
# 1 and 5 minutes to see a surge start, 30 to read a product's popularity from many views
# (module doc)
LOOKBACKS_S: tuple[int, ...] = (60, 300, 1800)
COUNT_COLUMNS = ("window_start", "product_id", "views", "carts", "checkouts", "units")
NO_PRODUCT = ""

_SIGNALS = COUNT_COLUMNS[2:]  # views, carts, checkouts, units: the columns of a window's matrix
_PRODUCT_SIGNALS = ("views", "carts", "units")  # a product's own checkouts are not counted


def _suffix(lookback_s: int) -> str:
    return f"{lookback_s // 60}m"


PRODUCT_BROWSING_FEATURES: tuple[str, ...] = tuple(
    [f"{s}_{_suffix(lb)}" for lb in LOOKBACKS_S for s in ("views", "carts")]
    + [f"views_share_{_suffix(LOOKBACKS_S[-1])}", "views_per_minute", "carts_per_minute"]
)
SHOP_BROWSING_FEATURES: tuple[str, ...] = tuple(
    [f"shop_{s}_{_suffix(lb)}" for lb in LOOKBACKS_S for s in ("views", "carts", "checkouts")]
    + ["shop_views_trend"]
)
SALES_ONLY_FEATURES: tuple[str, ...] = (
    *(f"units_{_suffix(lb)}" for lb in LOOKBACKS_S),
    *(f"shop_units_{_suffix(lb)}" for lb in LOOKBACKS_S),
    f"units_share_{_suffix(LOOKBACKS_S[-1])}",
    "units_per_minute",
    "shop_units_per_minute",
    "shop_units_trend",
    "history_minutes",
)
DEMAND_FEATURES: tuple[str, ...] = (
    *PRODUCT_BROWSING_FEATURES,
    *SHOP_BROWSING_FEATURES,
    *SALES_ONLY_FEATURES,
)


def _share(part: np.ndarray, whole: float) -> np.ndarray:
    """``part / whole``, NaN where the shop had none (no share to speak of)."""
    if whole <= 0:
        return np.full(len(part), np.nan)
    return part / whole


class DemandState:
    """The window counts of the last :data:`LOOKBACKS_S` [-1] seconds, fed one window at a time
    in increasing window order (windows without activity may be skipped)."""

    def __init__(self) -> None:
        # (window start, product ids, counts: one row per product, columns _SIGNALS)
        self._windows: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
        self._first: int | None = None
        self._last: int | None = None
        self.products_named = False

    def add_window(self, window_start: int, counts: pd.DataFrame) -> None:
        """Fold in one window's counts (its rows of the window counts frame; ``window_start``
        and extra columns are ignored) and forget windows older than the longest lookback."""
        if window_start % WINDOW_S:
            raise ValueError(f"window start {window_start} is not a multiple of {WINDOW_S} s")
        if self._last is not None and window_start <= self._last:
            raise ValueError(f"window {window_start} comes after window {self._last}")
        if self._first is None:
            self._first = window_start
        self._last = window_start
        ids = counts["product_id"].to_numpy(dtype=object)
        matrix = counts[list(_SIGNALS)].to_numpy(dtype=np.int64)
        active = matrix.any(axis=1)
        ids, matrix = ids[active], matrix[active]
        if not self.products_named:
            browsed = matrix[:, :3].any(axis=1) & (ids != NO_PRODUCT)
            self.products_named = bool(browsed.any())
        if len(ids):
            self._windows.append((window_start, ids, matrix))
        horizon = window_start + WINDOW_S - LOOKBACKS_S[-1]
        while self._windows and self._windows[0][0] < horizon:
            self._windows.popleft()

    @property
    def windows(self) -> int:
        """How many windows the state holds."""
        return len(self._windows)

    def features(self, window_end: int) -> pd.DataFrame:
        """The features at ``window_end`` (from the windows that started before it) of each
        product active in the longest lookback: ``product_id`` and :data:`DEMAND_FEATURES`, sorted
        by product id."""
        if self._last is not None and window_end < self._last + WINDOW_S:
            raise ValueError(f"window {self._last} has not ended at {window_end}")
        held = [w for w in self._windows if w[0] >= window_end - LOOKBACKS_S[-1]]
        if not held:
            return pd.DataFrame(
                {
                    c: pd.Series(dtype=object if c == "product_id" else np.float64)
                    for c in ("product_id", *DEMAND_FEATURES)
                }
            )
        starts = np.concatenate([np.full(len(w[1]), w[0], dtype=np.int64) for w in held])
        ids = np.concatenate([w[1] for w in held])
        matrix = np.concatenate([w[2] for w in held]).astype(np.float64)
        codes, products = pd.factorize(ids, sort=True)
        n = len(products)
        columns: dict[str, np.ndarray] = {}
        for lookback in LOOKBACKS_S:
            inside = starts >= window_end - lookback
            suffix = _suffix(lookback)
            for j, signal in enumerate(_SIGNALS):
                total = np.bincount(codes[inside], weights=matrix[inside, j], minlength=n)
                columns[f"shop_{signal}_{suffix}"] = np.full(n, total.sum())
                if signal in _PRODUCT_SIGNALS:
                    columns[f"{signal}_{suffix}"] = total
        longest = _suffix(LOOKBACKS_S[-1])
        shop_views = float(columns[f"shop_views_{longest}"][0])
        shop_units = float(columns[f"shop_units_{longest}"][0])
        columns[f"views_share_{longest}"] = _share(columns[f"views_{longest}"], shop_views)
        columns[f"units_share_{longest}"] = _share(columns[f"units_{longest}"], shop_units)
        first = self._first if self._first is not None else window_end
        seen = window_end - first
        columns["history_minutes"] = np.full(n, min(seen, LOOKBACKS_S[-1]) / 60)
        minutes = [min(seen, lb) / 60 for lb in LOOKBACKS_S]
        for name in ("views", "carts", "units"):
            columns[f"{name}_per_minute"] = columns[f"{name}_{longest}"] / minutes[-1]
        columns["shop_units_per_minute"] = columns[f"shop_units_{longest}"] / minutes[-1]
        for name in ("views", "units"):
            short = columns[f"shop_{name}_{_suffix(LOOKBACKS_S[0])}"][0] / minutes[0]
            whole = columns[f"shop_{name}_{longest}"][0] / minutes[-1]
            columns[f"shop_{name}_trend"] = np.full(n, short / whole if whole else np.nan)
        if not self.products_named:
            for name in PRODUCT_BROWSING_FEATURES:
                columns[name] = np.full(n, np.nan)
        frame = pd.DataFrame({"product_id": np.asarray(products, dtype=object)})
        frame = pd.concat([frame, pd.DataFrame({f: columns[f] for f in DEMAND_FEATURES})], axis=1)
        return frame[frame["product_id"] != NO_PRODUCT].reset_index(drop=True)


def _units_by_window(counts: pd.DataFrame, start: int, windows: int) -> tuple[np.ndarray, pd.Index]:
    """Cumulative units per (window index, product): row ``k`` holds the units of the windows
    before the ``k``-th, so windows ``[i, j)`` sold ``C[j] - C[i]``; and the products' index."""
    sold = counts[(counts["units"] > 0) & (counts["product_id"] != NO_PRODUCT)]
    products = pd.Index(sorted(sold["product_id"].unique()), dtype=object)
    cumulative = np.zeros((windows + 1, len(products)), dtype=np.int64)
    rows = (sold["window_start"].to_numpy() - start) // WINDOW_S
    np.add.at(cumulative, (rows + 1, products.get_indexer(sold["product_id"])), sold["units"])
    return np.cumsum(cumulative, axis=0), products


def demand_rows(counts: pd.DataFrame, horizon_s: int, start: int, end: int) -> pd.DataFrame:
    """The training and evaluation table of a run whose counts span ``[start, end)`` (Unix
    seconds, multiples of 30 s): for each window end ``t`` in it whose whole horizon lies inside
    it, the features of the products active before ``t`` (:meth:`DemandState.features`), their
    ``past_units`` (units in the windows starting in ``[t - horizon_s, t)``: the naive forecast)
    and ``future_units`` (units in the windows starting in ``[t, t + horizon_s)``), with ``t`` as
    ``window_end``. Counts outside the span are ignored; ``attrs["horizon_s"]`` is the horizon.
    """
    if start % WINDOW_S or end % WINDOW_S or horizon_s % WINDOW_S or horizon_s <= 0:
        raise ValueError("start, end and horizon must be multiples of 30 s, the horizon positive")
    inside = counts[(counts["window_start"] >= start) & (counts["window_start"] < end)]
    inside = inside.sort_values(["window_start", "product_id"], kind="mergesort")
    windows = (end - start) // WINDOW_S
    cumulative, sold = _units_by_window(inside, start, windows)
    step = horizon_s // WINDOW_S
    by_window = {int(w): frame for w, frame in inside.groupby("window_start", sort=True)}
    state = DemandState()
    tables = []
    for k in range(1, windows - step + 1):
        t = start + k * WINDOW_S
        window = by_window.get(t - WINDOW_S)
        if window is not None:
            state.add_window(t - WINDOW_S, window)
        table = state.features(t)
        column = sold.get_indexer(table["product_id"])
        known = column >= 0
        past, future = np.zeros(len(table)), np.zeros(len(table))
        past[known] = cumulative[k, column[known]] - cumulative[max(k - step, 0), column[known]]
        future[known] = cumulative[k + step, column[known]] - cumulative[k, column[known]]
        table.insert(0, "window_end", t)
        table["past_units"] = past
        table["future_units"] = future
        tables.append(table)
    columns = ["window_end", "product_id", *DEMAND_FEATURES, "past_units", "future_units"]
    rows = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    rows.attrs["horizon_s"] = horizon_s
    return rows


__all__ = [
    "COUNT_COLUMNS",
    "DEFAULT_HORIZON_MINUTES",
    "DEMAND_FEATURES",
    "LOOKBACKS_S",
    "NO_PRODUCT",
    "PRODUCT_BROWSING_FEATURES",
    "SALES_ONLY_FEATURES",
    "SHOP_BROWSING_FEATURES",
    "WINDOW_S",
    "DemandState",
    "demand_rows",
]
