"""Folding run-events into the run's metadata, its end and its outcome."""

from __future__ import annotations

import json

from fraudlab.run_events import Event, fold_run_events


def ev(part: str, event: str, ts: int, **details: object) -> Event:
    return Event(part, event, json.dumps(details), ts)


def test_metadata_comes_from_the_parts_details() -> None:
    info = fold_run_events(
        "r",
        [
            ev(
                "engine",
                "started",
                12,
                model_name="gbt",
                model_digest="d1",
                settings={"shuffle_partitions": 4},
                code_version="0.2",
            ),
            ev(
                "producer",
                "started",
                10,
                scenario="ato-wave",
                scenario_text="x = 1",
                seed=9,
                code_version="0.1",
            ),
        ],
    )
    assert (info.scenario, info.scenario_text, info.seed) == ("ato-wave", "x = 1", 9)
    assert (info.model_name, info.model_digest) == ("gbt", "d1")
    assert json.loads(info.engine_settings or "") == {"shuffle_partitions": 4}
    assert info.code_version == "0.2"  # the later event wins
    assert info.started_at == 10
    assert info.ended_at() is None


def test_events_arrive_in_any_order_and_a_start_precedes_an_end_in_the_same_second() -> None:
    events = [ev("producer", "finished", 5), ev("producer", "started", 5, seed=1)]
    for ordering in (events, events[::-1]):
        info = fold_run_events("r", ordering)
        assert info.parts["producer"].event == "finished"
        assert info.parts["producer"].details == {"seed": 1}
        assert info.over(("producer",))


def test_the_run_is_over_when_every_awaited_part_has_ended() -> None:
    started = [ev("producer", "started", 1), ev("engine", "started", 2)]
    assert not fold_run_events("r", started).over(("producer", "engine"))
    assert fold_run_events("r", started).over(())
    producer_done = [*started, ev("producer", "finished", 3)]
    assert not fold_run_events("r", producer_done).over(("producer", "engine"))
    assert fold_run_events("r", producer_done).over(("producer",))
    both = [*producer_done, ev("engine", "finished", 4)]
    info = fold_run_events("r", both)
    assert info.over(("producer", "engine"))
    assert (info.outcome(), info.ended_at()) == ("complete", 4)


def test_a_part_that_starts_again_is_running_again() -> None:
    info = fold_run_events(
        "r",
        [
            ev("engine", "started", 1),
            ev("engine", "interrupted", 2),
            ev("engine", "started", 3),
        ],
    )
    assert not info.over(("engine",))
    assert info.ended_at() is None


def test_the_worst_end_is_the_outcome() -> None:
    base = [ev("producer", "started", 1), ev("engine", "started", 1)]
    interrupted = fold_run_events(
        "r", [*base, ev("producer", "interrupted", 2), ev("engine", "finished", 3)]
    )
    failed = fold_run_events(
        "r", [*base, ev("producer", "interrupted", 2), ev("engine", "failed", 3)]
    )
    assert interrupted.outcome() == "interrupted"
    assert failed.outcome() == "failed"


def test_details_that_are_not_a_json_object_are_kept_as_text() -> None:
    info = fold_run_events(
        "r",
        [
            Event("producer", "started", "plain words", 1),
            Event("engine", "started", "[1, 2]", 1),
            Event("replay", "started", "", 1),
        ],
    )
    assert info.parts["producer"].details == {"text": "plain words"}
    assert info.parts["engine"].details == {"text": "[1, 2]"}
    assert info.parts["replay"].details == {}
    assert json.loads(info.parts_json())["producer"]["event"] == "started"


def test_a_seed_given_as_text_is_still_a_seed_and_nonsense_is_none() -> None:
    assert fold_run_events("r", [ev("producer", "started", 1, seed="42")]).seed == 42
    assert fold_run_events("r", [ev("producer", "started", 1, seed="x")]).seed is None
    assert fold_run_events("r", [ev("producer", "started", 1, seed=True)]).seed is None


def test_the_log_order_decides_when_the_events_have_one() -> None:
    # restarted within the same second: only the log says which came last
    events = [
        Event("engine", "started", "{}", 7, (0, 0)),
        Event("engine", "interrupted", "{}", 7, (0, 1)),
        Event("engine", "started", "{}", 7, (0, 2)),
    ]
    assert fold_run_events("r", events[::-1]).parts["engine"].event == "started"
    # a clock running behind on one host does not reorder the log
    skewed = [
        Event("producer", "started", "{}", 10, (0, 0)),
        Event("producer", "finished", "{}", 9, (0, 1)),
    ]
    assert fold_run_events("r", skewed).over(("producer",))
