"""Fraud patterns: one module each, all with the interface of :mod:`simulator.patterns.base`."""

from __future__ import annotations

from types import ModuleType

from simulator.patterns import (
    account_takeover,
    bot_checkout,
    card_testing,
    high_value_spike,
    promo_abuse,
    regional_fraud_ring,
)

# name -> module, in the order their processes start (which keeps runs deterministic)
PATTERNS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (
        card_testing,
        account_takeover,
        promo_abuse,
        bot_checkout,
        regional_fraud_ring,
        high_value_spike,
    )
}
