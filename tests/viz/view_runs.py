"""Archived runs for the view tests and the views benchmark, written without Kafka or Spark.

A synthetic run has every stream the views read, as the simulator and the engine would write
it: sessions of browsing events, checkouts shipped to Indonesian cities, ground truth with fraud
patterns, the model's scores, a 10 s fraud-alerts report (potential frauds of the last 2
minutes), a 30 s top-products report, the shop's stock changes (:class:`Shop`: sales, stock-outs,
restock orders and arrivals) and a 30 s inventory-forecast report with a 1-minute horizon
(:class:`Demand`). It is deterministic in its seed and goes straight into a run file through
:class:`archive.writer.ArchiveWriter`. The stock and the forecast draw no random numbers: a run
with them has the same checkouts as one without.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from run_files import FileMessage, crc_partition, write_run_file

from fraudlab import codec
from fraudlab.explanation import Contribution, Explanation
from fraudlab.records import (
    AlertedTransaction,
    Browsing,
    FraudAlerts,
    Inventory,
    InventoryForecast,
    Product,
    Record,
    RunEvent,
    Score,
    TopProduct,
    Transaction,
    Truth,
    message_key,
)
from simulator.geography import CITIES

START = 1_700_000_000
PATTERNS = ("card_testing", "account_takeover", "promo_abuse", "regional_fraud_ring")
PRODUCTS = 60
BROWSING_PER_CHECKOUT = 5
PARTITIONS = 2
# the shop's policy for every product: a small shelf, so the popular ones run out
OPENING_STOCK = 30
REORDER_POINT = 4
REORDER_UNITS = 12
LEAD_MINUTES = 2.0
HORIZON_MINUTES = 1.0


@dataclass(frozen=True)
class RunShape:
    """How big and how busy a synthetic run is."""

    transactions: int
    per_second: int = 2
    fraud_rate: float = 0.04
    seed: int = 7
    model: str = "gbt-1"
    catch_rate: float = 0.8
    inventory: bool = True  # the shop's stock changes
    forecast: bool = True  # the engine's inventory-forecast report (a model with a demand model)

    @property
    def events(self) -> int:
        """Browsing events and transactions together."""
        return self.transactions * (BROWSING_PER_CHECKOUT + 1)


SMALL = RunShape(transactions=600)
# the same checkouts (same seed) through a model that catches fewer frauds, without a demand
# forecast
WEAKER = RunShape(transactions=600, catch_rate=0.5, model="gbt-2", forecast=False)


class Shop:
    """Every product's shelf: a sale takes units, a checkout asking for more than the shelf
    holds is a stock-out, and a product at its reorder point orders more, due after the lead."""

    def __init__(self, products: list[str]) -> None:
        self.level = dict.fromkeys(products, OPENING_STOCK)
        self.on_order = dict.fromkeys(products, 0)
        self.due: deque[tuple[int, str, int]] = deque()  # ts, product, units

    def _change(self, pid: str, change: str, units: int, ts: int, tid: str = "") -> Inventory:
        return Inventory(
            pid, change, units, self.level[pid], self.on_order[pid], REORDER_POINT,
            LEAD_MINUTES, "", tid, ts,
        )  # fmt: skip

    def opening(self, ts: int) -> Iterator[Inventory]:
        for pid in self.level:
            yield self._change(pid, "opening", OPENING_STOCK, ts)

    def arrivals(self, ts: int) -> Iterator[Inventory]:
        while self.due and self.due[0][0] <= ts:
            due, pid, units = self.due.popleft()
            self.level[pid] += units
            self.on_order[pid] -= units
            yield self._change(pid, "restock_arrival", units, due)

    def checkout(self, pid: str, units: int, ts: int, tid: str) -> Iterator[Inventory]:
        if self.level[pid] >= units:
            self.level[pid] -= units
            yield self._change(pid, "sale", units, ts, tid)
        else:
            yield self._change(pid, "stock_out", units, ts, tid)
        if self.level[pid] + self.on_order[pid] <= REORDER_POINT:
            self.on_order[pid] += REORDER_UNITS
            self.due.append((ts + int(LEAD_MINUTES * 60), pid, REORDER_UNITS))
            yield self._change(pid, "restock_order", REORDER_UNITS, ts)


class Demand:
    """The 30 s inventory-forecast report, as a simple demand model would write it: a product's
    units per window smoothed, nudged by its views, over a 1-minute horizon."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.views: Counter[str] = Counter()
        self.carts: Counter[str] = Counter()
        self.units: Counter[str] = Counter()
        self.smoothed: dict[str, float] = {}
        self.last_units: dict[str, int] = {}

    def report(self, window_end: int, shop: Shop | None) -> Iterator[InventoryForecast]:
        windows = int(HORIZON_MINUTES * 2)
        active = sorted(set(self.views) | set(self.units) | set(self.smoothed))
        for pid in active:
            smoothed = 0.6 * self.smoothed.get(pid, 0.0) + 0.4 * self.units[pid]
            if smoothed < 0.01 and not self.views[pid]:
                self.smoothed.pop(pid, None)
                continue
            self.smoothed[pid] = smoothed
            forecast = round(windows * (0.5 * smoothed + 0.2 * self.views[pid]), 3)
            naive = float(self.units[pid] + self.last_units.get(pid, 0))
            stock = on_order = cover = restock = None
            if shop is not None:
                stock, on_order = shop.level[pid], shop.on_order[pid]
                per_minute = forecast / HORIZON_MINUTES
                cover = round(stock / per_minute, 2) if per_minute else None
                restock = int(per_minute * LEAD_MINUTES > stock + on_order)
            yield InventoryForecast(
                window_end - 30, window_end, pid, self.names[pid], HORIZON_MINUTES, forecast,
                naive, round(windows * smoothed, 3), self.views[pid], self.carts[pid],
                self.units[pid], stock, on_order, cover, restock,
            )  # fmt: skip
            self.last_units[pid] = self.units[pid]
        self.views.clear()
        self.carts.clear()
        self.units.clear()


