"""The Python API for notebooks: start a run, or open one, and read it as pandas frames.

>>> import lab
>>> run = lab.run("baseline", minutes=3, fast=True)      # doctest: +SKIP
>>> run.wait(); run.scores().head()                      # doctest: +SKIP

:func:`run` starts ``fraudlab run`` through :func:`fraudlab.run_launch.launch_run`, the path
the index page takes too: the same plan, checks and supervision as at a terminal, in a process
that outlives the kernel. :func:`open` takes a run that exists (archived, or on Kafka). A
:class:`RunHandle` reads the run from Kafka while it plays and from its archive once the archive
is closed, and asks it to pause, resume, change pace or stop through the run's control topic
(:mod:`fraudlab.run_control`), as ``fraudlab pace`` and ``fraudlab stop`` do.

Settings: those given, else :func:`fraudlab.settings.load_settings` (``FRAUDLAB_SETTINGS_FILE``
points a notebook at a settings file). A user's mistake (a scenario that does not exist, a run
not archived yet) is one sentence: :class:`fraudlab.errors.UsageError`.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from archive.files import ArchiveCorrupt, RunIsLive, archive_path, reading
from archive.reader import run_summary
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.command_line import last_sentence
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.records import FraudAlerts, Record, Score, TopProduct
from fraudlab.run_control import control_request, send_control
from fraudlab.run_events import read_run_events
from fraudlab.run_launch import LaunchedRun, ReplayRequest, RunRequest, launch_run
from fraudlab.runs import new_run_id, validate_run_id
from fraudlab.settings import Settings, load_settings
from fraudlab.topics import topic_name
from lab.notebook_frames import RESULT_FRAMES, archived_frame, decoded_records
from lab.notebook_reports import compare_archived, pattern_frame, run_report
from lab.notebook_status import RunStatus, archived_status, playing_status
from lab.run_status import RunWatcher

if TYPE_CHECKING:
    import pandas as pd

    from lab.notebook_charts import LiveShown

__all__ = ["CLOSED_STATUSES", "RunHandle", "close_sessions", "open", "run"]

# an archive in one of these is closed: its archiver has written everything it will
CLOSED_STATUSES = ("complete", "interrupted", "failed", "partial")
WAIT_LINE_EVERY_S = 10.0
POLL_S = 1.0
# wall seconds a run's `fraudlab run` may have ended before its archive is closed
LAUNCH_GONE_S = 15.0
STOP_WAIT_S = 120.0

_sessions: dict[str, BlockingKafka] = {}
_sessions_lock = threading.Lock()


def _kafka(settings: Settings) -> BlockingKafka:
    """The process's one Kafka session for the settings' cluster, opened on first use."""
    with _sessions_lock:
        session = _sessions.get(settings.bootstrap_servers)
        if session is None:
            if not _sessions:
                atexit.register(close_sessions)
            session = _sessions[settings.bootstrap_servers] = BlockingKafka(
                settings.bootstrap_servers
            )
        return session


def close_sessions() -> None:
    """Close the process's Kafka sessions (a kernel does at exit); the next call that needs one
    opens it again."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        # a cluster that has gone away cannot be told goodbye
        with contextlib.suppress(Exception):
            session.close()


def _check_pace(speed: float | None, fast: bool, *, required: bool) -> None:
    """UsageError, in one sentence, for both a speed and fast, or (``required``) neither."""
    if fast and speed is not None:
        raise UsageError("speed= and fast=True exclude each other: choose one.")
    if required and not fast and speed is None:
        raise UsageError(
            "say how fast to play the run: speed=K (simulated seconds per wall second) or "
            "fast=True."
        )


