"""The handed assignment-layout folders, produced to a real broker and archived in DuckDB.

Each case's right value is in data/cases/README.md. What needs the engine (scores, the fraud
report) is checked by the engine's tests; here: every readable row is delivered and archived,
none is undecodable, customer ids come through customer_session.csv, and every row that cannot
be read is in the run's quarantine table with its file, line, field and reason.
"""

from __future__ import annotations

import csv
import time
import uuid
from pathlib import Path

import duckdb
import orjson
import pytest
from simulated_runs import small_scenario

from archive.archiver import ArchiveOptions, archive_run
from archive.reader import run_summary
from archive.tables import UNDECODABLE
from fraudlab import codec
from fraudlab.kafka_io import read_to_end
from fraudlab.kafka_session import KafkaSession
from fraudlab.records import field_names
from fraudlab.run_events import read_run_events
from fraudlab.schemas import table_name
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from simulator.csv_batches import BatchRule
from simulator.csv_producer import CsvRunOptions, produce_csv
from simulator.export import DATASETS, export_csv
from simulator.simulation import Simulation

pytestmark = pytest.mark.kafka

CASES = Path(__file__).parent / "data" / "cases" / "csv"
FIRST_TS = 1_800_000_000
# small batches, so that even 60 rows make several of them
OPTIONS = CsvRunOptions(BatchRule(20, 30, 5), fast=True, first_ts=FIRST_TS)
WHOLE = {
    "browsing": 60,
    "transactions": 4,
    "customer": 6,
    "product": 3,
    "category": 2,
    "customer_session": 6,
    "truth": 4,
}


async def produce_and_archive(
    settings: Settings, tmp_path: Path, case: str, options: CsvRunOptions = OPTIONS
) -> tuple[str, duckdb.DuckDBPyConnection]:
    run_id = f"case-{case}-{uuid.uuid4().hex[:6]}"
    report = await produce_csv(
        CASES / case, run_id, settings.bootstrap_servers, settings.topic_partitions, options
    )
    assert report.total == sum(report.delivered.values())
    archived = settings.model_copy(update={"archive_dir": tmp_path / "archive"})
    # no engine in this run: the producer's end is the run's end
    result = await archive_run(archived, run_id, ArchiveOptions(wait_for=("producer",)))
    assert (result.status, result.final) == ("complete", True)
    return run_id, duckdb.connect(str(result.path), read_only=True)


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = {}
    for stream in [*WHOLE, "quarantine", UNDECODABLE]:
        (n,) = con.execute(f"SELECT count(*) FROM {stream}").fetchone()  # type: ignore[misc]
        counts[stream] = n
    return counts


@pytest.mark.parametrize(
    "case",
    [
        "assignment-layout",
        "assignment-layout-newnames",
        "bom-session",
        "bom-browsing",
        "quoted-metadata-control",
    ],
)
async def test_every_row_of_a_whole_case_is_delivered_and_archived(
    settings: Settings, tmp_path: Path, case: str
) -> None:
    run_id, con = await produce_and_archive(settings, tmp_path, case)
    assert table_counts(con) == {**WHOLE, "quarantine": 0, UNDECODABLE: 0}
    # customer ids come through customer_session.csv, also where browsing lacks the column
    (missing,) = con.execute(  # type: ignore[misc]
        "SELECT count(*) FROM browsing b LEFT JOIN customer_session s USING (session_id) "
        "WHERE b.customer_id IS NULL OR b.customer_id <> s.customer_id"
    ).fetchone()
    assert missing == 0
    (frauds,) = con.execute("SELECT count(*) FROM truth WHERE is_fraud").fetchone()  # type: ignore[misc]
    assert frauds == 1
    async with KafkaSession(settings.bootstrap_servers) as kafka:
        events = await read_run_events(kafka, run_id)
    assert [e.event for e in events if e.event != "progress"] == ["started", "finished"]
    assert orjson.loads(events[0].details)["first_ts"] == FIRST_TS


async def test_the_assignment_s_own_columns_are_archived_as_nulls_not_undecodable(
    settings: Settings, tmp_path: Path
) -> None:
    _, con = await produce_and_archive(settings, tmp_path, "assignment-layout")
    nulls = con.execute(
        "SELECT count(*) FILTER (WHERE home_location_lat IS NULL), count(*) FROM customer"
    ).fetchone()
    assert nulls == (6, 6)
    (no_price,) = con.execute("SELECT count(*) FROM product WHERE price IS NULL").fetchone()  # type: ignore[misc]
    assert no_price == 3
    row = con.execute(
        "SELECT event_type, product_id, event_id FROM browsing ORDER BY kafka_offset LIMIT 1"
    ).fetchone()
    assert row is not None and row[1:] == (None, None)
    (metadata,) = con.execute(  # type: ignore[misc]
        "SELECT product_metadata FROM transactions WHERE transaction_id LIKE '%0001'"
    ).fetchone()
    assert metadata == "[{'product_id': '28999', 'quantity': '1', 'item_price': '184929'}]"


