"""``--resume`` of ``produce``, ``run`` and ``replay``: what cannot be continued is refused in
one sentence (exit 2), before anything is started."""

from __future__ import annotations

import pytest

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.run_events import announce_now, run_event
from lab.cli import main
from simulator.clock import DEFAULT_START
from simulator.producer import run_details

pytestmark = pytest.mark.kafka


def _refusal(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    assert ended.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0].removeprefix("fraudlab: ")


def test_what_cannot_be_resumed_is_one_sentence(
    bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FRAUDLAB_BOOTSTRAP_SERVERS", bootstrap)
    scenario_run = run_details("name = 'x'", "x", 7, DEFAULT_START, 1.0, 10.0)
    with BlockingKafka(bootstrap) as kafka:
        for run_id, details, ending in (
            ("resume-cut", scenario_run, "interrupted"),
            ("resume-done", scenario_run, "finished"),
            ("resume-csv", {"source": "csv", "scenario": "csv:shop"}, "interrupted"),
        ):
            for event, what in (("started", details), (ending, {})):
                event_record = run_event(run_id, "producer", event, what)
                kafka.call(announce_now(kafka.session, 2, event_record))

    assert _refusal(capsys, "produce", "--resume", "resume-nowhere") == (
        f"run resume-nowhere has no producer announcement at {bootstrap}: there is no such run "
        "to resume (see `fraudlab runs`)."
    )
    assert _refusal(capsys, "produce", "--resume", "resume-done") == (
        "run resume-done was produced to its end: there is nothing to resume."
    )
    assert _refusal(capsys, "produce", "baseline", "--resume", "resume-cut", "--seed", "3") == (
        "--resume continues a run as it was announced: drop SCENARIO, --seed."
    )
    assert _refusal(capsys, "produce", "--resume", "resume-csv") == (
        "run resume-csv was not produced from a scenario (csv:shop): only scenario runs can be "
        "resumed; produce it again under a new run id."
    )
    assert _refusal(capsys, "replay", "--resume", "resume-cut") == (
        "run resume-cut is not a replay: continue it with `fraudlab run --resume resume-cut`."
    )
    assert _refusal(capsys, "run", "--resume", "resume-csv") == (
        "run resume-csv was not produced from a scenario (csv:shop): only scenario runs and "
        "replays can be resumed."
    )
    assert _refusal(capsys, "run", "--resume", "resume-cut", "--minutes", "2") == (
        "--resume continues a run as it started: drop --minutes."
    )
