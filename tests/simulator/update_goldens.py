"""Golden digests of every named scenario at a short horizon, and how to regenerate them.

    python -m tests.simulator.update_goldens

rewrites ``golden_digests.json`` beside this file. Run it only when a change to the simulated
world is intended, and say so in the commit; the tests never regenerate it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from simulator.clock import DEFAULT_START
from simulator.scenario import list_scenarios, load_scenario
from simulator.simulation import Simulation, canonical_digest

GOLDEN_FILE = Path(__file__).with_name("golden_digests.json")
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
GOLDEN_MINUTES = 2.0


def golden_digest(name: str) -> str:
    """The digest of scenario ``name`` with its default seed for GOLDEN_MINUTES."""
    scenario = load_scenario(name, SCENARIOS)
    return canonical_digest(
        Simulation(scenario, scenario.seed, DEFAULT_START, GOLDEN_MINUTES).messages()
    )


def main() -> int:
    """Recompute every golden digest and write the file."""
    digests = {s.name: golden_digest(s.name) for s in list_scenarios(SCENARIOS)}
    document = {
        "minutes": GOLDEN_MINUTES,
        "start": DEFAULT_START.isoformat(),
        "seed": "each scenario's default",
        "digests": digests,
    }
    GOLDEN_FILE.write_text(json.dumps(document, indent=2) + "\n")
    for name, digest in digests.items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
