"""Shared fixtures: a real Kafka broker, unique topics, a real SparkSession.

Each starts only when a test asks for it: a test that needs neither starts neither.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from process_tree import MARKER, describe, left_after, new_marker

from fraudlab.broker import LocalBroker
from fraudlab.kafka_io import create_topics
from fraudlab.net import free_port
from fraudlab.settings import Settings, load_settings

T = TypeVar("T")


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings with every folder a test may write to moved under a temporary folder."""
    root = tmp_path_factory.mktemp("fraudlab")
    return load_settings(
        archive_dir=root / "archive",
        checkpoint_dir=root / "checkpoints",
        broker_data_dir=root / "kafka",
    )


@pytest.fixture(scope="session")
def kafka_broker(
    tmp_path_factory: pytest.TempPathFactory, base_settings: Settings
) -> Iterator[LocalBroker]:
    """A real single-node KRaft broker on a free loopback port, for the whole test session."""
    broker = LocalBroker(
        tmp_path_factory.mktemp("kafka"), free_port(), base_settings.jvm_lib_dir, heap="768m"
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


@pytest.fixture(scope="session")
def bootstrap(kafka_broker: LocalBroker) -> str:
    """The bootstrap address of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture(scope="session")
def settings(base_settings: Settings, bootstrap: str) -> Settings:
    """Settings pointing at the session's broker."""
    return base_settings.model_copy(update={"bootstrap_servers": bootstrap})


_topic_counter = itertools.count()


def run_blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside an async test's loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture
def topic_factory(bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """Creates topics with names unique to the test: ``make_topic(partitions=1) -> name``."""
    test = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]

    def make_topic(partitions: int = 1) -> str:
        name = f"test.{test}.{next(_topic_counter)}.{uuid.uuid4().hex[:6]}"
        run_blocking(create_topics(bootstrap, [name], partitions))
        return name

    return make_topic


@pytest.fixture(scope="session")
def spark(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real local SparkSession with the Kafka connector, UI off."""
    from fraudlab.spark import build_spark_session

    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    os.environ.setdefault("SPARK_LOCAL_DIRS", str(warehouse))
    session = build_spark_session(
        base_settings.model_copy(update={"spark_master": "local[2]", "spark_ui": False}),
        app_name="fraudlab-tests",
    )
    gateway = session.sparkContext._gateway
    try:
        yield session
    finally:
        session.stop()
        # the JVM ends when its standard input does, as when this process exits: it is then
        # not counted among the processes the suite left behind
        jvm = getattr(gateway, "proc", None)
        if jvm is not None and jvm.stdin is not None:
            jvm.stdin.close()
            jvm.wait(60)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


# the tiny models' demand forecast looks this far ahead: a 20-minute history holds few horizons
# of the default 30 minutes
TINY_HORIZON_MINUTES = 5.0


@pytest.fixture(scope="session")
def tiny_histories(spark: Any, base_settings: Settings) -> dict[int, Any]:
    """20 simulated minutes of baseline, for seeds 7 and 1007."""
    from lab.training_runs import simulated_history

    scenarios = base_settings.scenarios_dir
    return {seed: simulated_history(spark, "baseline", scenarios, seed, 20) for seed in (7, 1007)}


@pytest.fixture(scope="session")
def tiny_rows(spark: Any, tiny_histories: dict[int, Any]) -> dict[int, Any]:
    """Feature rows of the tiny histories, by seed."""
    from models.training import feature_rows

    return {seed: feature_rows(spark, history) for seed, history in tiny_histories.items()}


def _fit_tiny(
    spark: Any,
    settings: Settings,
    name: str,
    rows: dict[int, Any],
    seed: int,
    history: Any = None,
) -> Any:
    """A small model fitted on ``rows[seed]`` (and, given its ``history``, its demand forecast
    over TINY_HORIZON_MINUTES)."""
    from lab.demand_training import train_demand
    from models.demand import save_demand
    from models.training import TrainingPlan, fit_and_save

    other = 1007 if seed == 7 else 7
    plan = TrainingPlan(
        name=name,
        scenario="baseline",
        seed=seed,
        minutes=20,
        validation_seeds=(other,),
        candidates=("xgboost",),
    )
    saved = fit_and_save(spark, settings, plan, rows[seed], rows[other], lambda _: None)
    if history is not None:
        save_demand(saved.folder, train_demand(spark, history, TINY_HORIZON_MINUTES))
    return saved


@pytest.fixture(scope="session")
def tiny_model(
    spark: Any,
    base_settings: Settings,
    tiny_rows: dict[int, Any],
    tiny_histories: dict[int, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    """A small xgboost model trained on a few simulated minutes, saved as 'tiny', with its
    demand forecast."""
    settings = base_settings.model_copy(update={"models_dir": tmp_path_factory.mktemp("models")})
    return _fit_tiny(spark, settings, "tiny", tiny_rows, 7, tiny_histories[7])


@pytest.fixture(scope="session")
def tiny_challenger(
    spark: Any, base_settings: Settings, tiny_rows: dict[int, Any], tiny_model: Any
) -> Any:
    """A second small model, 'tiny-b', beside 'tiny' (trained on the other seed), for the runs
    that score a challenger."""
    settings = base_settings.model_copy(update={"models_dir": tiny_model.folder.parent})
    return _fit_tiny(spark, settings, "tiny-b", tiny_rows, 1007)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fault(name, scenario, seed): a fault-injection test; a failure names the fault, the "
        "scenario and the seed, so that it can be replayed",
    )
    # every process the suite starts carries it, and whatever those start in turn
    os.environ[MARKER] = new_marker("tests")


LEFT_AFTER_S = 30.0  # what the last processes get to end after the fixtures have stopped them


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a process the suite started (brokers, JVMs, parts of a run, browsers,
    Python workers, orphans included) is still running once every fixture has ended; it is
    then killed."""
    left = left_after(os.environ[MARKER], LEFT_AFTER_S)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    text = (
        f"{len(left)} process(es) started by the tests were still running "
        f"{LEFT_AFTER_S:g} s after the last test (killed now):\n{describe(left)}"
    )
    if reporter is not None:
        reporter.write_sep("=", "processes left behind", red=True)
        reporter.write_line(text)
    for process in left:
        with contextlib.suppress(Exception):
            process.kill()
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing fault test says which fault, scenario and seed to replay it with."""
    report = yield
    marker = item.get_closest_marker("fault")
    if marker is not None and report.failed:
        name, scenario, seed = marker.args
        report.sections.append(
            ("fault", f"fault {name!r} injected into scenario {scenario!r}, seed {seed}")
        )
    return report
