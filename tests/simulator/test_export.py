"""The assignment's CSV datasets: headers in the assignment's order, and the fraud share."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
from simulated_runs import SCENARIOS, small_scenario

from fraudlab.field_values import event_time, fraud_label
from fraudlab.product_metadata import parse_items
from fraudlab.records import (
    Browsing,
    Category,
    Customer,
    CustomerSession,
    Product,
    Transaction,
    Truth,
    assignment_columns,
)
from simulator.export import DATASETS, export_csv
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

FILES = {
    "customer.csv": Customer,
    "category.csv": Category,
    "product.csv": Product,
    "customer_session.csv": CustomerSession,
    "browsing_behaviour.csv": Browsing,
    "transactions.csv": Transaction,
    "fraud_transaction.csv": Truth,
}


@pytest.fixture(scope="module")
def baseline_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fraudlab export baseline --seed 7 --minutes 10 DIR`, run as a user would."""
    out = tmp_path_factory.mktemp("export")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "export",
            "baseline",
            "--seed",
            "7",
            "--minutes",
            "10",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_seven_files_with_the_assignment_headers_first(baseline_export: Path) -> None:
    assert sorted(p.name for p in baseline_export.iterdir()) == sorted(FILES)
    assert {name for name, _ in DATASETS.values()} == set(FILES)
    for name, cls in FILES.items():
        with (baseline_export / name).open(newline="") as f:
            header = next(csv.reader(f))
        expected = assignment_columns(cls)
        assert tuple(header[: len(expected)]) == expected, name
    assert assignment_columns(Browsing) == (
        "session_id",
        "event_type",
        "event_time",
        "traffic_source",
        "device_type",
    )


def test_baseline_fraud_share_is_between_one_and_three_percent(baseline_export: Path) -> None:
    truth = _rows(baseline_export / "fraud_transaction.csv")
    transactions = _rows(baseline_export / "transactions.csv")
    assert len(truth) == len(transactions) > 500
    assert {t["is_fraud"] for t in truth} == {"0", "1"}  # the assignment's label form
    share = sum(bool(fraud_label(t["is_fraud"])) for t in truth) / len(truth)
    assert 0.01 <= share <= 0.03
    assert {t["pattern"] for t in truth if fraud_label(t["is_fraud"])} <= {
        "card_testing",
        "account_takeover",
        "promo_abuse",
        "bot_checkout",
        "regional_fraud_ring",
        "high_value_spike",
    }


def test_every_session_and_customer_referenced_exists(baseline_export: Path) -> None:
    customers = {r["customer_id"] for r in _rows(baseline_export / "customer.csv")}
    sessions = {
        r["session_id"]: r["customer_id"] for r in _rows(baseline_export / "customer_session.csv")
    }
    assert set(sessions.values()) <= customers
    for t in _rows(baseline_export / "transactions.csv"):
        assert sessions[t["session_id"]] == t["customer_id"]


def test_faults_stay_out_of_the_files(tmp_path: Path) -> None:
    faults = {"late": 0.05, "out_of_order": 0.05, "duplicates": 0.05, "malformed": 0.05}
    sim = Simulation(small_scenario(faults=faults), seed=1, minutes=3)
    counts = export_csv(sim.messages(), tmp_path, dedupe=True)
    clean = Simulation(small_scenario(), seed=1, minutes=3)
    expected = export_csv(clean.messages(), tmp_path / "clean")
    # the same world minus the malformed records (one in twenty events)
    assert counts["customer.csv"] == expected["customer.csv"]
    assert 0.9 < counts["browsing_behaviour.csv"] / expected["browsing_behaviour.csv"] < 1.0
    ids = [r["event_id"] for r in _rows(tmp_path / "browsing_behaviour.csv")]
    assert len(ids) == len(set(ids))


def test_the_history_scenario_is_long_enough_for_training() -> None:
    history = load_scenario("history", SCENARIOS)
    assert history.minutes >= 1440 and history.world.customers >= 5000


def test_values_are_written_as_the_assignment_writes_them(baseline_export: Path) -> None:
    naive_ms = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}")
    browsing = _rows(baseline_export / "browsing_behaviour.csv")
    transactions = _rows(baseline_export / "transactions.csv")
    assert browsing and transactions
    assert all(naive_ms.fullmatch(r["event_time"]) for r in browsing)
    assert all(naive_ms.fullmatch(r["created_at"]) for r in transactions)
    # the default start, 2026-01-05T00:00Z, is 07:00 in Jakarta
    assert browsing[0]["event_time"].startswith("2026-01-05 07:00")
    assert {t["payment_status"] for t in transactions} == {"Success", "Fail"}
    for t in transactions:
        assert t["product_metadata"].startswith("[{'product_id': ")
        assert isinstance(parse_items(t["product_metadata"]), tuple)
        # the file's ts is the event time the time column writes, to the second
        assert int(t["ts"]) == int(event_time(t["created_at"]))


def test_the_fraudlab_form_keeps_the_streamed_values(tmp_path: Path) -> None:
    sim = Simulation(small_scenario(), seed=1, minutes=1)
    export_csv(sim.messages(), tmp_path, form="fraudlab")
    (first, *_) = _rows(tmp_path / "transactions.csv")
    assert first["created_at"].endswith("Z") and first["product_metadata"].startswith('[{"')
