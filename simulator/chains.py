"""How sessions move between the ten browsing event types: Markov chains and dwell times.

Each chain gives, for the session's first event and after each event type, the weights of the
next one (``END`` ends the session). Chains are compiled once into cumulative-weight rows so
that a step is one random draw and one bisection.

Event levels, as the assignment defines them: L1 = {AP, ATC, CO}, L2 = {VC, VP, VI, SER},
L3 = {SCR, HP, CL}. Legitimate chains spend most events on L3 and L2; the automated chains of
some fraud patterns live on L1.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate
from statistics import NormalDist

from fraudlab.records import EVENT_TYPES

END = len(EVENT_TYPES)
CODE = {name: i for i, name in enumerate(EVENT_TYPES)}
VI, ATC, CO, AP = CODE["VI"], CODE["ATC"], CODE["CO"], CODE["AP"]
ITEM_EVENTS = frozenset({VI, ATC})

# median seconds a person spends on each event type before the next one
# fmt: off
DWELL_S = {
    "VC": 12.0, "VI": 20.0, "VP": 10.0, "AP": 8.0, "CL": 4.0,
    "ATC": 7.0, "CO": 30.0, "HP": 6.0, "SCR": 5.0, "SER": 10.0,
}
# fmt: on
DWELL_BY_CODE: tuple[float, ...] = tuple(DWELL_S[name] for name in EVENT_TYPES)

# dwell noise: quantiles of a lognormal(0, 0.6), so a draw is one random() and one index
NOISE_STEPS = 512
NOISE: tuple[float, ...] = tuple(
    2.718281828459045 ** NormalDist(0.0, 0.6).inv_cdf((i + 0.5) / NOISE_STEPS)
    for i in range(NOISE_STEPS)
)

ChainSpec = dict[str, dict[str, float]]

# fmt: off
CHAINS: dict[str, ChainSpec] = {
    # a visit without a plan to buy: mostly scrolling, clicking and looking
    "browse": {
        "start": {"HP": 40, "SER": 20, "VC": 15, "VP": 10, "VI": 10, "SCR": 5},
        "HP": {"SCR": 35, "VC": 18, "SER": 14, "VP": 8, "CL": 12, "VI": 5, "END": 8},
        "SCR": {"SCR": 22, "CL": 28, "VI": 18, "VC": 6, "HP": 5, "SER": 6, "END": 15},
        "CL": {"VI": 30, "SCR": 28, "VC": 10, "CL": 8, "HP": 6, "SER": 4, "END": 14},
        "VC": {"SCR": 30, "VI": 32, "CL": 18, "SER": 5, "VC": 5, "END": 10},
        "SER": {"VI": 40, "SCR": 22, "CL": 14, "SER": 12, "END": 12},
        "VP": {"VC": 28, "VI": 25, "SCR": 20, "AP": 5, "CL": 7, "END": 15},
        "VI": {"SCR": 22, "CL": 16, "VI": 14, "ATC": 6, "VC": 8, "SER": 8, "HP": 6, "END": 20},
        "ATC": {"VI": 30, "SCR": 20, "ATC": 5, "HP": 10, "CO": 3, "END": 32},
        "AP": {"ATC": 30, "VI": 25, "SCR": 15, "CO": 5, "END": 25},
        "CO": {"END": 70, "HP": 15, "SCR": 15},
    },
    # a visit to buy something: looks around, fills a cart, usually checks out
    "buy": {
        "start": {"HP": 35, "SER": 30, "VC": 15, "VP": 10, "VI": 10},
        "HP": {"SCR": 30, "VC": 20, "SER": 20, "VP": 8, "CL": 12, "VI": 10},
        "SCR": {"SCR": 18, "CL": 28, "VI": 30, "VC": 6, "SER": 8, "HP": 4, "END": 6},
        "CL": {"VI": 40, "SCR": 25, "VC": 10, "CL": 6, "SER": 5, "END": 4},
        "VC": {"SCR": 28, "VI": 40, "CL": 18, "SER": 6, "END": 3},
        "SER": {"VI": 50, "SCR": 20, "CL": 12, "SER": 10, "END": 3},
        "VP": {"VC": 25, "VI": 30, "SCR": 15, "AP": 15, "CL": 5, "END": 3},
        "VI": {"SCR": 16, "CL": 12, "VI": 14, "ATC": 30, "VC": 6, "SER": 6, "HP": 3, "END": 4},
        "ATC": {"VI": 24, "SCR": 10, "ATC": 8, "HP": 4, "AP": 10, "CO": 40, "END": 4},
        "AP": {"ATC": 20, "VI": 10, "CO": 60, "END": 3},
        "CO": {"END": 70, "HP": 15, "SCR": 15},
    },
    # a regular who knows what to reorder: straight to the item, the cart and the checkout
    "express": {
        "start": {"HP": 40, "SER": 40, "VI": 20},
        "HP": {"VI": 60, "SER": 30, "SCR": 10},
        "SER": {"VI": 85, "SCR": 15},
        "SCR": {"VI": 70, "CL": 30},
        "CL": {"VI": 100},
        "VI": {"ATC": 70, "VI": 20, "SCR": 10},
        "ATC": {"CO": 70, "VI": 20, "AP": 10},
        "AP": {"CO": 100},
        "CO": {"END": 85, "HP": 15},
    },
    # a hurried buyer with a target: a few looks, then the cart
    "direct": {
        "start": {"HP": 50, "SER": 50},
        "HP": {"VC": 30, "SER": 30, "SCR": 20, "VI": 20},
        "SER": {"VI": 70, "SCR": 15, "SER": 15},
        "SCR": {"VI": 60, "CL": 40},
        "CL": {"VI": 100},
        "VC": {"VI": 70, "SCR": 30},
        "VP": {"VI": 100},
        "VI": {"ATC": 50, "VI": 30, "SCR": 10, "SER": 10},
        "ATC": {"CO": 45, "VI": 35, "ATC": 20},
        "AP": {"CO": 100},
        "CO": {"END": 80, "HP": 20},
    },
    # a script: almost only cart, promo and checkout events
    "bot": {
        "start": {"ATC": 50, "AP": 30, "VI": 20},
        "VI": {"ATC": 90, "VI": 10},
        "ATC": {"ATC": 35, "AP": 15, "CO": 50},
        "AP": {"ATC": 30, "CO": 70},
        "CO": {"END": 90, "ATC": 10},
    },
    # checking that stolen cards work: one cheap item, straight to checkout
    "probe": {
        "start": {"VI": 60, "SER": 40},
        "SER": {"VI": 100},
        "VI": {"ATC": 90, "VI": 10},
        "ATC": {"CO": 100},
        "CO": {"END": 100},
    },
    # farming promo codes: promo page, apply a code, a cart just above the minimum spend
    "promo": {
        "start": {"VP": 70, "HP": 30},
        "HP": {"VP": 80, "SCR": 20},
        "SCR": {"VP": 50, "VI": 50},
        "VP": {"AP": 60, "VC": 25, "VI": 15},
        "AP": {"VI": 60, "VC": 40},
        "VC": {"VI": 80, "SCR": 20},
        "VI": {"ATC": 70, "VI": 30},
        "ATC": {"CO": 80, "VI": 20},
        "CO": {"END": 100},
    },
}
# fmt: on


@dataclass(frozen=True, slots=True)
class Chain:
    """A compiled chain: per event code (and ``start`` at index END), next codes and
    cumulative probabilities (each row ends at exactly 1.0)."""

    name: str
    cum: tuple[tuple[float, ...], ...]
    targets: tuple[tuple[int, ...], ...]

    def first(self, rng: random.Random) -> int:
        """The code of a session's first event."""
        return self.step(END, rng)

    def step(self, code: int, rng: random.Random) -> int:
        """The code of the event after ``code`` (END to end the session)."""
        return self.targets[code][bisect(self.cum[code], rng.random())]


def compile_chain(name: str, spec: ChainSpec) -> Chain:
    """Compile a chain spec; event types without a row end the session."""
    cum: list[tuple[float, ...]] = []
    targets: list[tuple[int, ...]] = []
    for row_name in (*EVENT_TYPES, "start"):
        row = spec.get(row_name, {"END": 1.0})
        targets.append(tuple(CODE.get(t, END) for t in row))
        total = sum(row.values())
        probabilities = [c / total for c in accumulate(row.values())]
        probabilities[-1] = 1.0  # rounding must never let a draw fall past the last target
        cum.append(tuple(probabilities))
    return Chain(name, tuple(cum), tuple(targets))


COMPILED: dict[str, Chain] = {name: compile_chain(name, spec) for name, spec in CHAINS.items()}