def _run_event(run_id: str, part: str, event: str, ts: int, **details: object) -> RunEvent:
    return RunEvent(run_id, part, event, json.dumps(details), ts)


def synthetic_records(run_id: str, shape: RunShape) -> Iterator[Record]:
    """Every record of the run, in the order the parts would publish them."""
    rng = random.Random(shape.seed)
    yield _run_event(run_id, "producer", "started", START, scenario="synthetic", seed=shape.seed)
    yield _run_event(run_id, "engine", "started", START, model_name=shape.model, model_digest="d")
    names = {f"p{i}": f"Product {i}" for i in range(PRODUCTS)}
    prices = {pid: float(rng.randint(5, 400) * 1000) for pid in names}
    for pid, name in names.items():
        yield Product(pid, "Women", "Blue", "Summer", "2020", "Casual", name, "c1", "1", START)
    shop = Shop(list(names)) if shape.inventory else None
    demand = Demand(names) if shape.forecast else None
    if shop is not None:
        yield from shop.opening(START)
    cities = CITIES[:30]
    weights = [c.weight for c in cities]
    ring = cities[4]  # the fraud ring works from one city
    alerted: deque[AlertedTransaction] = deque()
    sales: Counter[str] = Counter()
    quantities: Counter[str] = Counter()
    next_alert, next_top = START + 10, START + 30
    for i in range(shape.transactions):
        ts = START + i // shape.per_second
        while ts >= next_alert:
            while alerted and alerted[0].ts < next_alert - 120:
                alerted.popleft()
            window = tuple(a for a in alerted if a.ts < next_alert)
            yield FraudAlerts(next_alert - 120, next_alert, len(window), window)
            next_alert += 10
        while ts >= next_top:
            ranked = sorted(quantities, key=lambda p: (-quantities[p], p))[:20]
            for rank, pid in enumerate(ranked, start=1):
                yield TopProduct(
                    next_top - 30, next_top, rank, pid, names[pid], quantities[pid], sales[pid]
                )
            sales.clear()
            quantities.clear()
            if demand is not None:
                yield from demand.report(next_top, shop)
            next_top += 30
        cid, sid, tid = f"c{rng.randrange(5000)}", f"s{i}", f"t{i}"
        pid = f"p{min(int(rng.expovariate(0.08)), PRODUCTS - 1)}"
        for j in range(BROWSING_PER_CHECKOUT):
            yield Browsing(sid, "VP", str(ts), "MOBILE", "Android", cid, pid, "1", f"e{i}-{j}", ts)
        fraud = rng.random() < shape.fraud_rate
        pattern = rng.choice(PATTERNS) if fraud else ""
        city = ring if pattern == "regional_fraud_ring" else rng.choices(cities, weights)[0]
        lat, long = city.lat + rng.uniform(-0.2, 0.2), city.long + rng.uniform(-0.2, 0.2)
        quantity = rng.randint(1, 3)
        if demand is not None:
            demand.views[pid] += BROWSING_PER_CHECKOUT
            demand.carts[pid] += quantity
        total = prices[pid] * quantity
        metadata = json.dumps([{"product_id": pid, "quantity": quantity, "item_price": total}])
        yield Transaction(
            str(ts), cid, tid, sid, metadata, "Gopay", "Success", "0", "", "10000",
            f"{lat:.5f}", f"{long:.5f}", str(total), "1", ts,
        )  # fmt: skip
        yield Truth(tid, fraud, pattern, ts)
        if shop is not None:
            yield from shop.arrivals(ts)
            yield from shop.checkout(pid, quantity, ts, tid)
        flagged = rng.random() < (shape.catch_rate if fraud else 0.01)
        probability = round(rng.uniform(0.6, 1.0) if flagged else rng.uniform(0.0, 0.4), 4)
        why = _explanation(probability, total, pattern) if flagged else None
        yield Score(
            tid, sid, cid, ts, probability, int(flagged), shape.model, "d", total, lat, long,
            metadata, explanation=why,
        )  # fmt: skip
        if demand is not None and not flagged:
            demand.units[pid] += quantity
        if flagged:
            alerted.append(
                AlertedTransaction(tid, sid, cid, ts, total, lat, long, probability, "model", why)
            )
        elif not fraud:
            sales[pid] += total
            quantities[pid] += quantity
    end = START + shape.transactions // shape.per_second + 1
    yield _run_event(run_id, "producer", "finished", end, events=shape.events)
    yield _run_event(run_id, "engine", "finished", end + 1)


