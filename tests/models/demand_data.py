"""Window counts of a simulated run, made without Kafka or Spark (a test helper).

What the engine's Spark part counts per 30-second event-time window and product, counted here in
plain Python from :meth:`simulator.simulation.Simulation.messages`: VI events as ``views``, the
units of ATC events as ``carts``, CO events as ``checkouts`` (on the "" row when they name no
product) and the units of non-fraud transactions as ``units``. Malformed records are skipped,
and a message delivered twice is counted once (browsing by event id, checkouts by transaction id).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pandas as pd

from features.demand import COUNT_COLUMNS, WINDOW_S
from fraudlab.product_metadata import parse_items
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _int(text: object) -> int:
    try:
        return int(float(str(text)))
    except ValueError:
        return 0


def simulated_counts(
    scenario: str, seed: int, minutes: float | None = None
) -> tuple[pd.DataFrame, int, int]:
    """The window counts of ``scenario`` played from ``seed`` (for ``minutes``, default the
    scenario's length), and the run's span: (counts, first window start, end), in Unix seconds."""
    sim = Simulation(load_scenario(scenario, SCENARIOS), seed, minutes=minutes)
    cells: Counter[tuple[int, str, str]] = Counter()
    sold: dict[str, list[tuple[int, str, int]]] = {}
    fraud: set[str] = set()
    seen: set[str] = set()
    for message in sim.messages():
        if message.stream not in ("browsing", "transactions", "truth"):
            continue
        try:
            value = orjson.loads(message.value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(value, dict) or "ts" not in value:
            continue
        window = _int(value["ts"]) // WINDOW_S * WINDOW_S
        if message.stream == "truth":
            if str(value.get("is_fraud")) in ("1", "True", "true"):
                fraud.add(str(value.get("transaction_id")))
        elif message.stream == "browsing":
            event_id = str(value.get("event_id") or "")
            if event_id and event_id in seen:
                continue
            seen.add(event_id)
            product = str(value.get("product_id") or "")
            kind = value.get("event_type")
            if kind == "VI" and product:
                cells[(window, product, "views")] += 1
            elif kind == "ATC" and product:
                cells[(window, product, "carts")] += max(_int(value.get("quantity") or 1), 0)
            elif kind == "CO":
                cells[(window, product, "checkouts")] += 1
        else:
            transaction = str(value.get("transaction_id"))
            items = parse_items(str(value.get("product_metadata")))
            if transaction in sold or isinstance(items, str):
                continue
            sold[transaction] = [(window, i.product_id, i.quantity) for i in items]
    for transaction, lines in sold.items():
        if transaction not in fraud:
            for window, product, quantity in lines:
                cells[(window, product, "units")] += quantity
    rows: dict[tuple[int, str], dict[str, int]] = {}
    for (window, product, column), n in cells.items():
        rows.setdefault((window, product), dict.fromkeys(COUNT_COLUMNS[2:], 0))[column] += n
    frame = pd.DataFrame(
        [(w, p, *c.values()) for (w, p), c in sorted(rows.items())], columns=list(COUNT_COLUMNS)
    )
    start = int(sim.start.timestamp()) // WINDOW_S * WINDOW_S
    end = start + int(sim.minutes * 60)
    return frame, start, end
