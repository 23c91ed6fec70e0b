"""The engine end to end on a real broker and a real Spark session."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import xgboost
from run_helpers import produce, reasons
from run_results import alert_set, archived_alert_set, forecasts, read, read_with_keys

from engine.job import EngineOptions, run_engine, uses_cells
from fraudlab.explanation import Explanation
from fraudlab.kafka_io import end_offsets, list_topics
from fraudlab.net import free_port
from fraudlab.settings import Settings, settings_toml
from fraudlab.topics import topic_name
from lab.training_runs import simulated_history
from models.feature_vectors import feature_matrix
from models.training import feature_rows

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

MINUTES = 4.0


def _process(spark: Any, settings: Settings, run_id: str, max_offsets: int = 50_000) -> Any:
    return run_engine(
        spark,
        settings,
        EngineOptions(run_id, "tiny", available_now=True, max_offsets_per_trigger=max_offsets),
    )


def _pause_once(bootstrap: str, run_id: str, seconds: float) -> dict[str, Any]:
    """Pause run ``run_id`` through its control topic once its source has sent a while, for
    ``seconds`` of wall time, then resume it: what its topics held when the pause had taken
    effect and when it ended, and the pace its source said it applied."""
    from fraudlab.blocking_kafka import BlockingKafka
    from fraudlab.run_control import control_request, pace_state, send_control
    from fraudlab.run_events import read_run_events

    topics = [topic_name(run_id, s) for s in ("browsing", "transactions")]
    with BlockingKafka(bootstrap) as kafka:

        def events() -> list[Any]:
            return kafka.call(read_run_events(kafka.session, run_id))

        def held() -> int:
            return sum(kafka.end_offsets(topics).values())

        def pace_now() -> Any:
            return pace_state(events())

        deadline = time.monotonic() + 120
        while not any(e.part == "producer" and e.event == "progress" for e in events()):
            assert time.monotonic() < deadline, "the producer never reported progress"
            time.sleep(0.2)
        send_control(kafka, 1, run_id, control_request(run_id, "pause", None, by="test", ts=0))
        while not pace_now().paused:
            assert time.monotonic() < deadline, "the producer never said it paused"
            time.sleep(0.1)
        time.sleep(1.0)  # what was in flight when the pause took effect lands
        at_start = held()
        time.sleep(seconds)
        during = held()
        send_control(kafka, 1, run_id, control_request(run_id, "resume", None, by="test", ts=0))
        while pace_now().paused:
            assert time.monotonic() < deadline, "the producer never said it went on"
            time.sleep(0.1)
        paced = [
            (bool(json.loads(e.details)["paused"]), json.loads(e.details)["speed"])
            for e in events()
            if e.part == "producer" and e.event == "paced"
        ]
    return {"at_start": at_start, "during": during, "paced": paced}


@pytest.fixture(scope="module")
def baseline_run(spark: Any, engine_settings: Settings) -> dict[str, Any]:
    run_id = "engine-baseline-a"
    delivered = produce(engine_settings.bootstrap_servers, run_id, "baseline", 7, MINUTES)
    report = _process(spark, engine_settings, run_id)
    return {"run_id": run_id, "delivered": delivered, "report": report}


def test_every_transaction_is_scored_once(engine_settings: Settings, baseline_run: Any) -> None:
    bootstrap, run_id = engine_settings.bootstrap_servers, baseline_run["run_id"]
    transactions = read(bootstrap, run_id, "transactions")
    scores = read(bootstrap, run_id, "scores")
    assert sorted(s["transaction_id"] for s in scores) == sorted(
        t["transaction_id"] for t in transactions
    )
    assert baseline_run["report"].scored == len(transactions)
    one = scores[0]
    assert set(one) >= {
        "transaction_id",
        "session_id",
        "customer_id",
        "ts",
        "probability",
        "prediction",
        "model_name",
        "model_digest",
    }
    assert one["model_name"] == "tiny" and len(one["model_digest"]) == 64


def test_fraud_alerts_are_sliding_two_minute_windows(
    engine_settings: Settings, baseline_run: Any
) -> None:
    bootstrap, run_id = engine_settings.bootstrap_servers, baseline_run["run_id"]
    frauds = {
        s["transaction_id"]: s for s in read(bootstrap, run_id, "scores") if s["prediction"] == 1
    }
    alerts = read(bootstrap, run_id, "fraud-alerts")
    assert alerts, "the tiny model flags nothing in four minutes of baseline"
    for a in alerts:
        assert a["window_end"] - a["window_start"] == 120 and a["window_start"] % 10 == 0
        assert a["count"] == len(a["transactions"])
        for t in a["transactions"]:
            assert a["window_start"] <= t["ts"] < a["window_end"]
            assert t["transaction_id"] in frauds
            assert {
                "customer_id",
                "total_amount",
                "shipment_location_lat",
                "shipment_location_long",
                "probability",
            } <= set(t)
    # every flagged transaction is in each of the 12 windows that cover it
    windows = defaultdict(set)
    for a in alerts:
        for t in a["transactions"]:
            windows[t["transaction_id"]].add(a["window_start"])
    assert all(len(w) == 12 for w in windows.values())
    assert set(windows) == set(frauds)


def test_top_products_hold_twenty_non_fraud_products_at_most(
    engine_settings: Settings, baseline_run: Any
) -> None:
    bootstrap, run_id = engine_settings.bootstrap_servers, baseline_run["run_id"]
    scores = read(bootstrap, run_id, "scores")
    expected: dict[tuple[int, str], int] = defaultdict(int)
    for s in scores:
        if s["prediction"] == 0:
            for line in orjson.loads(s["product_metadata"]):
                expected[(s["ts"] // 30 * 30, str(line["product_id"]))] += int(line["quantity"])
    rows = read(bootstrap, run_id, "top-products")
    by_window: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_window[r["window_start"]].append(r)
    assert by_window
    for start, ranked in by_window.items():
        ranked.sort(key=lambda r: r["rank"])
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert len(ranked) <= 20
        assert [r["quantity"] for r in ranked] == sorted(
            (r["quantity"] for r in ranked), reverse=True
        )
        for r in ranked:
            assert r["window_end"] - start == 30
            assert r["quantity"] == expected[(start, r["product_id"])], "a fraud's products?"
            assert r["product_name"], "product names come from the run's product records"


def _probabilities(bootstrap: str, run_id: str) -> dict[str, bytes]:
    """Each transaction's probability, as the bytes of its JSON number."""
    return {
        s["transaction_id"]: orjson.dumps(s["probability"])
        for s in read(bootstrap, run_id, "scores")
    }


