"""Replay honesty and throughput: does speed k play k times real time, and how fast is --fast?

On one broker this script produces a baseline run with ``produce --fast`` (the reference rate),
archives it, republishes it as fast as possible, then paced at k = 100 (the whole run), 10 and 1
(slices of it) for about ``--seconds`` of wall time each. For each k it reports the event-time
rate reached over k (goal: within 2% of 1) and how far sending fell behind the schedule at worst,
measured with this script's own clock at every step. Prints figures; ``--json PATH`` writes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from archive.archiver import ArchiveOptions, Mode, archive_run
from fraudlab.broker import LocalBroker
from fraudlab.net import free_port
from fraudlab.settings import Settings, load_settings
from replay.republish import republish_run
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

GOAL = 0.02  # |achieved / k - 1|
SPEEDS = (100.0, 10.0, 1.0)


async def produce_source(settings: Settings, run_id: str, minutes: float) -> dict[str, Any]:
    """Produce and archive the run the replays read; the producer's rate."""
    scenario = load_scenario("baseline", settings.scenarios_dir)
    sim = Simulation(scenario, 7, DEFAULT_START, minutes)
    details = run_details(scenario.text, scenario.name, 7, DEFAULT_START, minutes, None)
    started = time.perf_counter()
    report = await produce_run(
        sim, DEFAULT_START, run_id, settings.bootstrap_servers, 2, None, details=details
    )
    produce_s = time.perf_counter() - started
    started = time.perf_counter()
    await archive_run(settings, run_id, ArchiveOptions(mode=Mode.UNTIL_END, wait_for=("producer",)))
    return {
        "messages": report.total,
        "produce_fast_per_s": report.total / produce_s,
        "archive_s": time.perf_counter() - started,
    }


async def replay_fast(settings: Settings, source: str) -> dict[str, Any]:
    started = time.perf_counter()
    report = await republish_run(settings, source, f"{source}-fast", None, details={})
    wall = time.perf_counter() - started
    return {"messages": report.total, "wall_s": wall, "per_s": report.total / wall}


async def replay_paced(
    settings: Settings, source: str, speed: float, until_s: float | None
) -> dict[str, Any]:
    """A paced replay; its speed as the replay reports it and as this script's clock sees it."""
    lags: list[float] = []
    clock: dict[str, float] = {}

    def progress(sim_s: float, _sent: Counter[str]) -> None:
        # the first report comes one step in: take the schedule's origin from it
        now = time.perf_counter()
        clock.setdefault("origin", now - sim_s / speed)
        lags.append(now - clock["origin"] - sim_s / speed)

    started = time.perf_counter()
    report = await republish_run(
        settings,
        source,
        f"{source}-k{speed:g}",
        speed,
        details={},
        progress=progress,
        until_s=until_s,
    )
    wall = time.perf_counter() - started
    return {
        "speed": speed,
        "simulated_s": report.simulated_s,
        "messages": report.total,
        "wall_s": wall,
        "achieved": report.speed,
        "ratio": report.speed / speed,
        "max_lag_s": max(lags, default=0.0),
    }


async def _measure(settings: Settings, seconds: float) -> dict[str, Any]:
    source = f"bench-replay-{time.time_ns()}"
    minutes = seconds * max(SPEEDS) / 60
    figures: dict[str, Any] = {"source_minutes": minutes}
    figures["source"] = await produce_source(settings, source, minutes)
    print(
        f"produce --fast: {figures['source']['produce_fast_per_s']:,.0f} msg/s "
        f"({figures['source']['messages']:,} messages, {minutes:g} simulated min)",
        flush=True,
    )
    figures["fast"] = await replay_fast(settings, source)
    figures["fast_ratio"] = figures["fast"]["per_s"] / figures["source"]["produce_fast_per_s"]
    print(
        f"replay --fast:  {figures['fast']['per_s']:,.0f} msg/s -> ratio to produce "
        f"{figures['fast_ratio']:.2f}",
        flush=True,
    )
    figures["paced"] = []
    for speed in SPEEDS:
        until = None if speed == max(SPEEDS) else seconds * speed
        paced = await replay_paced(settings, source, speed, until)
        figures["paced"].append(paced)
        figures[f"speed_{speed:g}_ratio"] = paced["ratio"]
        print(
            f"replay at k={speed:<5g} {paced['simulated_s']:>7,.0f} simulated s in "
            f"{paced['wall_s']:6.1f} s: achieved {paced['achieved']:.3f}, ratio "
            f"{paced['ratio']:.4f}, worst lag {paced['max_lag_s'] * 1000:.0f} ms",
            flush=True,
        )
    figures["speed_honest"] = all(abs(p["ratio"] - 1) <= GOAL for p in figures["paced"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="wall seconds of each paced replay"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    base = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp) / "kafka", free_port(), base.jvm_lib_dir, heap="1g")
        broker.up()
        settings = base.model_copy(
            update={"bootstrap_servers": broker.bootstrap, "archive_dir": Path(tmp) / "archive"}
        )
        try:
            figures = asyncio.run(_measure(settings, args.seconds))
        finally:
            broker.down()
    figures["cores"] = os.cpu_count()
    print(
        f"\nspeed honesty (goal within {GOAL:.0%}): "
        + ", ".join(f"k={p['speed']:g} {p['ratio']:.4f}" for p in figures["paced"])
        + f"; --fast replay / produce --fast {figures['fast_ratio']:.2f}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    sys.exit(main())
