"""Rules in the engine (real broker, real Spark): each scored transaction is decided by the
model and the rules in force at its event time; a rule change that cannot be used is a dead
letter with its reason, and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from run_helpers import produce
from run_results import read

from engine.job import EngineOptions, run_engine
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.publisher import Publisher
from fraudlab.settings import Settings
from rulebook.rules import Rule, RuleChange
from rulebook.topics import publish_changes, rules_topic

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

RUN_ID = "engine-rules"
MINUTES = 4.0
FROM_S = 120  # the wallet rule is in force from this many seconds after the first transaction
RAISED_TO = 0.97


async def _publish_bad_change(bootstrap: str) -> None:
    publisher = Publisher(bootstrap)
    await publisher.start()
    bad = b'{"kind":"add","rule_id":"bad","effective":0,"rule":"{\\"id\\":\\"bad\\",' \
        b'\\"description\\":\\"d\\",\\"condition\\":\\"amount > 1.0\\"}","ts":0}'  # fmt: skip
    try:
        await publisher.send(rules_topic(RUN_ID), b"bad", bad, None)
    finally:
        await publisher.close()


@pytest.fixture(scope="module")
def ruled_run(spark: Any, engine_settings: Settings) -> dict[str, Any]:
    bootstrap = engine_settings.bootstrap_servers
    produce(bootstrap, RUN_ID, "baseline", 7, MINUTES)
    transactions = read(bootstrap, RUN_ID, "transactions")
    t_rule = min(int(t["ts"]) for t in transactions) + FROM_S
    wallet = Rule("wallet", "OVO payments", "payment_method == 'OVO'", "flag", effective=t_rule)
    big = Rule("big", "large orders", "total_amount > 3000000.0", "raise", score=RAISED_TO)
    with BlockingKafka(bootstrap) as kafka:
        kafka.call(publish_changes(kafka.session, RUN_ID, [RuleChange.add(big)]))
        kafka.call(_publish_bad_change(bootstrap))
        kafka.call(publish_changes(kafka.session, RUN_ID, [RuleChange.add(wallet)]))
    report = run_engine(
        spark,
        engine_settings,
        EngineOptions(RUN_ID, "tiny", available_now=True, max_offsets_per_trigger=5_000),
    )
    return {
        "t_rule": t_rule,
        "transactions": {t["transaction_id"]: t for t in transactions},
        "scores": {s["transaction_id"]: s for s in read(bootstrap, RUN_ID, "scores")},
        "letters": read(bootstrap, RUN_ID, "dead-letter"),
        "report": report,
    }


def test_a_flag_rule_flags_exactly_the_matching_transactions_from_its_event_time(
    ruled_run: dict[str, Any],
) -> None:
    transactions, scores, t_rule = (
        ruled_run["transactions"],
        ruled_run["scores"],
        ruled_run["t_rule"],
    )
    assert set(scores) == set(transactions)
    matching = {
        i
        for i, t in transactions.items()
        if t["payment_method"] == "OVO" and int(t["ts"]) >= t_rule
    }
    before = {i for i, t in transactions.items() if t["payment_method"] == "OVO"} - matching
    assert matching and before, "the run has OVO payments on both sides of the rule's time"
    flagged_by_rule = {i for i, s in scores.items() if "wallet" in s["rules"].split(",")}
    assert flagged_by_rule == matching
    assert all(scores[i]["prediction"] == 1 for i in matching)
    assert all("wallet" in scores[i]["reasons"].split(",") for i in matching)
    # before its time the rule is not there: those are the model's alone
    assert all(scores[i]["prediction"] == int("model" in scores[i]["reasons"]) for i in before)


def test_a_raise_rule_lifts_the_probability_and_keeps_the_model_s_own(
    ruled_run: dict[str, Any],
) -> None:
    transactions, scores = ruled_run["transactions"], ruled_run["scores"]
    large = {i for i, t in transactions.items() if float(t["total_amount"]) > 3_000_000}
    assert large, "the run has large orders"
    for i, s in scores.items():
        if i in large:
            assert "big" in s["rules"].split(",")
            assert s["probability"] == max(s["model_probability"], RAISED_TO)
        else:
            assert "big" not in s["rules"].split(",")
            assert s["probability"] == s["model_probability"]


def test_a_rule_change_that_cannot_be_used_is_one_dead_letter_and_changes_nothing(
    ruled_run: dict[str, Any],
) -> None:
    from_rules = [d for d in ruled_run["letters"] if d["source_topic"] == rules_topic(RUN_ID)]
    (letter,) = from_rules
    assert "field 'condition' uses 'amount', which is no feature" in letter["reason"]
    assert letter["source_offset"] == 1
    report = ruled_run["report"]
    assert report.rule_changes_refused == 1
    # the dead letter is no input record: the input's conservation is untouched
    inputs = [
        d
        for d in ruled_run["letters"]
        if d not in from_rules and d["reason"].split(":")[0] not in ("late", "duplicate")
    ]
    assert report.dead_lettered == len(inputs)
    assert all(s["rules"].split(",") != ["bad"] for s in ruled_run["scores"].values())


def test_fraud_alerts_carry_the_reasons_of_their_transactions(
    engine_settings: Settings, ruled_run: dict[str, Any]
) -> None:
    alerts = read(engine_settings.bootstrap_servers, RUN_ID, "fraud-alerts")
    scores = ruled_run["scores"]
    alerted = [t for a in alerts for t in a["transactions"]]
    assert alerted
    assert all(t["reasons"] == scores[t["transaction_id"]]["reasons"] for t in alerted)
    assert any("wallet" in t["reasons"].split(",") for t in alerted)