def test_the_same_events_give_the_same_scores_however_micro_batches_are_cut(
    spark: Any, engine_settings: Settings, baseline_run: Any, tiny_model: Any, tiny_challenger: Any
) -> None:
    bootstrap = engine_settings.bootstrap_servers
    first = _probabilities(bootstrap, baseline_run["run_id"])  # 50,000 records a micro-batch
    # the same scenario, seed and start: the same bytes, cut into micro-batches of 1,000, and
    # a challenger scored beside the model
    run_id = "engine-baseline-b"
    assert produce(bootstrap, run_id, "baseline", 7, MINUTES) == baseline_run["delivered"]
    options = EngineOptions(
        run_id, "tiny", available_now=True, max_offsets_per_trigger=1_000, challenger_name="tiny-b"
    )
    run_engine(spark, engine_settings, options)
    assert _probabilities(bootstrap, run_id) == first
    assert alert_set(bootstrap, run_id) == alert_set(bootstrap, baseline_run["run_id"])
    # the demand forecast: every window written once, the same bytes however the stream was cut
    forecast = forecasts(bootstrap, baseline_run["run_id"])
    assert forecasts(bootstrap, run_id) == forecast
    _the_champion_is_untouched(bootstrap, baseline_run["run_id"], run_id, tiny_challenger)
    # and played at 20x to the live engine, cut by its processing-time triggers (0.5 s), and
    # paused for 10 s of wall time on the way through the run's control topic
    run_id = "engine-baseline-paced"
    delivered: dict[str, Any] = {}
    producer = threading.Thread(
        target=lambda: delivered.update(
            produce(bootstrap, run_id, "baseline", 7, MINUTES, speed=20.0)
        )
    )
    paused: dict[str, Any] = {}
    pauser = threading.Thread(target=lambda: paused.update(_pause_once(bootstrap, run_id, 10.0)))
    producer.start()
    pauser.start()
    try:
        # the engine starts once the producer has created the run's topics
        deadline = time.monotonic() + 60
        while f"fraudlab.{run_id}.product" not in asyncio.run(list_topics(bootstrap)):
            assert time.monotonic() < deadline, "the producer created no topic"
            time.sleep(0.2)
        options = EngineOptions(run_id, "tiny", speed=20.0, until_producer_ends=True)
        run_engine(spark, engine_settings, options)
    finally:
        producer.join(60)
        pauser.join(60)
    assert delivered == baseline_run["delivered"]
    # the pause held the source: nothing was sent while it lasted, and it went on after it
    assert (
        paused["during"] == paused["at_start"] < delivered["browsing"] + delivered["transactions"]
    )
    assert paused["paced"] == [(True, 20.0), (False, 20.0)]
    assert _probabilities(bootstrap, run_id) == first
    # live, the windows the watermark closed went out as the run played, the rest at its close
    assert forecasts(bootstrap, run_id) == forecast
    _forecast_is_whole(forecast)
    # the batch path (training, evaluate) on the same events
    history = simulated_history(spark, "baseline", engine_settings.scenarios_dir, 7, MINUTES)
    rows = feature_rows(spark, history)
    # with the location cells' state in use: the model reads the cells' figures, and some
    # transactions met others' shipments in their cell
    assert uses_cells([tiny_model]) and (rows["cell_customers_1h"] > 0).sum() >= 5
    batch = tiny_model.scorer().probabilities(rows)
    assert (
        dict(zip(rows["transaction_id"], (orjson.dumps(float(p)) for p in batch), strict=True))
        == first
    )
    # each potential fraud's explanation: the same however the stream was cut, the batch
    # path's, and its contributions and bias sum to the booster's margin
    explained = _explanations(bootstrap, baseline_run["run_id"])
    assert explained and _explanations(bootstrap, run_id) == explained
    assert len(explained) == sum(
        s["prediction"] for s in read(bootstrap, baseline_run["run_id"], "scores")
    )
    scorer = tiny_model.scorer()
    flagged = rows[rows["transaction_id"].isin(list(explained))]
    top = engine_settings.explanation_top
    assert {
        tx: e.to_json()
        for tx, e in zip(flagged["transaction_id"], scorer.explain(flagged, top), strict=True)
    } == explained
    margins = scorer.booster.predict(
        xgboost.DMatrix(feature_matrix(flagged, scorer.encoding)), output_margin=True
    )
    for tx, margin in zip(flagged["transaction_id"], margins, strict=True):
        assert Explanation.from_json(explained[tx]).margin == pytest.approx(float(margin), abs=1e-4)