def _explanation(probability: float, total: float, pattern: str) -> str:
    """A flagged score's explanation, as the engine's would read: its contributions and bias
    sum to the margin of ``probability`` (the amount leading, then a pattern's telltale)."""
    margin = math.log(probability / (1 - probability)) if probability < 1 else 8.0
    bias = -3.0
    telltale = {
        "card_testing": Contribution("transactions_1h", 9.0, 0.0),
        "regional_fraud_ring": Contribution("distance_km", 812.0, 0.0),
    }.get(pattern, Contribution("new_device", 1.0, 0.0))
    amount = round(0.6 * (margin - bias), 4)
    second = round(margin - bias - amount, 4)
    top = (
        Contribution("total_amount", total, amount),
        Contribution(telltale.feature, telltale.value, second),
    )
    return Explanation(bias, 0.0, top).to_json()


def _messages(records: Iterable[Record], run_id: str) -> Iterator[FileMessage]:
    for record in records:
        yield FileMessage(
            record.STREAM, message_key(record, run_id), codec.encode(record), START * 1000
        )


def write_synthetic_run(
    archive_dir: Path, run_id: str, shape: RunShape, batch_messages: int = 50_000
) -> Path:
    """Write the run's file, closed as complete; its path."""
    return write_run_file(
        archive_dir,
        run_id,
        _messages(synthetic_records(run_id, shape), run_id),
        chunk=batch_messages,
        partitions=PARTITIONS,
        partition=crc_partition,
    )


def write_empty_run(archive_dir: Path, run_id: str) -> Path:
    """A run whose producer started and finished without a single event."""
    records = [
        _run_event(run_id, "producer", "started", START, scenario="empty", seed=1),
        _run_event(run_id, "producer", "finished", START + 1),
    ]
    return write_run_file(
        archive_dir,
        run_id,
        _messages(records, run_id),
        partitions=PARTITIONS,
        partition=crc_partition,
    )
