"""Same scenario, seed and start: the same bytes, in any process, advanced in any steps."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from simulated_runs import NAMED_SCENARIOS, SCENARIOS, small_scenario

from lab.regression_suite import GOLDEN_FILE, at_regression_scale, event_digest, regression_plans
from simulator.clock import DEFAULT_START
from simulator.scenario import load_scenario
from simulator.simulation import Simulation, canonical_digest

DIGEST_SNIPPET = """
import sys
from pathlib import Path
from simulator.scenario import load_scenario
from simulator.simulation import Simulation, canonical_digest
scenario = load_scenario("baseline", Path(sys.argv[1]))
print(canonical_digest(Simulation(scenario, int(sys.argv[2]), minutes=2).messages()))
"""


def _digest_in_a_new_process(seed: int, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", DIGEST_SNIPPET, str(SCENARIOS), str(seed)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def test_same_seed_same_digest_in_separate_processes_another_seed_another() -> None:
    first = _digest_in_a_new_process(7, "1")
    again = _digest_in_a_new_process(7, "2")
    other = _digest_in_a_new_process(8, "1")
    assert len(first) == 64
    assert first == again
    assert other != first


@pytest.mark.parametrize("name", ["baseline", "late-and-dirty", "flash-sale"])
def test_the_step_size_does_not_change_the_stream(name: str) -> None:
    scenario = load_scenario(name, SCENARIOS)
    whole = canonical_digest(Simulation(scenario, 3, minutes=3).messages(step_s=180))
    small_steps = canonical_digest(Simulation(scenario, 3, minutes=3).messages(step_s=7.3))
    assert whole == small_steps


def test_the_start_time_moves_event_time_only_through_the_clock() -> None:
    # eight weeks apart, at the same hour of the same weekday: the same traffic, shifted in time
    scenario, shift = small_scenario(), timedelta(weeks=8)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    a = list(Simulation(scenario, 1, start, minutes=2).messages())
    b = list(Simulation(scenario, 1, start + shift, minutes=2).messages())
    assert len(a) == len(b) > 1000
    times = {"ts", "event_time", "created_at", "birthdate", "first_join_date"}
    moved = Counter[str]()
    for x, y in zip(a, b, strict=True):
        assert (x.stream, x.deliver_at, x.key) == (y.stream, y.deliver_at, y.key)
        dx, dy = json.loads(x.value), json.loads(y.value)
        assert {k: v for k, v in dx.items() if k not in times} == {
            k: v for k, v in dy.items() if k not in times
        }
        for k in times & dx.keys():
            if k == "ts":
                assert dy[k] - dx[k] == shift.total_seconds()
            elif k == "first_join_date":  # drawn between a fixed opening date and the start
                assert (
                    dx[k] <= start.date().isoformat()
                    and dy[k] <= (start + shift).date().isoformat()
                )
            else:  # ISO dates and times, every one moved by the shift
                later = datetime.fromisoformat(dx[k].replace("Z", "+00:00")) + shift
                assert later.isoformat().startswith(dy[k].replace("Z", "")[:19].rstrip("T"))
            moved[k] += 1
    assert moved["ts"] == len(a) and moved["event_time"] > 0 and moved["birthdate"] > 0


def test_advance_hands_out_each_message_once_in_delivery_order() -> None:
    sim = Simulation(load_scenario("late-and-dirty", SCENARIOS), 4, minutes=3)
    static = sim.static_messages()
    assert {m.deliver_at for m in static} == {0.0}
    seen = []
    for until in (30.0, 30.0, 95.5, 180.0, float("inf")):
        batch = sim.advance(until)
        assert all(m.deliver_at < until for m in batch)
        seen.extend(batch)
    assert [m.deliver_at for m in seen] == sorted(m.deliver_at for m in seen)
    assert sim.advance(float("inf")) == []
    assert any(m.deliver_at > sim.horizon_s for m in seen)  # late ones after the end


def test_golden_digests_cover_every_named_scenario() -> None:
    golden = json.loads(GOLDEN_FILE.read_text())["scenarios"]
    assert sorted(golden) == sorted(NAMED_SCENARIOS)


@pytest.mark.parametrize("name", NAMED_SCENARIOS)
def test_golden_digest(name: str) -> None:
    """Each named scenario's stream at regression scale is the one the regression suite's
    goldens pin (``events`` in tests/regression/goldens.json, the one golden file), checked
    here without Kafka or Spark."""
    (plan,) = regression_plans(SCENARIOS, [name])
    scenario = at_regression_scale(load_scenario(name, SCENARIOS), plan)
    messages = list(Simulation(scenario, plan.seed, DEFAULT_START, plan.minutes).messages())
    golden = json.loads(GOLDEN_FILE.read_text())["scenarios"][name]["events"]
    now = event_digest(messages)
    assert (now.digest, now.streams) == (golden["digest"], golden["streams"]), (
        f"the simulated stream of {name} changed; if that is intended, run "
        "`fraudlab regress --update` and say why in the commit"
    )


def test_the_global_random_module_plays_no_part() -> None:
    scenario = small_scenario()
    digests = set()
    for global_seed in (1, 2):
        random.seed(global_seed)
        digests.add(canonical_digest(Simulation(scenario, 9, minutes=1).messages()))
    assert len(digests) == 1