def _the_champion_is_untouched(bootstrap: str, alone: str, beside: str, challenger: Any) -> None:
    """Run ``beside`` scored a challenger beside the model of run ``alone``, on the same
    events: its scores, the challenger's four fields set to null, and its fraud-alerts are
    the same bytes; the challenger's probabilities are its own booster's, its predictions at
    its own threshold."""
    fields = [
        "challenger_name",
        "challenger_digest",
        "challenger_probability",
        "challenger_prediction",
    ]
    with_challenger = {s["transaction_id"]: s for s in read(bootstrap, beside, "scores")}
    without = {s["transaction_id"]: s for s in read(bootstrap, alone, "scores")}
    assert with_challenger.keys() == without.keys()
    for tx, score in with_challenger.items():
        assert orjson.dumps({**score, **dict.fromkeys(fields)}) == orjson.dumps(without[tx])
    assert {s["challenger_name"] for s in with_challenger.values()} == {"tiny-b"}
    assert {s["challenger_digest"] for s in with_challenger.values()} == {challenger.digest}
    assert all(
        s["challenger_prediction"] == int(s["challenger_probability"] >= challenger.threshold)
        for s in with_challenger.values()
    )
    assert any(s["challenger_probability"] != s["probability"] for s in with_challenger.values()), (
        "the challenger gave the model's own probabilities"
    )

    def windows(run_id: str) -> list[tuple[bytes, bytes]]:
        """Each fraud-alerts message: its key without the run id, and its value."""
        topic = topic_name(run_id, "fraud-alerts")
        messages = asyncio.run(read_with_keys(bootstrap, topic))
        return sorted((key.split(b"|", 1)[1], value) for _, _, key, value in messages)

    assert windows(beside) == windows(alone)


