"""A small but complete run, every stream of it, as the simulator and the engine would write it.

Besides well-formed records it holds what the archive must cope with: transactions the simulator
duplicated on purpose (separate records), scores, fraud-alerts and top-products the engine's
at-least-once sink emitted twice (one record), and values that cannot be decoded.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from run_files import FileMessage, crc_partition
from run_files import consumed_batches as files_consumed

from archive.writer import ConsumedBatch
from fraudlab import codec
from fraudlab.kafka_io import create_topics, make_producer, quiet_kafka_logs, start_or_report
from fraudlab.records import (
    AlertDelivery,
    AlertedTransaction,
    Browsing,
    Category,
    Customer,
    CustomerSession,
    DeadLetter,
    DeliveryDeadLetter,
    Fault,
    FraudAlerts,
    Inventory,
    InventoryForecast,
    Product,
    Quarantined,
    Record,
    RuleChangeRecord,
    RunControl,
    RunEvent,
    Score,
    TopProduct,
    Transaction,
    Truth,
    message_key,
)
from fraudlab.topics import run_topics, topic_name

START = 1_700_000_000
PATTERNS = ("card_testing", "account_takeover", "promo_abuse")
UNDECODABLE_VALUES = (
    b"not json at all",
    b'{"transaction_id": "x"}',
    b"",
    b'"a string, not an object"',
    b'{"window_start": "soon", "window_end": 1, "count": 1, "transactions": []}',
)


@dataclass(frozen=True)
class Message:
    """One Kafka message of the run: stream, key, value (bytes, possibly undecodable)."""

    stream: str
    key: bytes
    value: bytes


@dataclass
class SampleRun:
    """The messages of a run in publishing order, and what the archive should make of them."""

    run_id: str
    messages: list[Message] = field(default_factory=list)
    undecodable: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    frauds: Counter[str] = field(default_factory=Counter)

    def add(self, record: Record) -> None:
        self.messages.append(
            Message(record.STREAM, message_key(record, self.run_id), codec.encode(record))
        )

    def sent(self) -> Counter[str]:
        return Counter(m.stream for m in self.messages)


def _events(run_id: str, part: str, event: str, ts: int, **details: object) -> RunEvent:
    return RunEvent(run_id, part, event, json.dumps(details), ts)


def make_sample_run(run_id: str, seed: int = 7, transactions: int = 240) -> SampleRun:
    """A run of ``transactions`` checkouts with all its streams, deterministic in ``seed``."""
    rng = random.Random(seed)
    run = SampleRun(run_id)
    run.add(
        _events(
            run_id,
            "producer",
            "started",
            START,
            scenario="baseline",
            seed=seed,
            scenario_text="name = 'baseline'\n",
            code_version="0.1.0",
        )
    )
    run.add(
        _events(
            run_id,
            "engine",
            "started",
            START + 1,
            model_name="gbt-1",
            model_digest="abc123",
            settings={"shuffle_partitions": 4},
        )
    )
    customers = [f"c{i}" for i in range(40)]
    for i, cid in enumerate(customers):
        run.add(
            Customer(
                cid,
                f"First{i}",
                f"Last{i}",
                f"user{i}",
                f"u{i}@example.id",
                "F",
                "1990-01-01",
                "2020-01-01",
                "Jawa Barat",
                "Bandung",
                f"{-6.9 + rng.uniform(-1, 1):.4f}",
                f"{107.6 + rng.uniform(-1, 1):.4f}",
                START,
            )
        )
    for i in range(5):
        run.add(Category(f"cat{i}", "Apparel", f"Level2-{i}", f"Level3-{i}", START))
    products = [f"p{i}" for i in range(30)]
    for i, pid in enumerate(products):
        run.add(
            Product(
                pid,
                "Women",
                "Blue",
                "Summer",
                "2020",
                "Casual",
                f"Product {i}",
                f"cat{i % 5}",
                f"{rng.randint(10, 500) * 1000}",
                START,
            )
        )
    # the simulated shop's stock (simulator/stock.py): each product's opening level
    level = dict.fromkeys(products, 500)
    for pid in products:
        run.add(Inventory(pid, "opening", 500, 500, 0, 40, 30.0, "", "", START))
    # a product row its file could not be read as: set aside by the producer, kept by the archive
    run.add(
        Quarantined("product.csv", 31, "", "10 fields where the header has 9", "p30,Men,...", START)
    )
    # a rule added from the run's start and disabled a minute later (rulebook/rules.py)
    rule = '{"action":"flag","condition":"n_items > 3.0","description":"many items","id":"many"}'
    run.add(RuleChangeRecord("add", "many", START, rule, START))
    run.add(RuleChangeRecord("disable", "many", START + 60, None, START + 60))
    # the run paused from a browser, then sped up from a terminal (fraudlab/run_control.py)
    run.add(RunControl(run_id, "pause", None, "browser", START + 30))
    run.add(RunControl(run_id, "speed", 40.0, "cli", START + 45))
    # one alert taken by a webhook at its second attempt, one dead-lettered (delivery/sending.py)
    at = (START + 200) * 1000
    for attempt, outcome, detail in ((1, "retried", "HTTP 503"), (2, "sent", "HTTP 200")):
        run.add(AlertDelivery("r:t1", "oncall", attempt, outcome, detail, "t1", START + 10,
                              at, at + 500 * attempt, START + 200))  # fmt: skip
    run.add(AlertDelivery("r:t2", "oncall", 1, "failed", "refused: HTTP 404", "t2", START + 10,
                          at, at + 40, START + 200))  # fmt: skip
    run.add(DeliveryDeadLetter("r:t2", "oncall", 1, "refused: HTTP 404", '{"alert_id":"r:t2"}',
                               START + 200))  # fmt: skip
    alerted: list[AlertedTransaction] = []
    for i in range(transactions):
        ts = START + 2 * i
        cid = rng.choice(customers)
        sid = f"s{i}"
        run.add(CustomerSession(sid, cid, ts))
        for j, event in enumerate(("HP", "VP", "ATC", "CO")):
            pid = rng.choice(products)
            run.add(
                Browsing(
                    sid,
                    event,
                    str(ts - 3 + j),
                    "MOBILE",
                    "Android",
                    cid,
                    pid if event in ("VP", "ATC") else "",
                    "1" if event == "ATC" else "",
                    f"e{i}-{j}",
                    ts - 3 + j,
                )
            )
        pattern = rng.choice(PATTERNS) if rng.random() < 0.15 else ""
        tid = f"t{i}"
        total = rng.randint(10, 900) * 1000
        lat, long = -6.2 + rng.uniform(-2, 2), 106.8 + rng.uniform(-2, 2)
        tx = Transaction(
            str(ts),
            cid,
            tid,
            sid,
            json.dumps([{"product_id": rng.choice(products), "quantity": 1, "item_price": total}]),
            "Gopay",
            "Success",
            "0",
            "",
            "10000",
            f"{lat:.4f}",
            f"{long:.4f}",
            str(total),
            "1",
            ts,
        )
        run.add(tx)
        sold = json.loads(tx.product_metadata)[0]["product_id"]
        level[sold] -= 1
        run.add(Inventory(sold, "sale", 1, level[sold], 0, 40, 30.0, sid, tid, ts))
        if i % 50 == 7:  # the simulator's own duplicates: separate records of the stream
            run.add(tx)
            run.add(Fault("transactions", tid, "duplicate", 0, ts))
        run.add(Truth(tid, bool(pattern), pattern, ts))
        if pattern:
            run.frauds[pattern] += 1
        # the model catches most frauds and a few legitimate checkouts
        prediction = int(rng.random() < (0.8 if pattern else 0.03))
        probability = round(rng.uniform(0.6, 1.0) if prediction else rng.uniform(0, 0.4), 6)
        score = Score(
            tid, sid, cid, ts, probability, prediction, "gbt-1", "abc123", 100.0, -6.2, 106.8, "[]"
        )
        run.add(score)
        if i % 40 == 3:  # the engine's sink emitted it twice
            run.add(score)
            run.duplicates["scores"] += 1
        if prediction:
            alerted.append(
                AlertedTransaction(tid, sid, cid, ts, float(total), lat, long, probability)
            )
        if i % 5 == 4:  # every 10 s of event time, the frauds of the last 2 minutes
            end = ts + 1
            window = tuple(a for a in alerted if end - 120 <= a.ts < end)
            alerts = FraudAlerts(end - 120, end, len(window), window)
            run.add(alerts)
            if i % 45 == 4:
                run.add(alerts)
                run.duplicates["fraud-alerts"] += 1
        if i % 15 == 14:  # every 30 s, the top products
            end = ts + 1
            for rank in range(1, 4):
                top = TopProduct(
                    end - 30,
                    end,
                    rank,
                    products[(i + rank) % 30],
                    f"Product {(i + rank) % 30}",
                    10 - rank,
                    1000.0 * (10 - rank),
                )
                run.add(top)
                if i % 60 == 14 and rank == 1:
                    run.add(top)
                    run.duplicates["top-products"] += 1
            for pid in products[:2]:  # the demand forecast of the same 30 s
                run.add(
                    InventoryForecast(
                        end - 30, end, pid, "", 30.0, 2.5, 2.0, 2.25, 4, 1, 1,
                        level[pid], 0, 6000.0, 0,
                    )
                )  # fmt: skip
        if i == transactions // 2:
            run.add(
                DeadLetter(
                    b"\x00\xffbroken",
                    "unparseable JSON",
                    topic_name(run_id, "browsing"),
                    0,
                    12,
                    0,
                    ts,
                )
            )
    for i, value in enumerate(UNDECODABLE_VALUES):
        stream = ("transactions", "scores", "browsing", "truth", "fraud-alerts")[i]
        run.messages.append(Message(stream, f"bad{i}".encode(), value))
        run.undecodable[stream] += 1
    end = START + 2 * transactions + 5
    run.add(_events(run_id, "producer", "finished", end, events=len(run.messages)))
    run.add(_events(run_id, "engine", "finished", end + 2))
    return run


def without_end(run: SampleRun) -> tuple[list[Message], list[Message]]:
    """The messages before the parts' finished events, and those events."""
    ends = [m for m in run.messages if m.stream == "run-events" and b'"finished"' in m.value]
    return [m for m in run.messages if m not in ends], ends


