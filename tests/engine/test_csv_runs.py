"""Assignment-layout folders through the engine, in both message formats (real broker, real Spark,
real DuckDB): one record per message, or one JSON array of records per message as most of the
assignment's consumers write it. Right values: tests/simulator/data/cases/README.md."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from run_helpers import SCENARIOS
from run_results import read, topic_values

from archive.archiver import ArchiveOptions, archive_run
from archive.quality import detection_quality
from engine.job import EngineOptions, run_engine
from fraudlab.codec import decode
from fraudlab.records import InventoryForecast
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from lab.default_model import install
from simulator.clock import DEFAULT_START
from simulator.csv_batches import BatchRule
from simulator.csv_producer import CsvRunOptions, MessageFormat, produce_csv
from simulator.export import export_csv
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

CASES = Path(__file__).resolve().parents[1] / "simulator" / "data" / "cases" / "csv"
FIRST_TS = 1_800_000_000


def _score(
    spark: Any,
    settings: Settings,
    folder: Path,
    run_id: str,
    fmt: MessageFormat,
    model: str = "tiny",
) -> Any:
    """Produce ``folder`` (--fast, a fixed first ts) in ``fmt``, score it available-now with
    ``model`` and archive it; (scores by transaction, the engine's report, the archive's
    detection quality, undecodable messages)."""
    options = CsvRunOptions(BatchRule(50, 80, 5), fmt, fast=True, first_ts=FIRST_TS)
    asyncio.run(produce_csv(folder, run_id, settings.bootstrap_servers, 2, options))
    report = run_engine(spark, settings, EngineOptions(run_id, model, available_now=True))
    result = asyncio.run(
        archive_run(settings, run_id, ArchiveOptions(wait_for=("producer", "engine")))
    )
    con = duckdb.connect(str(result.path), read_only=True)
    try:
        quality = detection_quality(con)
        (undecodable,) = con.execute("SELECT count(*) FROM undecodable").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    scores = {s["transaction_id"]: s["probability"] for s in read(
        settings.bootstrap_servers, run_id, "scores"
    )}  # fmt: skip
    return scores, report, quality, undecodable


@pytest.fixture(scope="module")
def shipped_settings(
    engine_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """The module's settings with the shipped default model installed as "default"."""
    settings = engine_settings.model_copy(
        update={"models_dir": tmp_path_factory.mktemp("shipped-models")}
    )
    assert install(settings) is not None
    return settings


@pytest.fixture(scope="module")
def layout_run(spark: Any, shipped_settings: Settings) -> Any:
    """The case scored as a user scores it: with the shipped default model, which lets some of
    its four sales through (the tiny model flags all four, and a run whose every sale is
    flagged has no sold product to forecast)."""
    folder = CASES / "assignment-layout"
    return _score(spark, shipped_settings, folder, "csv-layout", "record", "default")


def test_the_assignment_s_own_layout_is_scored_and_reported(layout_run: Any) -> None:
    scores, report, quality, undecodable = layout_run
    # the right value: the 4 transactions are scored, and the report shows 1 fraud of 4
    assert len(scores) == report.scored == 4
    assert (quality.transactions, quality.frauds) == (4, 1)
    assert report.dead_lettered == report.dropped_late == undecodable == 0


def test_the_assignment_s_own_layout_gets_a_demand_forecast(
    layout_run: Any, engine_settings: Settings
) -> None:
    _, report, _, _ = layout_run
    # its browsing names no product and it has no stock, yet it gets a demand forecast: from
    # the shop's browsing and the products' own sales, without stock figures
    bootstrap = engine_settings.bootstrap_servers
    # read as a consumer reads it, through the contract's decoder: a row without stock leaves
    # its stock fields out of the JSON, and they decode as None
    rows = [
        decode(InventoryForecast, value)
        for _, value in asyncio.run(
            topic_values(bootstrap, topic_name("csv-layout", "inventory-forecast"))
        )
    ]
    assert rows and report.inventory_forecast_rows == len(rows)
    sold = {
        line["product_id"]
        for s in read(bootstrap, "csv-layout", "scores")
        if s["prediction"] == 0
        for line in orjson.loads(s["product_metadata"])
    }
    assert sold, "every sale was flagged: the case sold nothing to forecast"
    assert {r.product_id for r in rows} == sold
    assert all(r.views == r.carts == 0 and r.stock is None and r.restock is None for r in rows)
    assert all(r.forecast_units > 0 for r in rows)


