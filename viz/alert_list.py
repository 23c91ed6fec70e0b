"""The alerts behind a selected bar or map bubble, listed with their top reasons.

Selecting a 10 s report's bar (its 2-minute window) or a map bubble (a grid cell of shipment
locations) in /live or /replay lists the potential frauds it stands for: when, which customer,
the amount and probability, the rules that matched, and the model's top feature contributions
in words (:func:`fraudlab.explanation.describe`, from the score's TreeSHAP explanation). Pure:
rows in, HTML out.

>>> row = AlertRow("t1", "c1", 1767571200, 120.5, 0.93, "model",
...     '{"bias":-3.0,"others":0.1,"top":[{"feature":"distance_km","value":812.0,'
...     '"contribution":1.8}]}', "fraud: card_testing")
>>> top_reasons(row)
['ships 812 km from home: +1.80']
>>> "t1" in alert_list_html([row], "window ending 00:00:00")
True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fraudlab.explanation import Explanation, describe

__all__ = [
    "ALERT_LIST_CSS",
    "NOTHING_SELECTED",
    "SHOWN_ALERTS",
    "AlertRow",
    "alert_list_html",
    "top_reasons",
]

SHOWN_ALERTS = 50  # rows listed at most; the heading says how many there are
REASONS_SHOWN = 3  # contributions listed per alert
NOTHING_SELECTED = (
    "<p class='alert-list-hint'>Select a bar of the timeline or a bubble of the map to list its "
    "alerts with their top reasons.</p>"
)

ALERT_LIST_CSS = """
table.alert-list { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
table.alert-list th, table.alert-list td { border-bottom: 1px solid #ddd;
  padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
td.alert-reasons { font-size: 12px; }
"""


@dataclass(frozen=True)
class AlertRow:
    """One alerted transaction as the list shows it: ``ts`` in Unix seconds (event time),
    ``reasons`` as the score has them ("model" and/or rule ids), ``explanation`` the score's
    JSON (None when unexplained), ``truth`` in words when ground truth is known."""

    transaction_id: str
    customer_id: str
    ts: int
    total_amount: float
    probability: float
    reasons: str | None
    explanation: str | None
    truth: str | None = None


def top_reasons(row: AlertRow, shown: int = REASONS_SHOWN) -> list[str]:
    """The ``shown`` largest contributions of the row's explanation, in words (empty when it
    has none or it cannot be read)."""
    if not row.explanation:
        return []
    try:
        explanation = Explanation.from_json(row.explanation)
    except (ValueError, KeyError, TypeError):
        return []
    return [describe(c) for c in explanation.top[:shown]]


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def alert_list_html(rows: Sequence[AlertRow], heading: str, total: int | None = None) -> str:
    """A table of ``rows`` (the first :data:`SHOWN_ALERTS`, highest probability first) under
    ``heading``; ``total`` is how many alerts the selection holds, when more than listed."""
    if not rows:
        return f"<p><b>{html.escape(heading)}</b>: no alerts.</p>"
    ordered = sorted(rows, key=lambda r: (-r.probability, r.ts, r.transaction_id))
    listed = ordered[:SHOWN_ALERTS]
    count = max(total or 0, len(rows))
    more = f", the {len(listed)} most probable listed" if count > len(listed) else ""
    lines = [
        f"<p><b>{html.escape(heading)}</b>: {count:,} alerts{more}.</p>",
        "<table class='alert-list'><tr><th>time (UTC)</th><th>transaction</th>"
        "<th>customer</th><th>amount</th><th>probability</th><th>flagged by</th>"
        "<th>top reasons (log-odds)</th><th>truth</th></tr>",
    ]
    for r in listed:
        reasons = top_reasons(r)
        why = "<br>".join(html.escape(t) for t in reasons) or "-"
        lines.append(
            "<tr class='alert-row'>"
            f"<td>{_when(r.ts)}</td><td>{html.escape(r.transaction_id)}</td>"
            f"<td>{html.escape(r.customer_id)}</td><td>{r.total_amount:,.2f}</td>"
            f"<td>{r.probability:.3f}</td><td>{html.escape(r.reasons or 'model')}</td>"
            f"<td class='alert-reasons'>{why}</td><td>{html.escape(r.truth or '-')}</td></tr>"
        )
    lines.append("</table>")
    return "".join(lines)