def _explanations(bootstrap: str, run_id: str) -> dict[str, str]:
    """The explanation of each explained score, by transaction id."""
    return {
        s["transaction_id"]: s["explanation"]
        for s in read(bootstrap, run_id, "scores")
        if s.get("explanation") is not None
    }


@pytest.mark.fault("late-and-dirty", "late-and-dirty", 5)
def test_late_and_dirty_every_record_is_accounted_for(
    spark: Any, engine_settings: Settings
) -> None:
    bootstrap, run_id = engine_settings.bootstrap_servers, "engine-late-and-dirty"
    delivered = produce(bootstrap, run_id, "late-and-dirty", 5, MINUTES)
    # the watermark drops records only across micro-batches: cut the run into several
    report = _process(spark, engine_settings, run_id, max_offsets=5_000)
    letters = read(bootstrap, run_id, "dead-letter")
    kinds = reasons(letters)
    assert kinds["late"] > 0 and kinds["duplicate"] > 0 and len(kinds) > 2, kinds
    produced = sum(delivered[s] for s in ("browsing", "transactions", "customer"))
    # every input record is scored, folded in, dropped as late, a duplicate or a dead letter
    tx_topic = f"fraudlab.{run_id}.transactions"
    tx_letters = [d for d in letters if d["source_topic"] == tx_topic]
    assert delivered["transactions"] == report.scored + len(tx_letters)
    assert produced == sum(report.produced.values())
    assert report.dropped_late == kinds["late"] and report.duplicates == kinds["duplicate"]
    # what was less than 2 minutes late is never dropped
    faults = read(bootstrap, run_id, "faults")
    late_ids = {f["record_id"] for f in faults if f["fault"] == "late" and f["delay_s"] < 120}
    dropped = {
        json.loads(bytes.fromhex(d["raw"]) if False else _raw(d))["event_id"]
        for d in letters
        if d["reason"].startswith("late")
    }
    assert not late_ids & dropped
    # only a record out of order in its partition can arrive after the frontier passed it
    disordered = [f for f in faults if f["fault"] in ("late", "out_of_order")]
    assert report.after_frontier <= len(disordered)


def _raw(letter: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(letter["raw"]).decode()


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("model", "no model named 'nope'"),
        ("topics", "has no browsing, transactions"),
        ("broker", "no Kafka broker answers"),
    ],
)
def test_missing_model_topics_or_broker_are_one_sentence(
    case: str, needle: str, engine_settings: Settings
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "FRAUDLAB_MODELS_DIR": str(engine_settings.models_dir),
        "FRAUDLAB_BOOTSTRAP_SERVERS": engine_settings.bootstrap_servers,
    }
    model = "nope" if case == "model" else "tiny"
    if case == "broker":
        env["FRAUDLAB_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "engine",
            "no-such-run",
            "--model",
            model,
            "--available-now",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("fraudlab:")]
    assert len(errors) == 1 and needle in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_a_standalone_cluster_gives_the_same_alerts_as_local(
    engine_settings: Settings, baseline_run: Any, tmp_path: Path
) -> None:
    from standalone_cluster import standalone_cluster

    bootstrap = engine_settings.bootstrap_servers
    run_id = "engine-baseline-standalone"
    produce(bootstrap, run_id, "baseline", 7, MINUTES)
    with standalone_cluster(tmp_path / "cluster") as master:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FRAUDLAB_")},
            "FRAUDLAB_SPARK_MASTER": master,
            "FRAUDLAB_BOOTSTRAP_SERVERS": bootstrap,
            "FRAUDLAB_MODELS_DIR": str(engine_settings.models_dir),
            "FRAUDLAB_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        }
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "lab.cli",
                "engine",
                run_id,
                "--model",
                "tiny",
                "--available-now",
                "--max-offsets",
                "5000",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert alert_set(bootstrap, run_id) == alert_set(bootstrap, baseline_run["run_id"])