def run(
    scenario: str | None = None,
    *,
    csv: str | Path | None = None,
    seed: int | None = None,
    minutes: float | None = None,
    speed: float | None = None,
    fast: bool = False,
    model: str | None = None,
    challenger: str | None = None,
    rules: Sequence[str | Path] = (),
    run_id: str | None = None,
    settings: Settings | None = None,
) -> RunHandle:
    """Start a run as ``fraudlab run`` does and return its handle once its parts start.

    ``scenario``: a scenario's name or TOML file, or ``csv``: a folder of the assignment's CSV
    files (one of the two). ``seed``: the scenario's own when None. ``minutes``: simulated
    minutes (the scenario's own when None). ``speed``: simulated seconds per wall second, or
    ``fast=True``: as fast as it goes (a scenario needs one of them; a CSV folder without
    either goes at one batch every 5 s). ``model``: a saved model (the champion, ``default``,
    when None); ``challenger``: another scored beside it. ``rules``: rule files it starts
    with. ``run_id``: a new id from the scenario, seed and time when None.
    """
    settings = settings or load_settings()
    if (scenario is None) == (csv is None):
        raise UsageError("say what to run: a scenario, or csv=FOLDER of CSV files, not both.")
    _check_pace(speed, fast, required=scenario is not None)
    if scenario is not None:
        from simulator.scenario import load_scenario

        loaded = load_scenario(scenario, settings.scenarios_dir)
        seed = loaded.seed if seed is None else seed
        run_id = validate_run_id(run_id) if run_id else new_run_id(loaded.name, seed)
    else:
        run_id = validate_run_id(run_id) if run_id else new_run_id("csv", seed or 0)
    request = RunRequest(
        run_id,
        scenario=scenario,
        csv_folder=None if csv is None else Path(csv),
        seed=seed,
        minutes=minutes,
        speed=speed,
        fast=fast,
        model=model,
        challenger=challenger,
        rule_files=tuple(Path(r) for r in rules),
    )
    return RunHandle(run_id, settings, launch_run(settings, request))


def open(run_id: str, settings: Settings | None = None) -> RunHandle:
    """The handle of run ``run_id``: archived, or on Kafka (playing, or ended but not
    archived). UsageError when it is neither."""
    settings = settings or load_settings()
    validate_run_id(run_id)
    if not archive_path(settings.archive_dir, run_id).exists():
        kafka = _kafka(settings)
        if not kafka.call(read_run_events(kafka.session, run_id)):
            raise UsageError(
                f"no run {run_id!r}: it is neither archived in {settings.archive_dir} nor on "
                f"Kafka at {settings.bootstrap_servers} (`fraudlab runs` lists archived runs)."
            )
    return RunHandle(run_id, settings)