async def _as_a_peer_sends_it(bootstrap: str, run_id: str, peer_id: str) -> int:
    """Copy a run's input topics to another run's, message for message, with browsing in the
    assignment's own columns (no customer_id), as a peer's producer sends them; the browsing
    records copied."""
    from fraudlab.kafka_io import create_topics, make_producer, read_to_end

    streams = ("customer", "product", "category", "customer_session", "transactions", "browsing")
    await create_topics(bootstrap, [topic_name(peer_id, s) for s in streams], 2)
    producer = make_producer(bootstrap)
    await producer.start()
    stripped = 0
    try:
        for stream in streams:
            for partition, _, value in await read_to_end(bootstrap, topic_name(run_id, stream)):
                if stream == "browsing":
                    record = orjson.loads(value)
                    stripped += record.pop("customer_id", None) is not None
                    value = orjson.dumps(record)
                await producer.send_and_wait(
                    topic_name(peer_id, stream), value, partition=partition
                )
    finally:
        await producer.stop()
    return stripped


def test_browsing_without_customer_ids_meets_its_customers_through_customer_session(
    spark: Any, shipped_settings: Settings, layout_run: Any
) -> None:
    bootstrap = shipped_settings.bootstrap_servers
    stripped = asyncio.run(_as_a_peer_sends_it(bootstrap, "csv-layout", "csv-layout-peer"))
    assert stripped == 60
    options = EngineOptions("csv-layout-peer", "default", True)
    report = run_engine(spark, shipped_settings, options)
    scores = {s["transaction_id"]: s["probability"] for s in read(
        bootstrap, "csv-layout-peer", "scores"
    )}  # fmt: skip
    assert scores == layout_run[0]
    assert report.dead_lettered == 0


def test_a_batch_format_run_scores_as_the_record_format_run(
    spark: Any, engine_settings: Settings, tmp_path: Path
) -> None:
    # fraudlab's own export, sent both ways: the same records give the same scores
    loaded = load_scenario("baseline", SCENARIOS)
    export_csv(Simulation(loaded, 5, DEFAULT_START, 3).messages(), tmp_path / "exported")
    by_record = _score(spark, engine_settings, tmp_path / "exported", "csv-export-record", "record")
    by_batch = _score(spark, engine_settings, tmp_path / "exported", "csv-export-batch", "batch")
    assert len(by_record[0]) > 20
    assert by_batch[0] == by_record[0]
    assert by_batch[1].dead_lettered == by_record[1].dead_lettered == 0
    assert by_batch[3] == by_record[3] == 0


def test_an_id_under_two_customers_is_scored_once_and_dead_lettered_once(
    spark: Any, engine_settings: Settings, tmp_path: Path
) -> None:
    """A transaction id under a second customer, and a session under a second customer: the
    first owner's transaction is scored, the other is one dead letter naming both owners, and
    produced = scored + late + duplicates + dead letters still balances."""
    folder = tmp_path / "conflicts"
    shutil.copytree(CASES / "assignment-layout", folder)
    first_tx = "aaaaaaaa-0000-4000-8000-000000000001"
    first_session = "c4b032cc-d7c5-24a5-5304-317faf42e12f"  # customer 10000's
    with (folder / "transactions.csv").open("a") as rows:
        rows.write(
            f"2024-05-09 10:00:40.683,10004,{first_tx},b7c93acf-e059-a0ee-9132-b63ef16287e4,"
            "\"[{'product_id': '28999', 'quantity': '1', 'item_price': '184929'}]\",OVO,"
            "Success,0,,10000,-6.2392,106.8752,194929,1\n"
            f"2024-05-09 10:00:55.683,10005,aaaaaaaa-0000-4000-8000-000000000005,{first_session},"
            "\"[{'product_id': '58296', 'quantity': '1', 'item_price': '278120'}]\",OVO,"
            "Success,0,,10000,-6.2392,106.8752,288120,1\n"
        )
    scores, report, _, _ = _score(spark, engine_settings, folder, "csv-conflicts", "record")
    bootstrap = engine_settings.bootstrap_servers
    owners = {s["transaction_id"]: s["customer_id"] for s in read(
        bootstrap, "csv-conflicts", "scores"
    )}  # fmt: skip
    assert len(scores) == report.scored == 4 and owners[first_tx] == "10000"
    letters = sorted(d["reason"] for d in read(bootstrap, "csv-conflicts", "dead-letter"))
    assert letters == [
        f"conflict: session {first_session} is customer 10000's, not customer 10005's",
        f"conflict: transaction id {first_tx} is customer 10000's, not customer 10004's",
    ]
    assert report.conflicts == report.dead_lettered == 2
    produced = sum(report.produced.values())
    folded = 60 + 6  # browsing rows and customer profiles, folded in without a result
    assert produced == folded + report.scored + report.dropped_late + report.duplicates + 2
