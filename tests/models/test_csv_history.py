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
    assert labels == [False, False, False, True]
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


def test_labels_as_pandas_writes_them_train_as_fraud(spark: Any, tmp_path: Path) -> None:
    """pandas writes a label column of floats as 1.0: it was passed on as it was, and the
    archive and training took "1.0" for not fraud."""
    folder = shutil.copytree(CASES / "assignment-layout", tmp_path / "data")
    labels = folder / "fraud_transaction.csv"
    labels.write_text(labels.read_text().replace(",1\n", ",1.0\n").replace(",1\r\n", ",1.0\r\n"))
    assert "1.0" in labels.read_text()
    history = csv_history(spark, folder)
    assert sorted(r["is_fraud"] for r in history.truth.collect()) == [False, False, False, True]


def test_a_label_of_no_transaction_is_named_and_nothing_is_trained(
    spark: Any, tmp_path: Path
) -> None:
    folder = shutil.copytree(CASES / "assignment-layout", tmp_path / "data")
    with (folder / "fraud_transaction.csv").open("a") as labels:
        labels.write("no-such-transaction,1\n")
    with pytest.raises(UsageError, match=r"fraud_transaction\.csv:3: transaction_id: 'no-such"):
        csv_history(spark, folder)
