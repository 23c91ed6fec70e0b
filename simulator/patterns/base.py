"""The one interface every fraud pattern follows, and what patterns share.

A pattern is a module with a docstring saying what the fraud looks like, UPPERCASE constants,
and three names:

- ``NAME``: the label its transactions carry in the truth stream;
- ``Params``: a :class:`PatternParams` subclass (its scenario table, validated, with defaults);
- ``setup(env, shop, params)``: the SimPy process that runs the pattern for the whole run.

Most patterns run *episodes* (one fraudster's attack) at ``rate`` per minute times the
intensity, and lean only lightly on the daily cycle (:func:`episodes`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any, Protocol

import simpy
from pydantic import BaseModel, ConfigDict, Field

from simulator.daily_cycle import PEAK, activity
from simulator.intensity import Constant, Intensity
from simulator.population import Person, pick_device
from simulator.shop import Shop

# fraud follows the shop's day only partly: a fixed share of it runs around the clock
ROUND_THE_CLOCK = 0.6


class PatternParams(BaseModel):
    """What every pattern takes: episodes per minute at intensity 1, and the intensity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(default=0.1, ge=0)
    intensity: Intensity = Constant()


class FraudPattern(Protocol):
    """The shape of a pattern module."""

    NAME: str
    Params: type[PatternParams]

    def setup(
        self, env: simpy.Environment, shop: Shop, params: Any
    ) -> Generator[Any, Any, None]: ...


def rate_per_s(params: PatternParams, minute: float, hour: float) -> float:
    """Episodes per second at run ``minute`` and local ``hour``."""
    cycle = ROUND_THE_CLOCK + (1 - ROUND_THE_CLOCK) * activity(hour)
    return params.rate / 60.0 * params.intensity.level_at(minute) * cycle


def episodes(
    env: simpy.Environment,
    shop: Shop,
    params: PatternParams,
    rng: random.Random,
    begin: Callable[[int], object],
) -> Generator[Any, Any, None]:
    """Call ``begin(n)`` for episode n = 0, 1, ... at the times of the pattern's rate."""
    cycle_peak = ROUND_THE_CLOCK + (1 - ROUND_THE_CLOCK) * PEAK
    peak = params.rate / 60.0 * params.intensity.peak * cycle_peak
    if peak <= 0:
        return
    local_hour = shop.clock.local_hour
    n = 0
    while True:
        # thinning against the peak rate keeps a time-varying rate exact
        yield env.timeout(rng.expovariate(peak))
        if rng.random() * peak < rate_per_s(params, env.now / 60.0, local_hour(env.now)):
            begin(n)
            n += 1


def novel_device(rng: random.Random, person: Person) -> tuple[str, str]:
    """A (device_type, traffic_source) the person has not used, when one can be found."""
    for _ in range(8):
        choice = pick_device(rng)
        if choice not in person.devices:
            return choice
    return choice


def device_for(rng: random.Random, person: Person, new_share: float) -> tuple[str, str]:
    """A device the person has not used with probability ``new_share``, else their usual one."""
    if rng.random() < new_share:
        return novel_device(rng, person)
    return person.devices[0]
