"""A tiny run written by hand, whose every figure can be worked out on paper.

Truth and verdicts (ts is event time):

| tx | truth                  | ts  | score      | in fraud-alerts windows ending |
| -- | ---------------------- | --- | ---------- | ------------------------------ |
| t1 | fraud card_testing     | 100 | flagged    | 110, 120, 140                  |
| t2 | fraud card_testing     | 105 | not        |                                |
| t3 | fraud account_takeover | 130 | flagged    | 140                            |
| t4 | legitimate             | 110 | flagged    | 120, 140                       |
| t5 | legitimate             | 120 | not        |                                |
| t6 | legitimate flash_sale  | 140 | not        |                                |
| t7 | fraud account_takeover | 150 | never      |                                |
| t8 | legitimate             | 160 | not        |                                |
| t9 | (no truth)             | 170 | flagged    |                                |

With ``challenger=True`` every score also carries challenger m2's verdict (threshold 0.5):

| tx | champion p / flagged | challenger p / flagged | between them            |
| -- | -------------------- | ---------------------- | ----------------------- |
| t1 | 0.9 / yes            | 0.8 / yes              |                         |
| t2 | 0.1 / no             | 0.6 / yes              | gained, a fraud         |
| t3 | 0.7 / yes            | 0.3 / no               | lost, a fraud           |
| t4 | 0.6 / yes            | 0.2 / no               | lost, legitimate        |
| t5 | 0.1 / no             | 0.55 / yes             | gained, legitimate      |
| t6 | 0.1 / no             | 0.1 / no               |                         |
| t8 | 0.1 / no             | 0.05 / no              |                         |
| t9 | 0.95 / yes           | 0.9 / yes              | (no truth)              |
"""

from __future__ import annotations

import json
from pathlib import Path

from run_files import FileMessage, crc_partition, write_run_file
from sample_run import START, Message

from fraudlab import codec
from fraudlab.records import (
    AlertedTransaction,
    FraudAlerts,
    Record,
    RunEvent,
    Score,
    TopProduct,
    Transaction,
    Truth,
    message_key,
)

# t9's explanation: log-odds summing to 2.944 (probability 0.95), the amount leading
EXPLANATION = (
    '{"bias":-2.0,"others":0.144,"top":[{"feature":"total_amount","value":100.0,'
    '"contribution":3.5},{"feature":"distance_km","value":812.0,"contribution":1.3}]}'
)
RUN_ID = "hand-made"

# tx: (fraud, pattern, ts, prediction or None, lat, long)
TRANSACTIONS = {
    "t1": (True, "card_testing", 100, 1, -6.2, 106.8),
    "t2": (True, "card_testing", 105, 0, -6.2, 106.8),
    "t3": (True, "account_takeover", 130, 1, 3.6, 98.7),
    "t4": (False, "", 110, 1, -6.3, 106.7),
    "t5": (False, "", 120, 0, -7.8, 110.4),
    "t6": (False, "flash_sale", 140, 0, -7.8, 110.4),
    "t7": (True, "account_takeover", 150, None, 3.6, 98.7),
    "t8": (False, "", 160, 0, -6.9, 107.6),
}
PROBABILITY = {"t1": 0.9, "t3": 0.7, "t4": 0.6, "t9": 0.95}
# the challenger's verdict on each scored transaction: probability, prediction
CHALLENGER = {
    "t1": (0.8, 1),
    "t2": (0.6, 1),
    "t3": (0.3, 0),
    "t4": (0.2, 0),
    "t5": (0.55, 1),
    "t6": (0.1, 0),
    "t8": (0.05, 0),
    "t9": (0.9, 1),
}
WINDOWS = {110: ("t1",), 120: ("t1", "t4"), 140: ("t1", "t4", "t3")}
TOP = [
    (130, 1, "p1", 5, 500.0),
    (130, 2, "p2", 3, 900.0),
    (160, 1, "p1", 4, 400.0),
    (160, 2, "p3", 1, 50.0),
]


def _message(record: Record) -> Message:
    return Message(record.STREAM, message_key(record, RUN_ID), codec.encode(record))


def _alerted(tid: str) -> AlertedTransaction:
    _, _, ts, _, lat, long = TRANSACTIONS[tid]
    return AlertedTransaction(tid, f"s-{tid}", f"c-{tid}", ts, 100.0, lat, long, PROBABILITY[tid])


def _challenger(tid: str, challenger: bool) -> dict[str, object]:
    if not challenger:
        return {}
    probability, prediction = CHALLENGER[tid]
    return {
        "challenger_name": "m2",
        "challenger_digest": "d2",
        "challenger_probability": probability,
        "challenger_prediction": prediction,
    }


def records(challenger: bool = False) -> list[Record]:
    """Every record of the hand-made run, in publishing order (``challenger``: its scores carry
    challenger m2's verdicts)."""
    out: list[Record] = [
        RunEvent(
            RUN_ID,
            "producer",
            "started",
            json.dumps({"scenario": "hand", "seed": 3, "scenario_text": "t"}),
            1000,
        ),
        RunEvent(
            RUN_ID,
            "engine",
            "started",
            json.dumps({"model_name": "m1", "model_digest": "d1"}),
            1000,
        ),
    ]
    for tid, (fraud, pattern, ts, prediction, lat, long) in TRANSACTIONS.items():
        out.append(
            Transaction(
                str(ts),
                f"c-{tid}",
                tid,
                f"s-{tid}",
                "[]",
                "Gopay",
                "Success",
                "0",
                "",
                "0",
                str(lat),
                str(long),
                "100",
                "1",
                ts,
            )
        )
        out.append(Truth(tid, fraud, pattern, ts))
        if prediction is not None:
            out.append(
                Score(
                    tid,
                    f"s-{tid}",
                    f"c-{tid}",
                    ts,
                    PROBABILITY.get(tid, 0.1),
                    prediction,
                    "m1",
                    "d1",
                    100.0,
                    -6.2,
                    106.8,
                    "[]",
                    **_challenger(tid, challenger),  # type: ignore[arg-type]
                )
            )
    out.append(
        Score(
            *("t9", "s-t9", "c-t9", 170, 0.95, 1, "m1", "d1", 100.0, -6.2, 106.8, "[]"),
            explanation=EXPLANATION,
            **_challenger("t9", challenger),  # type: ignore[arg-type]
        )
    )
    for end, tids in WINDOWS.items():
        out.append(FraudAlerts(end - 120, end, len(tids), tuple(_alerted(t) for t in tids)))
    for end, rank, pid, quantity, sales in TOP:
        out.append(TopProduct(end - 30, end, rank, pid, f"Product {pid}", quantity, sales))
    out += [
        RunEvent(RUN_ID, "producer", "finished", "{}", 1100),
        RunEvent(RUN_ID, "engine", "finished", "{}", 1101),
    ]
    return out


def write_hand_made_run(archive_dir: Path, *, close: bool = True, challenger: bool = False) -> Path:
    """Write the hand-made run's file (closed as complete unless ``close`` is False; its scores
    with challenger m2's verdicts with ``challenger``)."""
    held = [
        FileMessage(m.stream, m.key, m.value, START * 1000)
        for m in map(_message, records(challenger))
    ]
    return write_run_file(archive_dir, RUN_ID, held, close=close, partition=crc_partition)
