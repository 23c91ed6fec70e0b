"""A run started on someone's behalf: ``fraudlab run`` as a process that outlives its caller.

The views' index page and a notebook's ``lab.run(...)`` start runs with :func:`launch_run`, and
a notebook's ``handle.replay(...)`` replays with it. It runs the very command a user types,
``fraudlab run`` (or ``fraudlab replay``) with the request's flags: the command
builds the run's plan (:class:`lab.run_plan.RunPlan`), checks it and supervises its parts, as it
does at a terminal. The process has a session of its own, so that it outlives a page that is
closed, a server that stops or a notebook kernel restarted; it is stopped through the run's
control topic (:mod:`fraudlab.run_control`), as a Ctrl-C would stop it.

>>> RunRequest("r1", scenario="baseline", seed=7, minutes=5, speed=20).arguments()
['run', 'baseline', '--run-id', 'r1', '--seed', '7', '--minutes', '5', '--speed', '20']
>>> RunRequest("r2", csv_folder=Path("data"), fast=True, model="m1", challenger="m2").arguments()
['run', '--csv', 'data', '--run-id', 'r2', '--fast', '--model', 'm1', '--challenger', 'm2']
>>> ReplayRequest("r3", source_run_id="r1", speed=40, challenger="m2").arguments()
['replay', 'r1', '--run-id', 'r3', '--speed', '40', '--challenger', 'm2']
>>> ReplayRequest("r4", source_run_id="r1", fast=True, model="m1").arguments()
['replay', 'r1', '--run-id', 'r4', '--fast', '--model', 'm1']
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fraudlab.command_line import fraudlab_argv, last_sentence
from fraudlab.errors import UsageError
from fraudlab.settings import Settings, settings_toml

__all__ = ["LAUNCH_WAIT_S", "LaunchedRun", "ReplayRequest", "RunRequest", "launch_run"]

# how long a launch waits for `fraudlab run` to accept its request (its checks, the broker)
LAUNCH_WAIT_S = 60.0
LAUNCH_LOG = "run.log"
LAUNCH_SETTINGS = "launch-settings.toml"
# what the run's supervisor writes once it has checked the plan and starts the parts
SUPERVISOR_SETTINGS = "settings.toml"


@dataclass(frozen=True)
class RunRequest:
    """A ``fraudlab run`` to start: a ``scenario`` (name or file) or a ``csv_folder``, and its
    flags: ``speed`` (simulated seconds per wall second) or ``fast`` (as fast as it goes); a CSV
    folder with neither goes at its batches' pace. None elsewhere: the command's own default
    (the scenario's seed and minutes, the champion model, the default rule book)."""

    run_id: str
    scenario: str | None = None
    csv_folder: Path | None = None
    seed: int | None = None
    minutes: float | None = None
    speed: float | None = None
    fast: bool = False
    model: str | None = None
    challenger: str | None = None
    rule_files: tuple[Path, ...] = ()

    def arguments(self) -> list[str]:
        """The ``fraudlab`` command line (without the program and settings)."""
        if (self.scenario is None) == (self.csv_folder is None):
            raise ValueError("a run request names a scenario or a CSV folder, not both")
        args = ["run"]
        args += ["--csv", str(self.csv_folder)] if self.scenario is None else [self.scenario]
        args += ["--run-id", self.run_id]
        if self.seed is not None:
            args += ["--seed", str(self.seed)]
        if self.minutes is not None:
            args += ["--minutes", f"{self.minutes:g}"]
        args += _pace_and_models(self.speed, self.fast, self.model, self.challenger)
        for path in self.rule_files:
            args += ["--rules", str(path)]
        return args


@dataclass(frozen=True)
class ReplayRequest:
    """A ``fraudlab replay`` to start: the archived run ``source_run_id`` played again as run
    ``run_id``, at ``speed`` (the original's simulated seconds per wall second) or ``fast``;
    ``model`` None: the model that scored the original; ``challenger``: a second model scored
    beside it. The original's own rule changes apply at their event times."""

    run_id: str
    source_run_id: str
    speed: float | None = None
    fast: bool = False
    model: str | None = None
    challenger: str | None = None

    def arguments(self) -> list[str]:
        """The ``fraudlab`` command line (without the program and settings)."""
        args = ["replay", self.source_run_id, "--run-id", self.run_id]
        return args + _pace_and_models(self.speed, self.fast, self.model, self.challenger)


def _pace_and_models(
    speed: float | None, fast: bool, model: str | None, challenger: str | None
) -> list[str]:
    """The pace and model flags ``fraudlab run`` and ``fraudlab replay`` share."""
    args = ["--fast"] if fast else [] if speed is None else ["--speed", f"{speed:g}"]
    if model is not None:
        args += ["--model", model]
    if challenger is not None:
        args += ["--challenger", challenger]
    return args


@dataclass(frozen=True)
class LaunchedRun:
    """A run started by :func:`launch_run`: its id, the ``fraudlab run`` process, its log."""

    run_id: str
    pid: int
    log_path: Path


def launch_run(
    settings: Settings, request: RunRequest | ReplayRequest, wait_s: float = LAUNCH_WAIT_S
) -> LaunchedRun:
    """Start ``fraudlab run`` (or ``fraudlab replay``) for ``request`` with ``settings``, in a
    session of its own, its output in ``<logs_dir>/<run_id>/run.log``; return once its
    supervisor has accepted the request and starts the run's parts.

    Raises UsageError with the command's own sentence when it refuses the request (a scenario
    or model that does not exist, a run id in use, a broker that does not answer), or when it
    has not started the parts within ``wait_s`` seconds (it goes on; its log says why).
    """
    logs = settings.logs_dir / request.run_id
    logs.mkdir(parents=True, exist_ok=True)
    settings_file = logs / LAUNCH_SETTINGS
    settings_file.write_text(settings_toml(settings))
    log_path = logs / LAUNCH_LOG
    started = time.time()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            fraudlab_argv(settings_file, *request.arguments()),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # reaped when it ends, whoever asked for it has gone by then
    threading.Thread(target=process.wait, name=f"run-{request.run_id}", daemon=True).start()
    supervisor = logs / SUPERVISOR_SETTINGS
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None and code != 0:
            lines = log_path.read_text(errors="replace").splitlines()[-200:]
            raise UsageError(f"the run did not start: {last_sentence(lines, code)}")
        if supervisor.exists() and supervisor.stat().st_mtime >= started - 1:
            return LaunchedRun(request.run_id, process.pid, log_path)
        if code == 0:
            return LaunchedRun(request.run_id, process.pid, log_path)
        time.sleep(0.2)
    raise UsageError(
        f"run {request.run_id} has not started its parts after {wait_s:g} s: see {log_path}."
    )
