"""Command-line options that several commands share, defined once: seed and minutes, pace
(``--speed K`` or ``--fast``), ``--json`` and ``--plot``, ``--resume``.

Each is a click decorator; a command keeps its own help text where the meaning differs (a
replay's speed scales the original's pacing), and :func:`pace` checks a pace in one sentence.

>>> pace(10.0, False), pace(None, True)
(10.0, None)
>>> pace(None, False)
Traceback (most recent call last):
...
fraudlab.errors.UsageError: say how fast to play the run: --speed K (1 = real time) or --fast.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fraudlab.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

# the slowest pace: the engine's 10 s micro-batches then come every 1,000 s of wall time (Spark
# refuses a trigger interval of an absurd length, as 1e-300 would make it)
MIN_SPEED = 0.01
SPEED_HELP = f"Pace: simulated seconds per wall second (1 = real time, at least {MIN_SPEED:g})."


def seed_option(help: str = "Seed [default: the scenario's].", default: int | None = None) -> Any:
    """``--seed N`` (a non-negative integer)."""
    return click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=default,
        show_default=default is not None,
        help=help,
    )


def minutes_option(
    help: str = "Simulated minutes [default: the scenario's].",
    default: float | None = None,
    minimum: float = 0.0,
) -> Any:
    """``--minutes M`` (more than ``minimum``; at least it when ``minimum`` > 0)."""
    kind = (
        click.FloatRange(min=minimum, min_open=True) if minimum == 0 else click.FloatRange(minimum)
    )
    return click.option(
        "--minutes", type=kind, default=default, show_default=default is not None, help=help
    )


def customers_option() -> Any:
    """``--customers N``: the scenario's world cut (or grown) to N customers, its products,
    traffic, patterns and faults as they are (1 to 1,000,000, as a scenario file allows)."""
    return click.option(
        "--customers",
        type=click.IntRange(1, 1_000_000),
        default=None,
        help="Customers in the simulated world [default: the scenario's].",
    )


def pace_options(
    speed_help: str = SPEED_HELP, fast_help: str = "As fast as the broker takes it."
) -> Callable[[F], F]:
    """``--speed K`` and ``--fast``: how fast a run is played (check them with :func:`pace`)."""

    def decorate(command: F) -> F:
        command = click.option("--fast", is_flag=True, help=fast_help)(command)
        return click.option("--speed", type=click.FloatRange(min=MIN_SPEED), help=speed_help)(
            command
        )

    return decorate


def pace(speed: float | None, fast: bool, required: bool = True) -> float | None:
    """The pace chosen (None: ``--fast``); a UsageError when both are given, or (``required``)
    neither."""
    if fast and speed is not None:
        raise UsageError("--speed and --fast exclude each other: choose one.")
    if required and not fast and speed is None:
        raise UsageError("say how fast to play the run: --speed K (1 = real time) or --fast.")
    return None if fast else speed


def archive_dir_option() -> Any:
    """``--archive-dir DIR``: the folder of the run files (the setting ``archive_dir``)."""
    return click.option(
        "--archive-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder of the run files [default: var/archive].",
    )


def json_option(help: str = "Print JSON.") -> Any:
    """``--json``, into the parameter ``as_json``."""
    return click.option("--json", "as_json", is_flag=True, help=help)


def plot_option(help: str) -> Any:
    """``--plot FILE.png``: a picture of the result."""
    return click.option(
        "--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.png", help=help
    )


def resume_option(metavar: str, help: str) -> Any:
    """``--resume RUN``: continue a run stopped part way, into the parameter ``resume_run``."""
    return click.option("--resume", "resume_run", metavar=metavar, help=help)


def given_options(**values: object) -> list[str]:
    """The names of the options (``--seed``) or arguments (``SCENARIO``, in capitals) given
    among ``values`` (name -> value, None when not given), in order.

    >>> given_options(SCENARIO=None, seed=3, run_id="r1")
    ['--seed', '--run-id']
    """
    return [
        name if name.isupper() else "--" + name.replace("_", "-")
        for name, value in values.items()
        if value is not None
    ]