async def create_run_topics(bootstrap: str, run_id: str, partitions: int = 2) -> None:
    """Create every topic of the run."""
    await create_topics(bootstrap, run_topics(run_id), partitions)


async def publish(
    bootstrap: str, run_id: str, messages: Sequence[Message] | Iterable[Message]
) -> int:
    """Send messages to the run's topics, keyed, and wait until each is acknowledged."""
    producer = make_producer(bootstrap)
    await start_or_report(producer, bootstrap)
    # fresh topics answer "not leader" for a moment; the producer retries, quietly
    with quiet_kafka_logs():
        try:
            futures = [
                await producer.send(topic_name(run_id, m.stream), m.value, key=m.key)
                for m in messages
            ]
            for f in futures:
                await f
            return len(futures)
        finally:
            await producer.stop()


def consumed_batches(
    run_id: str, messages: Sequence[Message], partitions: int = 2, chunk: int | None = None
) -> list[ConsumedBatch]:
    """The messages as a consumer would see them without Kafka: a partition per key (by CRC-32,
    the layout these runs were built with), offsets in order, cut into batches of ``chunk``
    messages (one batch when None); Kafka timestamps at the run's start."""
    held = (FileMessage(m.stream, m.key, m.value, START * 1000) for m in messages)
    return list(
        files_consumed(run_id, held, partitions=partitions, chunk=chunk, partition=crc_partition)
    )
