"""Arrivals whose rate changes over time: a Poisson process by thinning, window by window.

Candidates are drawn at an upper bound of the rate that holds for the current window (a
simulated minute) and kept with probability rate / bound. A tight bound per window wastes few
candidates; because exponential gaps are memoryless, a candidate that would land past the
window's end is dropped and drawing restarts at the window's end with the next bound, which
keeps the process exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

WINDOW_S = 60.0

RateFn = Callable[[float], float]  # simulated seconds -> events per second
BoundFn = Callable[[float, float], float]  # window (start, end) -> an upper bound of the rate


def poisson_arrivals(
    env: simpy.Environment,
    rng: random.Random,
    rate: RateFn,
    bound: BoundFn,
    arrive: Callable[[], object],
) -> Generator[Any, Any, None]:
    """Call ``arrive()`` at the times of a Poisson process of intensity ``rate(t)``."""
    while True:
        now = env.now
        window_end = (now // WINDOW_S + 1) * WINDOW_S
        top = bound(now, window_end)
        if top <= 0:
            yield env.timeout(window_end - now)
            continue
        while True:
            gap = rng.expovariate(top)
            if env.now + gap >= window_end:
                yield env.timeout(window_end - env.now)
                break
            yield env.timeout(gap)
            if rng.random() * top < rate(env.now):
                arrive()
