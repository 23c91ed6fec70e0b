"""The notebook API against a real broker and the engine's own Spark: a run started from
Python is read back while it plays and once archived, replayed, compared and stopped, each as
the commands do it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest
from run_settings import own_run_settings

import lab
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.records import FraudAlerts, Score, TopProduct
from fraudlab.settings import Settings, load_settings
from fraudlab.topics import topic_name
from lab.default_model import install
from lab.notebook import RunHandle, close_sessions
from lab.notebook_frames import RESULT_FRAMES, decoded_records

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

WAIT_S = 300


@pytest.fixture(scope="module")
def api_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The session's broker, this module's own folders, the shipped default model; the API's
    Kafka sessions are closed afterwards, before the broker stops."""
    root = tmp_path_factory.mktemp("notebook-api")
    install(settings.model_copy(update={"models_dir": root / "models"}))
    own = load_settings(own_run_settings(settings, root / "models", root))
    yield own
    close_sessions()


@pytest.fixture(scope="module")
def fast_run(api_settings: Settings) -> RunHandle:
    """Two minutes of baseline, seed 7, run --fast from Python and waited for."""
    handle = lab.run("baseline", seed=7, minutes=2, fast=True, settings=api_settings)
    assert handle.run_id.startswith("baseline-s7-")
    status = handle.wait(timeout_s=WAIT_S, every_s=15)
    assert (status.state, status.archived) == ("complete", True), status
    return handle


def _kafka_frame(settings: Settings, run_id: str, cls: type) -> pd.DataFrame:
    with BlockingKafka(settings.bootstrap_servers) as kafka:
        messages = kafka.read_to_end(topic_name(run_id, cls.STREAM))
    return RESULT_FRAMES[cls](decoded_records(cls, (m.value for m in messages)))


def test_a_run_from_python_gives_its_results_as_frames_from_kafka_and_its_archive(
    api_settings: Settings, fast_run: RunHandle
) -> None:
    scores, alerts, top = fast_run.scores(), fast_run.alerts(), fast_run.top_products()
    report = fast_run.report()
    assert len(scores) == report["rows"]["scores"] > 100
    assert scores.prediction.sum() == report["alerts"] > 0
    assert alerts.groupby(["window_start", "window_end"]).ngroups == report["fraud_alert_windows"]
    assert len(top) == report["rows"]["top_products"] > 0
    assert set(alerts.transaction_id) <= set(scores.transaction_id[scores.prediction == 1])
    for cls, archived in ((Score, scores), (FraudAlerts, alerts), (TopProduct, top)):
        pd.testing.assert_frame_equal(_kafka_frame(api_settings, fast_run.run_id, cls), archived)
    assert fast_run.per_pattern().frauds.sum() == report["quality"]["frauds"]
    opened = lab.open(fast_run.run_id, settings=api_settings)
    assert opened.status() == fast_run.status()
    with pytest.raises(UsageError, match="no run 'no-such-run': it is neither archived"):
        lab.open("no-such-run", settings=api_settings)


def test_a_replay_from_python_flags_what_the_run_flagged(
    api_settings: Settings, fast_run: RunHandle
) -> None:
    replay = fast_run.replay(fast=True)
    assert replay.wait(timeout_s=WAIT_S, every_s=15).state == "complete"
    assert replay.report()["replay_of"] == fast_run.run_id
    table = fast_run.compare(replay)
    assert table.attrs["overlap"]["jaccard"] == 1.0
    assert (table.delta.dropna() == 0).all() and len(table) > 0


def test_a_paced_run_is_paused_and_stopped_from_python(api_settings: Settings) -> None:
    handle = lab.run("baseline", seed=5, minutes=30, speed=5, settings=api_settings)
    try:
        # while it plays, its results come from Kafka, and its archive is its archiver's
        deadline = time.monotonic() + 120
        while (scores := handle.scores()).empty:
            assert time.monotonic() < deadline, "the engine never scored the run's input"
            time.sleep(1)
        assert scores.transaction_id.is_unique and (scores.ts > 0).all()
        with pytest.raises(FraudlabError, match="is still being archived"):
            handle.report()
        handle.pause()
        deadline = time.monotonic() + 30
        while not (paused := handle.status()).paused:
            assert time.monotonic() < deadline, "the run's source never said it paused"
            time.sleep(0.5)
        assert paused.describe().endswith(" · paused")
    finally:
        status = handle.stop()
    assert (status.state, status.archived) == ("interrupted", True), status
    with pytest.raises(UsageError, match=r"nothing to stop|no pace left"):
        handle.stop()
