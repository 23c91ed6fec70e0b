"""Fixtures of the simulator tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from simulated_runs import SCENARIOS

from simulator.scenario import Scenario, load_scenario


@pytest.fixture(scope="session")
def scenarios_dir() -> Path:
    """The repository's scenarios folder."""
    return SCENARIOS


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    """The baseline scenario."""
    return load_scenario("baseline", SCENARIOS)