async def test_comma_in_name_quarantines_one_product_row_and_goes_on(
    settings: Settings, tmp_path: Path
) -> None:
    _, con = await produce_and_archive(settings, tmp_path, "comma-in-name")
    assert table_counts(con) == {**WHOLE, "quarantine": 1, UNDECODABLE: 0}
    rows = con.execute("SELECT file, line, field, reason, raw, ts FROM quarantine").fetchall()
    assert len(rows) == 1
    file, line, field, reason, raw, ts = rows[0]
    assert (file, line, field, ts) == ("product.csv", 5, "", FIRST_TS)
    assert reason.startswith("10 fields where the header has 9")
    assert raw == "6044,Men,Black,Winter,2015,Casual,Boss Men Perfume, After Shave,1,99000"
    summary = run_summary(con)
    assert summary.quarantined == {"product.csv": 1} and summary.status == "complete"
    # the run's report and the producer's own name the row, not only check-csv
    sentence = (
        "product.csv:5: 10 fields where the header has 9 (a comma inside a value that is not "
        "quoted?)"
    )
    assert summary.quarantined_first == [sentence]
    report = await produce_csv(
        CASES / "comma-in-name",
        f"case-comma-{uuid.uuid4().hex[:6]}",
        settings.bootstrap_servers,
        settings.topic_partitions,
        OPTIONS,
    )
    assert (report.quarantined, report.quarantined_first) == (1, [sentence])


async def test_quoted_metadata_quarantines_the_negative_quantity_and_comma_coordinates(
    settings: Settings, tmp_path: Path
) -> None:
    _, con = await produce_and_archive(settings, tmp_path, "quoted-metadata")
    assert table_counts(con) == {
        **WHOLE,
        "transactions": 2,
        "truth": 2,
        "quarantine": 2,
        UNDECODABLE: 0,
    }
    rows = con.execute("SELECT file, line, field FROM quarantine ORDER BY line").fetchall()
    assert rows == [
        ("transactions.csv", 4, "product_metadata"),
        ("transactions.csv", 5, "shipment_location_lat"),
    ]


async def test_the_same_first_ts_and_seed_give_the_same_messages(
    settings: Settings, tmp_path: Path
) -> None:
    runs: list[dict[str, list[bytes]]] = []
    for _ in range(2):
        run_id, _ = await produce_and_archive(settings, tmp_path / str(len(runs)), "bom-browsing")
        runs.append(
            {
                stream: sorted(
                    v
                    for _, _, v in await read_to_end(
                        settings.bootstrap_servers, topic_name(run_id, stream)
                    )
                )
                for stream in ("browsing", "transactions", "truth")
            }
        )
    assert len(runs[0]["browsing"]) == 60
    assert runs[0] == runs[1]


def _file_rows(path: Path) -> list[tuple[tuple[str, str], ...]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [{k: v for k, v in row.items() if k != "ts"} for row in csv.DictReader(handle)]
    return sorted(tuple(sorted(row.items())) for row in rows)


async def test_an_export_round_trips_through_produce_csv_and_the_archive(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "exported"
    sim = Simulation(small_scenario(), seed=3, minutes=2)
    written = export_csv(sim.messages(), folder)
    assert written["transactions.csv"] > 10
    options = CsvRunOptions(BatchRule(200, 500, 5), fast=True, first_ts=FIRST_TS)
    run_id = f"round-trip-{uuid.uuid4().hex[:6]}"
    await produce_csv(folder, run_id, settings.bootstrap_servers, 2, options)
    archived = settings.model_copy(update={"archive_dir": tmp_path / "archive"})
    result = await archive_run(archived, run_id, ArchiveOptions(wait_for=("producer",)))
    con = duckdb.connect(str(result.path), read_only=True)
    assert table_counts(con)["quarantine"] == table_counts(con)[UNDECODABLE] == 0
    for name, cls in DATASETS.values():
        stored = con.execute(f"SELECT {', '.join(field_names(cls))} FROM {table_name(cls)}")
        # each archived record as its JSON writes it, as the file does (truth's is_fraud "1")
        in_archive = sorted(
            tuple(sorted((k, v) for k, v in codec.to_dict(cls(*row)).items() if k != "ts"))
            for row in stored.fetchall()
        )
        in_file = _file_rows(folder / name)
        assert len(in_archive) == len(in_file) == written[name], name
        assert in_archive == in_file, name


async def test_fast_without_first_ts_stamps_batches_when_they_are_sent(
    settings: Settings, tmp_path: Path
) -> None:
    run_id = f"fast-now-{uuid.uuid4().hex[:6]}"
    before = int(time.time())
    options = CsvRunOptions(BatchRule(5, 5, 5), fast=True)
    await produce_csv(CASES / "assignment-layout", run_id, settings.bootstrap_servers, 2, options)
    after = int(time.time())
    values = await read_to_end(settings.bootstrap_servers, topic_name(run_id, "browsing"))
    stamps = sorted(orjson.loads(v)["ts"] for _, _, v in values)
    assert len(stamps) == 60
    # twelve batches back to back: none runs more than one interval ahead of the clock
    assert before <= stamps[0] and stamps[-1] <= after + 4


async def test_topics_can_be_named_for_an_existing_consumer(
    settings: Settings, tmp_path: Path
) -> None:
    run_id = f"named-{uuid.uuid4().hex[:6]}"
    named = f"browsing_behaviour_{run_id}"
    options = CsvRunOptions(
        BatchRule(200, 500, 5), "batch", first_ts=FIRST_TS, fast=True, topics={"browsing": named}
    )
    report = await produce_csv(
        CASES / "assignment-layout", run_id, settings.bootstrap_servers, 2, options
    )
    assert report.delivered["browsing"] == 1  # one batch, one JSON array
    ((_, _, value),) = await read_to_end(settings.bootstrap_servers, named)
    rows = orjson.loads(value)
    assert len(rows) == 60 and rows[0]["customer_id"] == "10000"
    assert await read_to_end(settings.bootstrap_servers, topic_name(run_id, "browsing")) == []
    transactions = await read_to_end(settings.bootstrap_servers, topic_name(run_id, "transactions"))
    assert len(transactions) == 1
