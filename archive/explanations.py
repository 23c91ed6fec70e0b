"""A score's explanation as a run's archive holds it (:mod:`models.explanations`), for
``fraudlab explain`` and the views."""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from fraudlab.errors import UsageError
from fraudlab.explanation import Explanation, describe


@dataclass(frozen=True)
class ExplainedScore:
    """One archived score: what it said, and why (None when it carries no explanation)."""

    transaction_id: str
    customer_id: str
    ts: int
    total_amount: float
    probability: float
    model_probability: float
    prediction: int
    reasons: str
    model_name: str
    explanation: Explanation | None
    # a challenger scored beside the model: its name, probability and prediction (else None)
    challenger: tuple[str, float, int] | None = None

    def lines(self) -> list[str]:
        """The score and its explanation in words, one contribution per line."""
        why = f" ({self.reasons})" if self.reasons else ""
        verdict = f"potential fraud{why}" if self.prediction else "not flagged"
        head = [
            f"transaction {self.transaction_id} of customer {self.customer_id}, amount "
            f"{self.total_amount:,.0f}: probability {self.probability:.3f} (model "
            f"{self.model_name}: {self.model_probability:.3f}), {verdict}"
        ]
        if self.challenger is not None:
            name, p, flagged = self.challenger
            would = "would have flagged it" if flagged else "would not have flagged it"
            head.append(f"challenger {name}: probability {p:.3f}, {would} as champion")
        e = self.explanation
        if e is None:
            return head
        lines = [*head, "why the model scored it so (contributions in log-odds):"]
        lines += [f"  {describe(c)}" for c in e.top]
        lines.append(f"  the other features together: {e.others:+.2f}")
        lines.append(f"  the model's bias: {e.bias:+.2f}")
        probability = 1.0 / (1.0 + math.exp(-e.margin))
        lines.append(
            f"  sum {e.margin:+.2f} log-odds -> probability {probability:.3f} "
            f"(the top {len(e.top)} features shown)"
        )
        return lines


def explained_score(
    con: duckdb.DuckDBPyConnection, run_id: str, transaction_id: str
) -> ExplainedScore:
    """The score of ``transaction_id`` in run ``run_id``'s archive (``con``, opened with
    :func:`archive.files.reading`); a UsageError, in one sentence, when the run has none."""
    found = con.execute(
        "SELECT transaction_id, customer_id, ts, total_amount, probability, "
        "coalesce(model_probability, probability), prediction, coalesce(reasons, ''), "
        "model_name, explanation, challenger_name, challenger_probability, "
        "challenger_prediction FROM scores WHERE transaction_id = $id ORDER BY ts LIMIT 1",
        {"id": transaction_id},
    ).fetchone()
    if found is None:
        raise UsageError(f"run {run_id} has no score for transaction {transaction_id!r}.")
    tx, customer, ts, amount, probability, model_probability, prediction, reasons, model, text = (
        found[:10]
    )
    challenger_name, challenger_p, challenger_flag = found[10:]
    try:
        explanation = None if text is None else Explanation.from_json(text)
    except (ValueError, KeyError, TypeError):
        raise UsageError(
            f"run {run_id}'s score of transaction {transaction_id} holds an explanation that "
            "cannot be read."
        ) from None
    return ExplainedScore(
        str(tx),
        str(customer),
        int(ts),
        float(amount),
        float(probability),
        float(model_probability),
        int(prediction),
        str(reasons),
        str(model),
        explanation,
        None
        if challenger_name is None
        else (str(challenger_name), float(challenger_p), int(challenger_flag)),
    )


__all__ = ["ExplainedScore", "explained_score"]
