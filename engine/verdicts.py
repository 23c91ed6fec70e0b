"""What the fold writes of each scored transaction: its Score record, from the champion's decision,
its explanation and, when a challenger runs, the challenger's verdict beside it.

The champion is the run's model: its probability, with the rules in force, decides the
transaction's ``prediction`` and therefore the alerts. A challenger is a second saved model
scored on the same feature rows in the same micro-batch; the rules that matched are applied to
its probability and its own threshold as they were to the champion's
(:meth:`rulebook.rules.RuleBook.decide_again`), so that ``challenger_prediction`` is the alert
the challenger would have raised as champion. It travels in the score and changes nothing of
the champion's fields: a score with a challenger, its four challenger fields set to null, is the
same bytes as the score without one.

>>> champion = ModelStamp("m1", "a" * 64, 0.5)
>>> challenger = Challenger(ModelStamp("m2", "b" * 64, 0.3), lambda rows: [0.4] * len(rows))
>>> row = {"transaction_id": "t1", "session_id": "s1", "customer_id": "c1", "ts": 7,
...        "total_amount": 12.5, "shipment_lat": -6.2, "shipment_long": 106.8,
...        "product_metadata": []}
>>> verdicts = challenger_verdicts(challenger, RuleBook(), [row], [Decision(0.2, 0)])
>>> score = score_record(row, Decision(0.2, 0), champion, verdicts[0])
>>> score.prediction, score.challenger_name, score.challenger_prediction
(0, 'm2', 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from features.definition import line_items_json
from fraudlab import codec
from fraudlab.records import DeadLetter, Score, message_key
from rulebook.rules import Decision, RuleBook

# (topic, key, value) of a Kafka sink row
SinkRow = tuple[str, str, str]
# feature rows -> the fraud probability of each, in row order
Scorer = Callable[[list[dict[str, Any]]], Iterable[float]]
# feature rows -> the JSON of each one's explanation (models.explanations), in row order
Explainer = Callable[[list[dict[str, Any]]], list[str]]


@dataclass(frozen=True)
class ModelStamp:
    """What each score says of the model that gave it, and the threshold of its prediction."""

    name: str
    digest: str
    threshold: float


@dataclass(frozen=True)
class Challenger:
    """A model scored beside the champion: what its scores name it, and its scorer."""

    model: ModelStamp
    score: Scorer


@dataclass(frozen=True)
class ChallengerVerdict:
    """A challenger's verdict on one transaction: its probability (raised by the rules that
    matched, as the champion's is) and its prediction at its own threshold."""

    model: ModelStamp
    probability: float
    prediction: int


def sink_row(topic: str, record: Score | DeadLetter) -> SinkRow:
    """A record as a Kafka sink row: its key and its JSON value, as the contract writes them
    (:func:`fraudlab.records.message_key`, :func:`fraudlab.codec.encode`)."""
    return (topic, message_key(record).decode(), codec.encode(record).decode())


def challenger_verdicts(
    challenger: Challenger | None,
    book: RuleBook,
    features: list[dict[str, Any]],
    decisions: Sequence[Decision],
) -> list[ChallengerVerdict | None]:
    """The challenger's verdict on each feature row (one vectorised call for all of them), the
    champion's ``decisions``' matched rules applied to it; None for each without a challenger."""
    if challenger is None:
        return [None] * len(features)
    stamp = challenger.model
    verdicts: list[ChallengerVerdict | None] = []
    for row, p, decision in zip(features, challenger.score(features), decisions, strict=True):
        again = book.decide_again(decision, int(row["ts"]), float(p), stamp.threshold)
        verdicts.append(ChallengerVerdict(stamp, again.probability, again.prediction))
    return verdicts


def explanations_of(
    features: list[dict[str, Any]],
    decisions: Sequence[Decision],
    explain: Explainer | None,
    every: bool,
) -> list[str | None]:
    """The explanation of each scored row: of every potential fraud (of every row with
    ``every``) in one call for the micro-batch's rows, None for the others."""
    found: list[str | None] = [None] * len(features)
    if explain is None:
        return found
    chosen = [i for i, d in enumerate(decisions) if every or d.prediction]
    if chosen:
        for i, text in zip(chosen, explain([features[i] for i in chosen]), strict=True):
            found[i] = text
    return found


def verdict_rows(
    features: list[dict[str, Any]],
    book: RuleBook,
    score: Scorer,
    model: ModelStamp,
    topic: str,
    explain: Explainer | None = None,
    explain_every: bool = False,
    challenger: Challenger | None = None,
) -> list[SinkRow]:
    """The Score sink rows (to ``topic``) of complete feature rows, in their order: one
    vectorised call of the scorer, the rules of ``book`` in force at each row's event time, the
    explanations (:func:`explanations_of`) and the challenger's verdicts."""
    if not features:
        return []
    decisions = book.decide_all(features, score(features), model.threshold)
    explanations = explanations_of(features, decisions, explain, explain_every)
    verdicts = challenger_verdicts(challenger, book, features, decisions)
    return [
        sink_row(topic, score_record(row, decision, model, verdict, explanation))
        for row, decision, verdict, explanation in zip(
            features, decisions, verdicts, explanations, strict=True
        )
    ]


def score_record(
    row: dict[str, Any],
    decision: Decision,
    model: ModelStamp,
    challenger: ChallengerVerdict | None = None,
    explanation: str | None = None,
) -> Score:
    """The Score of a feature row: the champion's ``decision``, its ``explanation`` (JSON) and
    the ``challenger``'s verdict, when there are."""
    model_probability = decision.model_probability
    return Score(
        transaction_id=row["transaction_id"],
        session_id=row["session_id"],
        customer_id=row["customer_id"],
        ts=int(row["ts"]),
        probability=decision.probability,
        prediction=decision.prediction,
        model_name=model.name,
        model_digest=model.digest,
        total_amount=row["total_amount"],
        # the feature row names the shipment location as the features do
        shipment_location_lat=row["shipment_lat"],
        shipment_location_long=row["shipment_long"],
        product_metadata=line_items_json(row["product_metadata"]),
        model_probability=(
            decision.probability if model_probability is None else model_probability
        ),
        rules=",".join(decision.rules),
        reasons=",".join(decision.reasons(model.threshold)),
        explanation=explanation,
        challenger_name=None if challenger is None else challenger.model.name,
        challenger_digest=None if challenger is None else challenger.model.digest,
        challenger_probability=None if challenger is None else challenger.probability,
        challenger_prediction=None if challenger is None else challenger.prediction,
    )


__all__ = [
    "Challenger",
    "ChallengerVerdict",
    "Explainer",
    "ModelStamp",
    "Scorer",
    "SinkRow",
    "challenger_verdicts",
    "explanations_of",
    "score_record",
    "sink_row",
    "verdict_rows",
]
