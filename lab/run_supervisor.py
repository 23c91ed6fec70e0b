"""Running the parts of a run together: started in order, watched, and stopped together.

The source of the run's events (the producer, or a replay) and the engine start together: the
engine's JVM and Python workers take seconds to start, while it waits for the topics the source
creates. Once the source has announced itself (the run's topics exist by then) the archiver
starts, reading every topic from its beginning, and the delivery of alerts to the settings'
sinks when there is one.
The run ends when the source, the engine and the delivery have exited and the archiver has
drained what they wrote. A part that fails, or a Ctrl-C, stops the others: the source first,
then the engine (which closes its last windows), then the delivery, and the archiver last, so
the archive is consistent and says how the run ended. Every part the archiver waits for gets an
ending on the run's run-events, announced on its behalf when it could not say it itself. A
``stop`` request on the run's control topic (:mod:`fraudlab.run_control`: the views' stop
button, a notebook's ``stop()``, ``fraudlab stop``) is a Ctrl-C from afar.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraudlab import codec
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.command_line import fraudlab_argv
from fraudlab.errors import FraudlabError
from fraudlab.records import RunControl, RunEvent, message_key
from fraudlab.run_control import decoded_requests
from fraudlab.run_events import part_ending, run_event
from fraudlab.settings import Settings, settings_toml
from fraudlab.topics import topic_name
from lab.run_parts import PartProcess
from lab.run_plan import Part, RunPlan
from lab.run_rules import publish_starting_rules
from lab.run_status import RunFigures, RunWatcher

__all__ = ["RunOutcome", "RunSupervisor", "supervised_run"]

SOURCE_GRACE_S = 30.0
ENGINE_GRACE_S = 240.0  # closing the last windows and counting results runs Spark jobs
DELIVERY_GRACE_S = 30.0  # an attempt in flight ends within its sink's timeout
ARCHIVER_DRAIN_S = 300.0
SOURCE_ANNOUNCE_S = 120.0
POLL_S = 1.0
STATUS_EVERY_S = 2.0
INTERRUPTED_CODE = 130


class _StopRequested(Exception):
    """A ``stop`` request came on the run's control topic."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: ``complete``, ``interrupted`` or ``failed`` (with the reason)."""

    run_id: str
    status: str
    reason: str | None = None

    def require_complete(self, what: str, logs_dir: Path) -> None:
        """FraudlabError, naming ``what`` ran and where its parts' logs are, unless the run
        completed (for callers to whom any other end is a failure)."""
        if self.status == "complete":
            return
        why = f": {self.reason.rstrip('.')}" if self.reason else ""
        raise FraudlabError(
            f"{what} ended {self.status}{why} (its parts' logs are in {logs_dir / self.run_id})."
        )


