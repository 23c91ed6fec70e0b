"""Rules beside the model (rulebook/rules.py), fed with lists: rule files and their one-sentence
refusals, rule changes by event time, and what the rules in force make of a scored transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebook.rules import (
    MODEL,
    Rule,
    RuleBook,
    RuleChange,
    RuleError,
    read_rule_file,
)

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"
T0 = 1_800_000_000


def _row(ts: int, **features: object) -> dict[str, object]:
    return {"ts": ts, "payment_method": "OVO", "total_amount": 100_000.0, **features}


def test_every_example_rule_file_reads_and_its_rules_evaluate() -> None:
    files = sorted(RULES_DIR.glob("*.toml"))
    assert len(files) >= 3
    ids = [r.id for f in files for r in read_rule_file(f)]
    assert len(ids) == len(set(ids)) >= 4
    book = RuleBook([RuleChange.add(r) for f in files for r in read_rule_file(f)])
    assert {r.id for r in book.in_force(T0)} == set(ids)


def test_a_flag_rule_makes_a_potential_fraud_and_names_itself_as_the_reason() -> None:
    rule = Rule("big", "large order", "total_amount > 1000000.0", "flag")
    book = RuleBook([RuleChange.add(rule)])
    hit = book.decide(_row(T0, total_amount=2_000_000.0), 0.1, 0.5)
    assert (hit.probability, hit.prediction, hit.rules) == (0.1, 1, ("big",))
    assert hit.reasons(0.5) == ["big"]
    miss = book.decide(_row(T0), 0.7, 0.5)
    assert (miss.prediction, miss.rules, miss.reasons(0.5)) == (1, (), [MODEL])
    assert book.decide(_row(T0), 0.1, 0.5).reasons(0.5) == []


def test_a_raise_rule_lifts_the_probability_and_keeps_the_model_s_own() -> None:
    rule = Rule("wallet", "e-wallet", "payment_method == 'OVO'", "raise", score=0.8)
    decision = RuleBook([RuleChange.add(rule)]).decide(_row(T0), 0.3, 0.5)
    assert (decision.probability, decision.prediction, decision.model_probability) == (0.8, 1, 0.3)
    assert decision.reasons(0.5) == ["wallet"]
    # a model probability above the raise stays
    assert RuleBook([RuleChange.add(rule)]).decide(_row(T0), 0.9, 0.5).probability == 0.9


def test_changes_take_effect_by_event_time_whatever_their_order_of_arrival() -> None:
    rule = Rule("big", "large order", "total_amount > 1000.0", "flag", effective=T0 + 300)
    # the disable arrives first but is effective later: order of arrival does not matter
    late_disable = RuleChange.disable("big", T0 + 600)
    for changes in ([RuleChange.add(rule), late_disable], [late_disable, RuleChange.add(rule)]):
        book = RuleBook(changes)
        assert [book.decide(_row(ts), 0.0, 0.5).prediction for ts in (
            T0, T0 + 299, T0 + 300, T0 + 599, T0 + 600
        )] == [0, 0, 1, 1, 0]  # fmt: skip


def test_a_rule_added_again_replaces_its_earlier_version_from_its_effective_time() -> None:
    old = Rule("big", "large order", "total_amount > 1000.0", "flag")
    new = Rule("big", "very large order", "total_amount > 500000.0", "flag", effective=T0 + 60)
    book = RuleBook([RuleChange.add(old), RuleChange.add(new)])
    assert book.decide(_row(T0), 0.0, 0.5).prediction == 1
    assert book.decide(_row(T0 + 60), 0.0, 0.5).prediction == 0
    assert [r.description for r in book.in_force(T0 + 60)] == ["very large order"]


def test_a_change_travels_as_json_and_comes_back_equal() -> None:
    rule = Rule("wallet", "e-wallet", "payment_method == 'OVO'", "raise", 0.8, T0, "why")
    for change in (RuleChange.add(rule), RuleChange.disable("wallet", T0 + 5)):
        assert RuleChange.from_json(change.to_json()) == change


def test_a_condition_that_fails_on_some_values_does_not_match_them() -> None:
    # int() of a payment method that is no number fails at evaluation: no match, no error
    rule = Rule("odd", "odd method", "payment_method == 'card' || int(payment_method) > 3", "flag")
    book = RuleBook([RuleChange.add(rule)])
    assert book.decide(_row(T0), 0.0, 0.5).prediction == 0
    assert book.decide(_row(T0, payment_method="9"), 0.0, 0.5).prediction == 1


@pytest.mark.parametrize(
    ("toml", "sentence"),
    [
        ("rules = 3", "holds no list 'rules'"),
        ("[[rules]]\nid = 'a'\ndescription = 'd'", "rule 1 (a): field 'condition' is missing."),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'total_amount >'",
            "rule 1 (a): field 'condition' is not valid CEL",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'amount > 1.0'",
            "field 'condition' uses 'amount', which is no feature",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'total_amount / 2 > 1.0'",
            "field 'condition' cannot be evaluated (Unsupported operation: float / int)",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'total_amount + 1.0'",
            "field 'condition' must give true or false, not a float.",
        ),
        (
            "[[rules]]\nid = 'A b'\ndescription = 'd'\ncondition = 'true'",
            "field 'id' must be 1 to 64 lower-case letters",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\naction = 'block'",
            "field 'action' must be 'flag' or 'raise', not 'block'.",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\naction = 'raise'",
            "field 'score' is needed by action 'raise'",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\naction = 'raise'\n"
            "score = 1.5",
            "field 'score' must be in (0, 1], not 1.5.",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\n"
            "effective = '2027-01-01 10:00'",
            "field 'effective' needs its UTC offset",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\nwhen = 1",
            "field 'when' is not a rule field",
        ),
        (
            "[[rules]]\nid = 'a'\ndescription = 'd'\ncondition = 'true'\n"
            "[[rules]]\nid = 'a'\ndescription = 'e'\ncondition = 'false'",
            "rule 2 (a): field 'id' repeats an earlier rule's id.",
        ),
        ("[[rules]\nid = 'a'", "not TOML"),
    ],
)
def test_a_bad_rule_file_is_refused_in_one_sentence_naming_the_field(
    tmp_path: Path, toml: str, sentence: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(RuleError) as refused:
        read_rule_file(path)
    message = str(refused.value)
    assert message.startswith(str(path)) and sentence in message
    assert "\n" not in message and message.endswith(".")


def test_an_empty_list_is_a_file_of_no_rules(tmp_path: Path) -> None:
    path = tmp_path / "none.toml"
    path.write_text("rules = []\n")
    assert read_rule_file(path) == []


def test_a_json_rule_file_reads_as_its_toml_twin(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(
        '{"rules": [{"id": "a", "description": "d", "condition": "n_items > 3.0",'
        ' "effective": "2027-01-01T00:00:00Z"}]}'
    )
    (rule,) = read_rule_file(path)
    assert (rule.id, rule.action, rule.effective) == ("a", "flag", 1_798_761_600)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [\n{"id": "a",}]}')
    with pytest.raises(RuleError, match=r"bad.json: line 2: not JSON"):
        read_rule_file(bad)


def test_a_change_is_a_rules_record_and_a_bad_one_is_one_sentence() -> None:
    from fraudlab import codec
    from fraudlab.records import RuleChangeRecord

    rule = Rule("big", "large order", "total_amount > 1000.0", "flag", effective=T0)
    record = codec.decode(RuleChangeRecord, RuleChange.add(rule).to_json())
    assert (record.kind, record.rule_id, record.effective, record.ts) == ("add", "big", T0, T0)
    for value, sentence in [
        (b"{", "not JSON"),
        (b'{"kind": "drop"}', "field 'kind' must be 'add' or 'disable'"),
        (b'{"kind": "add", "rule_id": "x", "rule": "{}"}', "field 'rule_id' is not the id"),
        (
            b'{"kind": "add", "rule_id": "x", "rule": "{\\"id\\": \\"x\\", \\"description\\": '
            b'\\"d\\", \\"condition\\": \\"nope > 1.0\\"}"}',
            "field 'condition' uses 'nope'",
        ),
    ]:
        with pytest.raises(RuleError, match=sentence):
            RuleChange.from_json(value, "rules topic p0 offset 3")
