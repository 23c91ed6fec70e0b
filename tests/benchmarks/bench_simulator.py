"""Simulator throughput against a bare SimPy loop, side by side in one process.

Measures simulated events per second (every browsing, transaction, truth, session, customer and
fault message produced after the static data) of the real simulator on the baseline scenario,
and timeouts per second of a bare SimPy loop with as many concurrent processes as the
simulation keeps sessions open, each drawing a random delay and yielding one timeout, which is
the least a simulated event can cost. Prints the ratio (goal: 0.3 or better) and, from a
profile, where the simulator's time goes.

    python tests/benchmarks/bench_simulator.py [--minutes M] [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import random
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import orjson
import simpy

from simulator.scenario import load_scenario
from simulator.simulation import STEP_S, Simulation

REPO = Path(__file__).resolve().parents[2]
GOAL = 0.3


def bare_loop(processes: int, timeouts: int) -> float:
    """Timeouts per second of ``processes`` concurrent SimPy processes, ``timeouts`` in all."""
    env = simpy.Environment()
    rng = random.Random(1)
    per = timeouts // processes

    def proc(env: simpy.Environment) -> Generator[Any, Any, None]:
        for _ in range(per):
            yield env.timeout(rng.expovariate(0.1))

    for _ in range(processes):
        env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return per * processes / (time.perf_counter() - t0)


def simulate(minutes: float, seed: int = 7) -> tuple[int, float, int]:
    """(event messages, seconds, mean live processes) of one baseline run, world build excluded."""
    scenario = load_scenario("baseline", REPO / "scenarios")
    sim = Simulation(scenario, seed, minutes=minutes)
    sim.static_messages()
    count = 0
    queued = []
    t0 = time.perf_counter()
    t = 0.0
    while t < sim.horizon_s:
        t = min(t + STEP_S, sim.horizon_s)
        count += len(sim.advance(t))
        # each live process waits on one scheduled event: the queue is the concurrency
        queued.append(len(sim.env._queue))
    count += len(sim.advance(float("inf")))
    seconds = time.perf_counter() - t0
    return count, seconds, max(1, round(sum(queued) / len(queued)))


def profile(minutes: float) -> list[tuple[str, float]]:
    """Share of the simulator's own time by where it is spent, largest first."""
    scenario = load_scenario("baseline", REPO / "scenarios")
    sim = Simulation(scenario, 7, minutes=minutes)
    profiler = cProfile.Profile()
    profiler.enable()
    sim.advance(sim.horizon_s)
    profiler.disable()
    stats = pstats.Stats(profiler)
    totals: dict[str, float] = {}
    for (file, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "simpy" in file:
            where = "SimPy core (events, scheduling, process resumption)"
        elif file.endswith("sessions.py") and func == "session":
            where = "session loop (chain step, dwell, message bytes)"
        elif "simulator" in file:
            where = f"simulator {Path(file).stem}.{func}"
        else:
            where = f"built-ins ({func})"
        totals[where] = totals.get(where, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; write them as JSON with --json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="simulated minutes per run")
    parser.add_argument("--repeat", type=int, default=3, help="measured pairs; the median is kept")
    parser.add_argument("--json", type=Path, help="write the figures to this file as JSON")
    args = parser.parse_args(argv)

    gc.collect()
    # measured in pairs, one right after the other, so that load from elsewhere on the machine
    # hits both sides of each ratio alike; the median pair is reported
    pairs = []
    for _ in range(args.repeat):
        events, seconds, open_sessions = simulate(args.minutes)
        bare = bare_loop(open_sessions, max(events, 100_000))
        pairs.append((events / seconds, bare))
    pairs.sort(key=lambda p: p[0] / p[1])
    sim_rate, bare_rate = pairs[len(pairs) // 2]
    ratio = sim_rate / bare_rate
    shares = profile(min(args.minutes, 10.0))

    print(
        f"simulator: {sim_rate:,.0f} events/s ({events:,} events in {args.minutes:g} simulated min)"
    )
    print(f"bare SimPy loop: {bare_rate:,.0f} timeouts/s ({open_sessions} concurrent processes)")
    print(f"ratio: {ratio:.2f} (goal {GOAL})")
    engine = sum(v for k, v in shares if k.startswith("SimPy") or "heap" in k or "send" in k)
    print(
        f"limited by: Python work per event around SimPy's own ({engine:.0%} of the time): "
        "drawing the next event and its dwell, formatting the event's JSON bytes, building its "
        "Message; plus per-session set-up (visit, process, session record) and checkouts"
    )
    print("where the simulator's time goes (profiled):")
    for where, share in shares[:8]:
        print(f"  {share:6.1%}  {where}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(
            orjson.dumps(
                {
                    "benchmark": "simulator",
                    "simulator_events_per_s": round(sim_rate),
                    "bare_simpy_timeouts_per_s": round(bare_rate),
                    "ratio": round(ratio, 3),
                    "pair_ratios": [round(a / b, 3) for a, b in pairs],
                    "goal": GOAL,
                    "events": events,
                    "simulated_minutes": args.minutes,
                    "concurrent_processes": open_sessions,
                    "simpy_share": round(engine, 3),
                    "time_shares": {k: round(v, 3) for k, v in shares[:8]},
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
