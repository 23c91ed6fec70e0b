"""Training history from assignment-layout folders: read as produce-csv reads them (real Spark).
The folders are the handed cases of tests/simulator/data/cases/."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from fraudlab.errors import UsageError
from lab.training_runs import csv_history

pytestmark = pytest.mark.spark

CASES = Path(__file__).resolve().parents[1] / "simulator" / "data" / "cases" / "csv"


def test_the_assignment_s_own_layout_is_whole_history(spark: Any) -> None:
    history = csv_history(spark, CASES / "assignment-layout-newnames")
    browsing = history.browsing.collect()
    assert len(browsing) == 60
    # customer ids come through customer_session.csv
    assert all(r["customer_id"] for r in browsing)
    assert {r["customer_id"] for r in browsing} <= {
        r["customer_id"] for r in history.customers.collect()
    }
    assert history.transactions.count() == 4
    # fraud_transaction.csv names the frauds; the other transactions are legitimate
    labels = sorted(r["is_fraud"] for r in history.truth.collect())
    assert labels == ["0", "0", "0", "1"]
    assert min(r["ts"] for r in browsing) > 1_500_000_000


def test_a_row_that_cannot_be_read_is_named_and_nothing_is_trained(
    spark: Any, tmp_path: Path
) -> None:
    folder = shutil.copytree(CASES / "quoted-metadata", tmp_path / "data")
    with pytest.raises(UsageError, match=r"\(the first: transactions.csv:4: .*check-csv"):
        csv_history(spark, folder)


def test_labels_are_required(spark: Any, tmp_path: Path) -> None:
    folder = shutil.copytree(CASES / "assignment-layout", tmp_path / "data")
    (folder / "fraud_transaction.csv").unlink()
    with pytest.raises(UsageError, match=r"has no fraud_transaction\.csv"):
        csv_history(spark, folder)