class RunSupervisor:
    """Starts, watches and stops the source, the engine and the archiver of one run."""

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        source: PartProcess,
        engine: PartProcess,
        archiver: PartProcess,
        kafka: BlockingKafka,
        show: Callable[[RunFigures], None] | None = None,
        delivery: PartProcess | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.source, self.engine, self.archiver = source, engine, archiver
        self.delivery = delivery
        self.show = show
        self.kafka = kafka
        self.watcher = RunWatcher(kafka, run_id)
        # requests made before this supervisor started were for a run it continues
        control = topic_name(run_id, RunControl.STREAM)
        ends = kafka.end_offsets([control])
        self._control = kafka.follow(control, {p: at for (_, p), at in ends.items()})

    def run(self) -> RunOutcome:
        """Run every part to its end; a Ctrl-C stops them all and ends as ``interrupted``.

        However it ends, nothing a part started outlives the run (:meth:`PartProcess.reap`).
        """
        try:
            return self._run()
        finally:
            for part in self.parts:
                part.reap()

    @property
    def parts(self) -> tuple[PartProcess, ...]:
        """Every part, in the order they are stopped (the archiver last)."""
        delivery = () if self.delivery is None else (self.delivery,)
        return (self.source, self.engine, *delivery, self.archiver)

    def _run(self) -> RunOutcome:
        try:
            self.source.start()
            self.engine.start()
            self._wait_for_source()
            if self.source.returncode in (None, 0):
                self._start_readers()
            failed = self._watch()
        except (KeyboardInterrupt, _StopRequested):
            self._stop_all()
            return RunOutcome(self.run_id, "interrupted")
        if failed is None:
            return RunOutcome(self.run_id, "complete")
        reason = f"the {failed.title} failed: {failed.failure()}"
        self._stop_all(failed)
        return RunOutcome(self.run_id, "failed", reason)

    def _wait_for_source(self) -> None:
        deadline = time.monotonic() + SOURCE_ANNOUNCE_S
        while self.source.running and time.monotonic() < deadline:
            self._check_stop()
            events = self._events()
            if any(e.part == self.source.name for e in events):
                return
            time.sleep(POLL_S / 2)

    def _start_readers(self) -> None:
        # the archiver reads every topic from the beginning: starting after the source has
        # created the run's topics loses nothing
        self.archiver.start()
        if not self.engine.started:
            self.engine.start()
        if self.delivery is not None:
            self.delivery.start()

    def _watch(self) -> PartProcess | None:
        """Watch until every part has exited well (None) or one has failed (that part)."""
        shown = 0.0
        while True:
            for part in self.parts:
                if part.returncode not in (None, 0):
                    return part
            if not self.archiver.started and self.source.returncode == 0:
                self._start_readers()  # the source ended before it could be seen to start
            if all(p.returncode == 0 for p in self.parts):
                self._show()
                return None
            if time.monotonic() - shown >= STATUS_EVERY_S:
                shown = time.monotonic()
                self._show()
            self._check_stop()
            time.sleep(POLL_S)

    def _check_stop(self) -> None:
        """Raise _StopRequested when the run's control topic asks it to stop."""
        try:
            requests = decoded_requests([m.value for m in self._control.poll()])
        except FraudlabError:
            return  # a broker away a moment: the parts say so if it stays away
        if any(r.action == "stop" for r in requests):
            raise _StopRequested

    def _show(self) -> None:
        if self.show is None:
            return
        # the status line is a courtesy; a broker that went away shows up in the parts
        with contextlib.suppress(FraudlabError):
            self.show(self.watcher.read())

    def _stop_all(self, failed: PartProcess | None = None) -> None:
        """Stop the parts in order and make sure the archive can tell how each ended."""
        if failed is not None:
            self._ensure_ending(failed, "failed")
        stopped = [(self.source, SOURCE_GRACE_S), (self.engine, ENGINE_GRACE_S)]
        if self.delivery is not None:
            stopped.append((self.delivery, DELIVERY_GRACE_S))
        for part, grace in stopped:
            if part is failed:
                continue
            if part.started:
                part.stop(grace)
            self._ensure_ending(part, "interrupted")
        if self.archiver.wait(ARCHIVER_DRAIN_S) is None:
            self.archiver.stop(60.0)

    def _ensure_ending(self, part: PartProcess, ending: str) -> None:
        """Announce the part's ending unless it announced one itself (best effort)."""
        try:
            if part_ending(self._events(), part.name) is not None:
                return
            if part.returncode == 0 and not part.stop_asked:
                ending = "finished"
            event = run_event(
                self.run_id,
                part.name,
                ending,
                {"exit_code": part.returncode, "announced_by": "run"},
            )
            topic = topic_name(self.run_id, RunEvent.STREAM)
            self.kafka.create_topics([topic], self.settings.topic_partitions)
            self.kafka.send(topic, message_key(event), codec.encode(event))
        except FraudlabError:
            pass

    def _events(self) -> list[RunEvent]:
        try:
            return self.watcher.refresh_events()
        except FraudlabError:
            return []


def supervised_run(
    settings: Settings,
    plan: RunPlan,
    kafka: BlockingKafka,
    show: Callable[[RunFigures], None] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> RunOutcome:
    """Run ``plan`` to its end: its source, engine and archiver (and the delivery of its alerts,
    when it delivers and the settings name sinks), each a ``fraudlab`` process started from
    :meth:`RunPlan.invocation`, with ``settings`` written to the run's logs folder for them.

    The plan's rules (or, for a new run without rules of its own, the default rule book's) are
    published to the run's rules topic before any part starts. ``show`` hears the run's figures
    as it plays; ``say`` the lines a user should read (where the logs are, where alerts go).
    Raises UsageError for a model that is not saved, BrokerUnavailable for a broker that does
    not answer; a part that fails is the outcome's ``failed`` reason, not an exception.
    """
    from fraudlab.broker import require_broker
    from models.registry import load_model

    run_id = plan.run_id
    load_model(settings.models_dir, plan.model)
    require_broker(settings.bootstrap_servers)
    rules = None if plan.rules is None else list(plan.rules)
    publish_starting_rules(kafka, run_id, rules, plan.default_rules)
    logs = settings.logs_dir / run_id
    logs.mkdir(parents=True, exist_ok=True)
    settings_file = logs / "settings.toml"
    settings_file.write_text(settings_toml(settings))
    delivery = plan.deliver and bool(settings.alert_sinks)
    wait_for = "producer,engine" + (",delivery" if delivery else "")

    def part(name: Part, label: str = "") -> PartProcess:
        argv = fraudlab_argv(settings_file, *plan.invocation(name, wait_for))
        return PartProcess(name, argv, logs / f"{name}.log", label)

    if delivery:
        say(f"run {run_id}: new alerts go to {', '.join(s.name for s in settings.alert_sinks)}")
    say(f"run {run_id}: parts' logs in {logs}")
    supervisor = RunSupervisor(
        settings,
        run_id,
        part("producer", plan.source_label),
        part("engine"),
        part("archiver"),
        kafka,
        show,
        part("delivery") if delivery else None,
    )
    return supervisor.run()
