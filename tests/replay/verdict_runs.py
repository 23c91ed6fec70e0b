"""Two small runs over the same transactions, scored differently, whose comparison is on paper.

| tx | truth                  | ts (A) | A flags | B flags |
| -- | ---------------------- | ------ | ------- | ------- |
| t1 | fraud card_testing     | 100    | yes     | yes     |
| t2 | fraud card_testing     | 105    | no      | yes     |
| t3 | fraud account_takeover | 130    | yes     | no      |
| t4 | legitimate             | 110    | yes     | no      |
| t5 | legitimate             | 120    | no      | yes     |
| t6 | fraud account_takeover | 150    | no      | yes     |

Run B happened 1000 s after run A (every ts + 1000). Every flagged transaction is listed in one
fraud-alerts window. So: alerted by both {t1}, only A {t3, t4}, only B {t2, t5, t6}, Jaccard
1/6; recall A 2/4 (card_testing 1/2, account_takeover 1/2), B 3/4 (card_testing 2/2,
account_takeover 1/2); precision A 2/3, B 3/4. Flagged per 10 s since the first event's bucket:
A {0: 1, 10: 1, 30: 1}, B {0: 2, 20: 1, 50: 1}.

Run A's flags are the model's alone. In run B the model flags t1 alone; rule ``burst`` (flag)
matches t2 and t5, rule ``ato`` (raise) matches t4 (not lifted past the threshold) and t6
(lifted). So per source in B: model 1 hit, 1 fraud (precision 1); burst 2 hits, 1 fraud (0.5);
ato 2 hits, 1 fraud (0.5); in A: model 3 hits, 2 frauds (2/3).
"""

from __future__ import annotations

from pathlib import Path

from written_archives import producer_events, sent_records, write_archive

from fraudlab.records import AlertedTransaction, FraudAlerts, Record, Score, Transaction, Truth

TRUTH = {
    "t1": (True, "card_testing", 100),
    "t2": (True, "card_testing", 105),
    "t3": (True, "account_takeover", 130),
    "t4": (False, "", 110),
    "t5": (False, "", 120),
    "t6": (True, "account_takeover", 150),
}
FLAGGED = {"model-a": {"t1", "t3", "t4"}, "model-b": {"t1", "t2", "t5", "t6"}}
# model-b's verdicts other than the model's own: transaction -> (rules matched, reasons)
RULED = {
    "t2": ("burst", "burst"),
    "t5": ("burst", "burst"),
    "t4": ("ato", ""),
    "t6": ("ato", "ato"),
}
SHIFT = {"model-a": 0, "model-b": 1000}


def records(run_id: str, model: str) -> list[Record]:
    """Every record of run ``run_id`` scored by ``model`` (model-a or model-b)."""
    shift, flagged = SHIFT[model], FLAGGED[model]
    out: list[Record] = []
    alerted = []
    for tid, (fraud, pattern, at) in TRUTH.items():
        ts = at + shift
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
                "-6.2",
                "106.8",
                "100",
                "1",
                ts,
            )
        )
        out.append(Truth(tid, fraud, pattern, ts))
        hit = tid in flagged
        rules, reasons = ("", "model" if hit else "")
        if model == "model-b" and tid in RULED:
            rules, reasons = RULED[tid]
        out.append(
            Score(
                tid,
                f"s-{tid}",
                f"c-{tid}",
                ts,
                0.9 if hit else 0.1,
                int(hit),
                model,
                "d",
                100.0,
                -6.2,
                106.8,
                "[]",
                0.9 if "model" in reasons else 0.1,
                rules,
                reasons,
            )
        )
        if hit:
            alerted.append(
                AlertedTransaction(tid, f"s-{tid}", f"c-{tid}", ts, 100.0, -6.2, 106.8, 0.9)
            )
    end = 160 + shift
    out.append(FraudAlerts(end - 120, end, len(alerted), tuple(alerted)))
    started, finished = producer_events(run_id, {"scenario": "paper", "seed": 1})
    return [started, *out, finished]


def write_verdict_run(archive_dir: Path, run_id: str, model: str) -> Path:
    """Write run ``run_id`` scored by ``model`` into ``archive_dir``."""
    return write_archive(archive_dir, run_id, sent_records(records(run_id, model)))