@pytest.mark.fault("sigkill-engine", "baseline", 7)
def test_an_engine_killed_mid_run_resumes_from_its_checkpoints(
    engine_settings: Settings, baseline_run: Any, tmp_path: Path
) -> None:
    """Fault: SIGKILL of the engine and its JVM once its first scores are out (baseline, seed 7).

    Restarted, it continues from its checkpoints: every transaction scored, the same alerts as
    the uninterrupted processing of the same events, in Kafka and in the runs' archives."""
    bootstrap, run_id = engine_settings.bootstrap_servers, "engine-baseline-killed"
    assert produce(bootstrap, run_id, "baseline", 7, MINUTES) == baseline_run["delivered"]
    settings_file = tmp_path / "fraudlab.toml"
    settings_file.write_text(settings_toml(engine_settings))
    argv = [
        sys.executable, "-m", "lab", "--settings", str(settings_file),
        "engine", run_id, "--model", "tiny", "--available-now", "--max-offsets", "5000",
    ]  # fmt: skip
    engine = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL)
    commits = engine_settings.checkpoint_dir / run_id / "scoring" / "commits"
    try:
        deadline = time.monotonic() + 300
        # a transaction is scored in the micro-batch after the one it arrived in (a conflict
        # over its ids would come back by then): wait for a committed batch that scored some
        scores = topic_name(run_id, "scores")
        while not (
            commits.exists()
            and any(commits.iterdir())
            and sum(asyncio.run(end_offsets(bootstrap, [scores])).values()) > 0
        ):
            assert engine.poll() is None, "the engine ended before it could be killed"
            assert time.monotonic() < deadline, "no committed scoring batch in 300 s"
            time.sleep(0.2)
    finally:
        os.killpg(engine.pid, signal.SIGKILL)
        engine.wait()
    killed_after = len(list(commits.iterdir()))
    scored_before = {s["transaction_id"] for s in read(bootstrap, run_id, "scores")}
    assert 0 < len(scored_before) < baseline_run["report"].scored
    restarted = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert len(list(commits.iterdir())) > killed_after
    transactions = {t["transaction_id"] for t in read(bootstrap, run_id, "transactions")}
    assert {s["transaction_id"] for s in read(bootstrap, run_id, "scores")} == transactions
    assert alert_set(bootstrap, run_id) == alert_set(bootstrap, baseline_run["run_id"])
    # a report window written again (a micro-batch run twice) carries the key it had: its run
    # and window (and product), so that a consumer tells the repeat by its key
    for stream in ("fraud-alerts", "top-products"):
        messages = asyncio.run(read_with_keys(bootstrap, topic_name(run_id, stream)))
        assert messages
        keys: dict[tuple[Any, ...], set[bytes]] = defaultdict(set)
        for _, _, key, value in messages:
            v = orjson.loads(value)
            window = (v["window_start"], v["window_end"], v.get("product_id"))
            keys[window].add(key)
        for (start, end, product), found in keys.items():
            expected = f"{run_id}|{start}|{end}" + ("" if product is None else f"|{product}")
            assert found == {expected.encode()}
    archives = engine_settings.model_copy(update={"archive_dir": tmp_path / "archive"})
    archived = archived_alert_set(archives, run_id)
    assert archived == archived_alert_set(archives, baseline_run["run_id"]) and archived


def _forecast_is_whole(forecast: dict[tuple[int, str], bytes]) -> None:
    """The inventory report of a 4-minute baseline run: a window every 30 s from its start,
    the tiny model's horizon, forecasts from browsing, and the stock of the simulated shop."""
    rows = [orjson.loads(v) for v in forecast.values()]
    starts = sorted({r["window_start"] for r in rows})
    assert len(starts) >= MINUTES * 2 - 1
    assert all(b - a == 30 for a, b in itertools.pairwise(starts))
    assert {r["horizon_minutes"] for r in rows} == {5.0}
    assert all(r["forecast_units"] >= 0 and r["sales_only_units"] >= 0 for r in rows)
    assert sum(r["views"] for r in rows) > sum(r["units"] for r in rows) > 0
    # the simulated shop has stock: every row knows it, and cover follows from the forecast
    assert all(r["stock"] is not None and r["restock"] is not None for r in rows)
    for r in rows:
        if r["forecast_units"] > 0:
            per_minute = r["forecast_units"] / r["horizon_minutes"]
            assert r["cover_minutes"] == pytest.approx(r["stock"] / per_minute, abs=0.051)
