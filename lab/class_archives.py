"""Write the class-data-sharing archives of Spark's driver and the Kafka broker
(:mod:`fraudlab.class_archives`) from a small run of the lab: ``python -m lab.class_archives``,
called by ``make setup``.

A JVM archives the classes it loaded when it exits, so each archive holds what a real run
loads. In a temporary folder a broker starts (writing Kafka's archive when it stops), the
shipped default model is installed, and a short scenario runs as ``fraudlab run`` runs one:
a :class:`~lab.run_plan.RunPlan` whose producer, engine and archiver are supervised processes.
The engine's driver JVM writes Spark's archive as it exits (``settings.jvm_class_dump``, which
the run's parts read from its settings file). Each archive replaces the one in
``jvm/lib/cds`` only once it is whole. About a minute on two cores; one status line per step.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from fraudlab.class_archives import archive_path
from fraudlab.errors import FraudlabError
from fraudlab.settings import Settings, load_settings

SCENARIO, SEED, RUN_MINUTES = "baseline", 7, 5.0
RUN_ID = "class-archive"


def _say(message: str) -> None:
    print(f"class archives: {message}", file=sys.stderr, flush=True)


def archive_run(settings: Settings) -> None:
    """The run whose engine writes Spark's archive: :data:`SCENARIO` for :data:`RUN_MINUTES`
    simulated minutes, fast, scored by the default model, with no rules; FraudlabError when it
    does not complete."""
    from fraudlab.blocking_kafka import BlockingKafka
    from lab.default_model import install
    from lab.run_plan import RunPlan, ScenarioSource
    from lab.run_supervisor import supervised_run

    install(settings)
    # both JIT tiers, as a large fast run has them: the archive holds classes, not code, so
    # a quick-starting engine maps it as well
    plan = RunPlan(
        RUN_ID, ScenarioSource(SCENARIO, SEED, RUN_MINUTES), speed=None, rules=(), deliver=False
    )
    started = time.monotonic()
    with BlockingKafka(settings.bootstrap_servers) as kafka:
        outcome = supervised_run(settings, plan, kafka)
    outcome.require_complete("the class archives' run", settings.logs_dir)
    _say(f"ran {SCENARIO} for {RUN_MINUTES:g} minutes, fast ({time.monotonic() - started:.0f} s)")


def write_archives(base: Settings) -> dict[str, Path]:
    """Write both archives into ``base.jvm_lib_dir / "cds"``; their paths by JVM kind.

    Raises FraudlabError when a step fails or a JVM wrote no archive.
    """
    from fraudlab.broker import LocalBroker
    from fraudlab.net import free_port

    lib_dir = base.jvm_lib_dir
    with tempfile.TemporaryDirectory(prefix="fraudlab-cds-") as tmp:
        folder = Path(tmp)
        dumps = {"kafka": folder / "kafka.jsa", "spark": folder / "spark.jsa"}
        broker = LocalBroker(
            folder / "kafka", free_port(), lib_dir, heap="512m", class_dump=dumps["kafka"]
        )
        started = time.monotonic()
        broker.up()
        _say(f"broker started at {broker.bootstrap} ({time.monotonic() - started:.0f} s)")
        try:
            archive_run(_run_settings(base, broker.bootstrap, folder, dumps["spark"]))
        finally:
            broker.down(timeout_s=120.0)
        written: dict[str, Path] = {}
        for kind, dump in dumps.items():
            if not dump.is_file():
                raise FraudlabError(f"the {kind} JVM wrote no class archive to {dump}.")
            target = archive_path(lib_dir, kind)  # type: ignore[arg-type]
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_suffix(".jsa.part")
            part.write_bytes(dump.read_bytes())
            os.replace(part, target)
            written[kind] = target
    return written


def _run_settings(base: Settings, bootstrap: str, folder: Path, spark_dump: Path) -> Settings:
    """The run's settings: everything it writes under ``folder``, its engine dumping classes."""
    return base.model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "checkpoint_dir": folder / "checkpoints",
            "models_dir": folder / "models",
            "archive_dir": folder / "archive",
            "logs_dir": folder / "logs",
            "alert_sinks": (),
            "spark_ui": False,
            "jvm_class_dump": spark_dump,
        }
    )


def main() -> int:
    try:
        base = load_settings()
        started = time.monotonic()
        written = write_archives(base)
    except FraudlabError as exc:
        print(f"class archives: {exc}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{k} {p.stat().st_size / 2**20:.0f} MiB" for k, p in written.items())
    _say(f"written into {base.jvm_lib_dir / 'cds'} ({sizes}) in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
