"""Write the class-data-sharing archives of Spark's driver and the Kafka broker
(:mod:`fraudlab.class_archives`) from a small run of the lab: ``python -m lab.class_archives``,
called by ``make setup``.

A JVM archives the classes it loaded when it exits, so each archive holds what a real run
loads. In a temporary folder, a broker starts (writing Kafka's archive when it stops), and a
Spark session of its own process (writing Spark's archive when that process ends) trains a
small model through ``xgboost.spark``, as ``fraudlab train`` does, then scores a short
produced run with the engine, as ``fraudlab run`` does. Each archive replaces the one in
``jvm/lib/cds`` only once it is whole. About a minute on two cores; one status line per step.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fraudlab.class_archives import archive_path
from fraudlab.errors import FraudlabError
from fraudlab.settings import Settings, load_settings

SCENARIO, SEED, VALIDATION_SEED = "baseline", 7, 1007
TRAINING_MINUTES, RUN_MINUTES = 10.0, 5.0
RUN_ID = "class-archive"
MODEL = "class-archive"
WORKLOAD_LIMIT_S = 600.0


def _say(message: str) -> None:
    print(f"class archives: {message}", file=sys.stderr, flush=True)


def spark_workload(settings: Settings, dump: Path) -> None:
    """In this process: a Spark session writing its classes to ``dump`` when its JVM exits,
    training a small model and scoring a short run at ``settings.bootstrap_servers``; returns
    once the JVM has exited (and so written the archive)."""
    from engine.job import EngineOptions, run_engine
    from fraudlab.spark import build_spark_session
    from lab.training_runs import simulated_history
    from models.training import TrainingPlan, feature_rows, fit_and_save
    from simulator.clock import DEFAULT_START
    from simulator.producer import produce_run, run_details
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    spark = build_spark_session(settings, "fraudlab-class-archive", class_dump=dump)
    jvm = getattr(spark.sparkContext._gateway, "proc", None)
    try:
        started = time.monotonic()
        rows = {
            seed: feature_rows(
                spark,
                simulated_history(spark, SCENARIO, settings.scenarios_dir, seed, TRAINING_MINUTES),
            )
            for seed in (SEED, VALIDATION_SEED)
        }
        plan = TrainingPlan(
            name=MODEL,
            scenario=SCENARIO,
            seed=SEED,
            minutes=TRAINING_MINUTES,
            validation_seeds=(VALIDATION_SEED,),
        )
        fit_and_save(spark, settings, plan, rows[SEED], rows[VALIDATION_SEED], lambda _: None)
        _say(f"trained a small model ({time.monotonic() - started:.0f} s)")
        started = time.monotonic()
        scenario = load_scenario(SCENARIO, settings.scenarios_dir)
        asyncio.run(
            produce_run(
                Simulation(scenario, SEED, DEFAULT_START, RUN_MINUTES),
                DEFAULT_START,
                RUN_ID,
                settings.bootstrap_servers,
                settings.topic_partitions,
                None,
                details=run_details(
                    scenario.text, scenario.name, SEED, DEFAULT_START, RUN_MINUTES, None
                ),
            )
        )
        report = run_engine(spark, settings, EngineOptions(RUN_ID, MODEL, available_now=True))
        _say(
            f"scored a {RUN_MINUTES:g}-minute run, {report.scored:,} transactions "
            f"({time.monotonic() - started:.0f} s)"
        )
    finally:
        spark.stop()
        # the JVM exits, writing the archive, when its standard input ends
        if jvm is not None and jvm.stdin is not None:
            jvm.stdin.close()
            jvm.wait(WORKLOAD_LIMIT_S)


def write_archives(settings: Settings) -> dict[str, Path]:
    """Write both archives into ``settings.jvm_lib_dir / "cds"``; their paths by JVM kind.

    Raises FraudlabError when a step fails or a JVM wrote no archive.
    """
    from fraudlab.broker import LocalBroker
    from fraudlab.net import free_port

    lib_dir = settings.jvm_lib_dir
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
            env = {**os.environ, "SPARK_LOCAL_DIRS": str(folder / "spark")}
            workload = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lab.class_archives",
                    "--spark-workload",
                    broker.bootstrap,
                    str(folder),
                ],
                env=env,
                timeout=WORKLOAD_LIMIT_S,
                check=False,
            )
        finally:
            broker.down(timeout_s=120.0)
        if workload.returncode != 0:
            raise FraudlabError(
                f"the Spark part of the class archives' run failed (exit {workload.returncode})."
            )
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


def _workload_settings(base: Settings, bootstrap: str, folder: Path) -> Settings:
    return base.model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "checkpoint_dir": folder / "checkpoints",
            "models_dir": folder / "models",
            "archive_dir": folder / "archive",
            "spark_ui": False,
        }
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        base = load_settings()
        if args[:1] == ["--spark-workload"]:
            bootstrap, folder = args[1], Path(args[2])
            spark_workload(_workload_settings(base, bootstrap, folder), folder / "spark.jsa")
            return 0
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
