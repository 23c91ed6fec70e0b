"""A run's control channel without a broker: the pacer's pause, resume and speed changes on a
real event loop, the fold of a run's pace from its run-events, and the refusals."""

from __future__ import annotations

import asyncio
import time

import pytest

from fraudlab import codec
from fraudlab.errors import UsageError
from fraudlab.pacing import Pacer
from fraudlab.records import RunEvent
from fraudlab.run_control import (
    PaceState,
    control_request,
    decoded_requests,
    pace_state,
    playing_problem,
)


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pause_holds_the_schedule_and_resume_goes_on_where_it_stopped() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    clock.now += 3.0  # simulated 30 s are due
    pacer.pause()
    clock.now += 50.0  # a long pause: nothing becomes due meanwhile
    assert pacer.paused
    assert pacer.delay_until(40.0) == pytest.approx(1.0)  # as if it ended now
    pacer.resume()
    assert pacer.delay_until(40.0) == pytest.approx(1.0)
    assert pacer.delay_until(30.0) == 0.0
    # the pause is left out of the pace reached
    clock.now += 1.0
    assert pacer.achieved_speed(40.0) == pytest.approx(10.0)


def test_a_new_speed_goes_on_from_the_instant_due_then() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock=clock)
    clock.now += 2.0  # simulated 20 s due
    pacer.set_speed(100.0)
    assert pacer.delay_until(120.0) == pytest.approx(1.0)
    pacer.pause()
    clock.now += 5.0
    pacer.set_speed(50.0)  # while paused: from where the pause began
    pacer.resume()
    assert pacer.delay_until(70.0) == pytest.approx(1.0)


def test_a_fast_pacer_has_no_speed_to_change() -> None:
    with pytest.raises(ValueError, match="as fast as it can"):
        Pacer(None).set_speed(5.0)
    with pytest.raises(ValueError, match="positive"):
        Pacer(1.0).set_speed(0.0)


def test_a_wait_sleeps_through_a_pause_and_wakes_on_resume() -> None:
    async def scenario() -> tuple[float, bool]:
        pacer = Pacer(1000.0)
        pacer.pause()
        waited = asyncio.create_task(pacer.wait_until(0.001))
        await asyncio.sleep(0.3)
        done_while_paused = waited.done()
        started = time.monotonic()
        pacer.resume()
        await asyncio.wait_for(waited, 5.0)
        return time.monotonic() - started, done_while_paused

    after_resume, done_while_paused = asyncio.run(scenario())
    assert not done_while_paused
    assert after_resume < 0.5


def test_a_slower_speed_wakes_a_wait_that_would_have_ended_sooner() -> None:
    async def scenario() -> float:
        pacer = Pacer(1.0)
        waited = asyncio.create_task(pacer.wait_until(0.4))  # 0.4 s at 1x
        await asyncio.sleep(0.1)
        pacer.set_speed(0.2)  # the 0.3 simulated s left take 1.5 wall s
        started = time.monotonic()
        await asyncio.wait_for(waited, 5.0)
        return time.monotonic() - started

    assert asyncio.run(scenario()) == pytest.approx(1.5, abs=0.4)


def _event(part: str, event: str, details: str, ts: int = 0) -> RunEvent:
    return RunEvent("r1", part, event, details, ts)


def test_the_pace_is_the_source_s_last_word_since_it_last_started() -> None:
    events = [
        _event("producer", "started", '{"speed": 20}'),
        _event("producer", "paced", '{"paused": true, "speed": 20, "by": "cli"}'),
        _event("producer", "paced", '{"paused": false, "speed": 40, "by": "browser"}'),
    ]
    assert pace_state(events[:1]) == PaceState(False, 20.0)
    assert pace_state(events[:2]) == PaceState(True, 20.0)
    assert pace_state(events) == PaceState(False, 40.0)
    # a resumed source starts over at its own pace
    assert pace_state([*events[:2], _event("producer", "started", '{"speed": 5}')]) == PaceState(
        False, 5.0
    )
    assert pace_state([_event("engine", "started", "{}")]) is None


def test_requests_a_run_cannot_take_are_refused_in_one_sentence() -> None:
    started = _event("producer", "started", '{"speed": 20}')
    fast = _event("producer", "started", '{"speed": null}')
    assert playing_problem("r1", [], "pause") == (
        "run r1 is not on Kafka: see `fraudlab runs` for archived runs."
    )
    assert "has not started yet" in str(
        playing_problem("r1", [_event("engine", "x", "{}")], "stop")
    )
    assert playing_problem("r1", [started], "pause") is None
    assert "(--fast)" in str(playing_problem("r1", [fast], "speed"))
    assert playing_problem("r1", [fast], "stop") is None
    ended = [started, _event("producer", "finished", "{}")]
    assert "has finished" in str(playing_problem("r1", ended, "resume"))
    assert playing_problem("r1", ended, "stop") is None  # the engine still closes windows
    over = [*ended, _event("engine", "finished", "{}")]
    assert playing_problem("r1", over, "stop") == "run r1 has ended: there is nothing to stop."


@pytest.mark.parametrize(
    ("action", "speed", "sentence"),
    [
        ("rewind", None, "'rewind' is not a run control"),
        ("speed", None, "a new speed needs a number"),
        ("speed", 0.0, "a speed is above 0 and at most 10,000, not 0."),
        ("speed", 1e6, "not 1e+06."),
    ],
)
def test_a_bad_request_is_one_sentence(action: str, speed: float | None, sentence: str) -> None:
    with pytest.raises(UsageError, match=sentence.replace("(", r"\(").replace("+", r"\+")):
        control_request("r1", action, speed, by="cli", ts=0)


def test_a_value_that_is_no_request_is_skipped() -> None:
    good = codec.encode(control_request("r1", "pause", None, by="cli", ts=0))
    assert [r.action for r in decoded_requests([b"{", None, b'{"action": "x"}', good])] == ["pause"]