class RunHandle:
    """One run, read and steered from Python (see the module). Frames come from the archive
    once it is closed, from the run's Kafka topics before."""

    def __init__(
        self, run_id: str, settings: Settings, launched: LaunchedRun | None = None
    ) -> None:
        self.run_id = run_id
        self.settings = settings
        self.launched = launched
        # a run that plays is watched through a session of its own: its followers fetch in the
        # background, and closing the session when the run has ended stops them
        self._watching: BlockingKafka | None = None
        self._watcher: RunWatcher | None = None

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"

    # ---- where the run stands ---------------------------------------------------------------

    def _archive_path(self) -> Path:
        return archive_path(self.settings.archive_dir, self.run_id)

    def _archive_closed(self) -> bool:
        """Whether the run's archive exists and its archiver has closed it."""
        if not self._archive_path().exists():
            return False
        try:
            with reading(self.settings.archive_dir, self.run_id) as con:
                rows = con.execute("SELECT status FROM run").fetchall()
        except (RunIsLive, ArchiveCorrupt):
            # held by its archiver, or caught as the archiver creates it
            return False
        return bool(rows) and rows[0][0] in CLOSED_STATUSES

    def status(self) -> RunStatus:
        """Where the run stands now (:class:`lab.notebook_status.RunStatus`): from its archive
        once closed, else from its Kafka run-events and topics as ``fraudlab run`` shows it."""
        if self._archive_closed():
            self.close()
            with reading(self.settings.archive_dir, self.run_id) as con:
                return archived_status(run_summary(con))
        if self._watcher is None:
            self._watching = BlockingKafka(self.settings.bootstrap_servers)
            self._watcher = RunWatcher(self._watching, self.run_id)
        figures = self._watcher.read()
        return playing_status(self.run_id, figures, self._watcher.events)

    def close(self) -> None:
        """Stop watching the run on Kafka (done by itself once its archive is closed); the run
        goes on, and the next :meth:`status` watches it again."""
        watching, self._watching, self._watcher = self._watching, None, None
        if watching is not None:
            with contextlib.suppress(Exception):
                watching.close()

    def _launch_gone(self) -> bool:
        """Whether the ``fraudlab run`` this handle started has ended."""
        if self.launched is None:
            return False
        try:
            return psutil.Process(self.launched.pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def _launch_failure(self) -> FraudlabError:
        assert self.launched is not None
        lines = self.launched.log_path.read_text(errors="replace").splitlines()[-200:]
        return FraudlabError(
            f"run {self.run_id} ended without closing its archive: {last_sentence(lines, 1)}"
        )

    def wait(self, timeout_s: float | None = None, every_s: float = WAIT_LINE_EVERY_S) -> RunStatus:
        """Wait until the run's archive is closed (the run has ended and all of it is archived),
        printing its status every ``every_s`` wall seconds; its last status. TimeoutError after
        ``timeout_s`` wall seconds (the run goes on); FraudlabError, with its sentence, when the
        run this handle started ended without closing its archive. A run opened with
        :func:`open` that ended on Kafka without an archive file returns its Kafka status."""
        started = time.monotonic()
        said = gone_at = None
        while True:
            status = self.status()
            now = time.monotonic()
            if status.archived:
                print(f"[{now - started:6.1f} s] {status.describe()}", flush=True)
                return status
            unarchived = status.ended and not self._archive_path().exists()
            if self._launch_gone() or unarchived:
                gone_at = gone_at or now
                if now - gone_at >= LAUNCH_GONE_S:
                    if self.launched is not None:
                        raise self._launch_failure()
                    # a run played without an archiver: its end on Kafka is all there is
                    print(f"[{now - started:6.1f} s] {status.describe()} (not archived)")
                    return status
            else:
                gone_at = None
            if timeout_s is not None and now - started >= timeout_s:
                raise TimeoutError(
                    f"run {self.run_id} has not ended after {timeout_s:g} s: {status.describe()}"
                )
            if said is None or now - said >= every_s:
                print(f"[{now - started:6.1f} s] {status.describe()}", flush=True)
                said = now
            time.sleep(POLL_S)

    # ---- what it found -------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The run's report, the JSON object ``fraudlab report RUN --json`` prints (see
        :func:`lab.notebook_reports.run_report`); the run must be archived."""
        return run_report(self.settings.archive_dir, self.run_id)

    def per_pattern(self) -> pd.DataFrame:
        """The report's detection per fraud pattern as a DataFrame, one row per pattern (see
        :func:`lab.notebook_reports.pattern_frame` for the columns and units)."""
        return pattern_frame(self.report())

    def _frame(self, cls: type[Record]) -> pd.DataFrame:
        if self._archive_closed():
            with reading(self.settings.archive_dir, self.run_id) as con:
                return archived_frame(con, cls)
        messages = _kafka(self.settings).read_to_end(topic_name(self.run_id, cls.STREAM))
        return RESULT_FRAMES[cls](decoded_records(cls, (m.value for m in messages)))

    def scores(self) -> pd.DataFrame:
        """Every scored transaction so far, one row each, the columns of a Score (see
        :func:`lab.notebook_frames.scores_frame`: ``ts`` Unix s, ``probability`` 0-1,
        ``prediction`` 1 for a potential fraud, ``total_amount`` IDR, ...)."""
        return self._frame(Score)

    def alerts(self) -> pd.DataFrame:
        """The 10 s fraud reports so far, one row per 2-minute window and potential fraud in it
        (see :func:`lab.notebook_frames.alerts_frame`: ``window_start``/``window_end`` Unix s,
        ``count``, the transaction's fields)."""
        return self._frame(FraudAlerts)

    def top_products(self) -> pd.DataFrame:
        """The 30 s top-products reports so far, one row per window and rank (see
        :func:`lab.notebook_frames.top_products_frame`: ``quantity`` units, ``sales`` IDR)."""
        return self._frame(TopProduct)

    def compare(self, other: RunHandle | str) -> pd.DataFrame:
        """This run (A) and ``other`` (B, a handle or run id) as ``fraudlab compare A B``
        compares them: recall per pattern in each, its delta and the seconds to flag (see
        :func:`lab.notebook_reports.comparison_frame`); both must be archived."""
        other_id = other.run_id if isinstance(other, RunHandle) else validate_run_id(other)
        return compare_archived(self.settings.archive_dir, self.run_id, other_id)

    # ---- playing it again ----------------------------------------------------------------

    def replay(
        self,
        speed: float | None = None,
        fast: bool = False,
        model: str | None = None,
        challenger: str | None = None,
        run_id: str | None = None,
    ) -> RunHandle:
        """Play this archived run again as a new run, as ``fraudlab replay`` does: its events in
        their order, event times kept, at ``speed`` (the original's simulated seconds per wall
        second) or ``fast``, scored by ``model`` (the original's when None) with
        ``challenger`` beside it; the new run's handle."""
        _check_pace(speed, fast, required=True)
        with reading(self.settings.archive_dir, self.run_id) as con:
            original = run_summary(con)
        run_id = (
            validate_run_id(run_id)
            if run_id
            else new_run_id(f"replay-{original.scenario or 'run'}", original.seed or 0)
        )
        request = ReplayRequest(run_id, self.run_id, speed, fast, model, challenger)
        return RunHandle(run_id, self.settings, launch_run(self.settings, request))

    # ---- steering it while it plays ------------------------------------------------------

    def _control(self, action: str, speed: float | None = None) -> None:
        request = control_request(self.run_id, action, speed, by="notebook", ts=int(time.time()))
        send_control(_kafka(self.settings), self.settings.topic_partitions, self.run_id, request)

    def pause(self) -> None:
        """Hold the run's source (a paced run only); its events keep their times."""
        self._control("pause")

    def resume(self) -> None:
        """Let a paused source go on."""
        self._control("resume")

    def pace(self, speed: float) -> None:
        """Go on at ``speed`` simulated seconds per wall second (a paced run only)."""
        self._control("speed", speed)

    def stop(self, timeout_s: float = STOP_WAIT_S) -> RunStatus:
        """Stop the run as a Ctrl-C of its ``fraudlab run`` would (every part ends cleanly,
        the archive is closed as interrupted) and wait, up to ``timeout_s`` wall seconds, until
        it has; its last status."""
        self._control("stop")
        return self.wait(timeout_s=timeout_s, every_s=timeout_s)

    # ---- charts --------------------------------------------------------------------------

    def _ended(self) -> bool:
        try:
            return self.status().ended
        except FraudlabError:
            return False

    def live(self, seconds: float | None = None) -> LiveShown:
        """Show the live view's charts in the notebook (fraud-alerts bars, top products'
        cumulative sales, fraud map, headline) and update them while the run plays, until it
        has ended or ``seconds`` wall seconds have gone by; blocks the cell meanwhile."""
        from lab.notebook_charts import show_live

        return show_live(self.settings.bootstrap_servers, self.run_id, self._ended, seconds)

    def charts(self) -> Any:
        """Show the same charts of the archived run, whole; the Bokeh layout shown."""
        from lab.notebook_charts import show_archived

        return show_archived(self.settings.archive_dir, self.run_id)
