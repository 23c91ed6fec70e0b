"""Fault: poison records, 1% of a run's events sent again malformed, among the good ones.

Each poison record is a copy of a browsing event or transaction broken in one of the simulator's
malformed kinds (broken JSON, wrong types, invalid UTF-8, oversized, missing ``ts``), sent just
before the original. The engine must dead-letter every one of them with its reason, never stop,
and give on the good records exactly what it gives on the clean run: the same scores, alerts
and top products.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from faulted_runs import Poisoned, small_scenario
from run_results import read

from engine.job import EngineOptions, run_engine
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.simulation import Simulation

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

SCENARIO, SEED, MINUTES, SHARE = "baseline", 7, 4.0, 0.01
# micro-batches of this many input records: the poison records, which take up offsets, cut the
# run elsewhere than the clean run, and the frontier keeps the scores the same all the same
MAX_OFFSETS = 5_000
# the reason the engine gives for each malformed kind (the start of it)
REASONS = {
    "broken_json": "not JSON",
    "wrong_types": "ts is not an integer",
    "invalid_utf8": "invalid UTF-8",
    "oversized": "oversized",
    "missing_ts": "missing ts",
}


def _produce_and_score(
    spark: Any, settings: Settings, run_id: str, simulation: Simulation | Poisoned
) -> dict[str, Any]:
    scenario = small_scenario(SCENARIO)
    report = asyncio.run(
        produce_run(
            simulation,
            DEFAULT_START,
            run_id,
            settings.bootstrap_servers,
            2,
            None,
            details=run_details(scenario.text, SCENARIO, SEED, DEFAULT_START, MINUTES, None),
        )
    )
    engine = run_engine(
        spark,
        settings,
        EngineOptions(run_id, "tiny", available_now=True, max_offsets_per_trigger=MAX_OFFSETS),
    )
    return {"delivered": report.delivered, "engine": engine}


def _results(bootstrap: str, run_id: str) -> dict[str, Any]:
    scores = read(bootstrap, run_id, "scores")
    return {
        "scores": {s["transaction_id"]: (s["probability"], s["prediction"]) for s in scores},
        "alerts": {
            (a["window_start"], t["transaction_id"])
            for a in read(bootstrap, run_id, "fraud-alerts")
            for t in a["transactions"]
        },
        "top": {
            (p["window_start"], p["rank"], p["product_id"], p["quantity"])
            for p in read(bootstrap, run_id, "top-products")
        },
        "dead": read(bootstrap, run_id, "dead-letter"),
    }


@pytest.mark.fault("poison-records", SCENARIO, SEED)
def test_poison_records_are_dead_lettered_and_change_no_result(
    spark: Any, settings: Settings, tiny_model: Any, tmp_path: Path
) -> None:
    own = settings.model_copy(
        update={"models_dir": tiny_model.folder.parent, "checkpoint_dir": tmp_path / "checkpoints"}
    )
    scenario = small_scenario(SCENARIO)
    bootstrap = own.bootstrap_servers
    clean_run = Simulation(scenario, SEED, DEFAULT_START, MINUTES)
    clean_run_report = _produce_and_score(spark, own, "poison-clean", clean_run)["engine"]
    poisoned = Poisoned(Simulation(scenario, SEED, DEFAULT_START, MINUTES), SHARE, SEED)
    run = _produce_and_score(spark, own, "poison-dirty", poisoned)

    events = sum(run["delivered"][s] for s in ("browsing", "transactions"))
    kinds = Counter(kind for _, kind, _ in poisoned.poison)
    assert set(kinds) == set(REASONS), f"every malformed kind is sent: {kinds}"
    assert 0.005 < len(poisoned.poison) / events < 0.015, f"{len(poisoned.poison)} of {events}"

    clean, dirty = _results(bootstrap, "poison-clean"), _results(bootstrap, "poison-dirty")
    assert clean["dead"] == [], "the clean run has no dead letter"
    letters = Counter(
        (d["source_topic"], base64.b64decode(d["raw"]), d["reason"]) for d in dirty["dead"]
    )
    expected = Counter(
        (topic_name("poison-dirty", stream), value, kind) for stream, kind, value in poisoned.poison
    )
    # each poison record is one dead letter, with its own bytes and the reason for its kind
    told = Counter()
    for (topic, raw, reason), n in letters.items():
        matches = [k for (t, v, k) in expected if t == topic and v == raw]
        assert matches, f"a dead letter that is no poison record: {reason} from {topic}"
        assert any(reason.startswith(REASONS[k]) for k in matches), (matches, reason)
        told[(topic, raw)] += n
    assert told == Counter({(t, v): n for (t, v, _), n in expected.items()}), (
        "every poison record is dead-lettered exactly once"
    )
    # the good records give exactly what the clean run gives
    differing = sorted(t for t in clean["scores"].keys() & dirty["scores"].keys()
                       if clean["scores"][t] != dirty["scores"][t])  # fmt: skip
    assert dirty["scores"] == clean["scores"], (
        f"scored only in the clean run {sorted(clean['scores'].keys() - dirty['scores'])[:5]}, "
        f"only in the poisoned one {sorted(dirty['scores'].keys() - clean['scores'])[:5]}"
        f", {len(differing)} differ: "
        + ", ".join(f"{t} {clean['scores'][t]} -> {dirty['scores'][t]}" for t in differing[:5])
        + f"; dropped late {clean_run_report.dropped_late} -> {run['engine'].dropped_late}"
    )
    assert dirty["alerts"] == clean["alerts"] and clean["alerts"]
    assert dirty["top"] == clean["top"] and clean["top"]
    assert run["engine"].scored == len(clean["scores"])
