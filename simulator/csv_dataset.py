"""An assignment-layout dataset folder: which file holds each stream, checked before use.

The streaming files go by fraudlab's names or the assignment's (``browsing_behaviour.csv`` or
``new_browsing_behaviour.csv``, ``transactions.csv`` or ``new_transactions.csv``); static files
and fraud_transaction.csv are optional. :func:`locate_dataset` reads every header first, so a
folder that cannot be streamed is refused in one sentence before anything is sent;
:func:`check_dataset_rows` reads every row and lists the rows that cannot be read.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from fraudlab.errors import UsageError
from fraudlab.field_values import DEFAULT_TIME_ZONE, fraud_label, time_zone
from fraudlab.records import Truth
from simulator.csv_rows import (
    BROWSING,
    CATEGORIES,
    CUSTOMERS,
    FRAUD_LABELS,
    PRODUCTS,
    SESSIONS,
    TRANSACTIONS,
    FileSpec,
    Problem,
    open_text,
    read_numbered_rows,
)

__all__ = [
    "DATASET_FILES",
    "STATIC_STREAMS",
    "CheckReport",
    "CsvDataset",
    "FraudLabels",
    "check_dataset_rows",
    "locate_dataset",
    "set_aside_values",
]

# stream -> its file; static streams first, in the order they are sent
DATASET_FILES: dict[str, FileSpec] = {
    "customer": CUSTOMERS,
    "category": CATEGORIES,
    "product": PRODUCTS,
    "customer_session": SESSIONS,
    "browsing": BROWSING,
    "transactions": TRANSACTIONS,
    "truth": FRAUD_LABELS,
}
STATIC_STREAMS = ("customer", "category", "product", "customer_session")
REQUIRED_STREAMS = ("browsing", "transactions")


@dataclass(frozen=True)
class CsvDataset:
    """The files of a dataset folder by stream, and how to read them."""

    folder: Path
    files: dict[str, Path]
    encoding: str = "utf-8"
    zone: str = DEFAULT_TIME_ZONE

    def rows(
        self, stack: ExitStack, stream: str, problem: Callable[[Problem], None]
    ) -> Iterator[dict[str, str]]:
        """The readable rows of a stream's file (none if the folder lacks it), read lazily."""
        return (row for _, row in self.numbered_rows(stack, stream, problem))

    def numbered_rows(
        self, stack: ExitStack, stream: str, problem: Callable[[Problem], None]
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """As :meth:`rows`, each row with its line: (line, {column: text})."""
        path = self.files.get(stream)
        if path is None:
            return iter(())
        handle = stack.enter_context(open_text(path, self.encoding))
        spec = DATASET_FILES[stream]
        return read_numbered_rows(handle, path.name, spec, problem, zone=self.zone)


def _file_of(folder: Path, spec: FileSpec) -> Path | None:
    found = [folder / name for name in spec.names if (folder / name).is_file()]
    if len(found) > 1:
        raise UsageError(
            f"{folder} holds both {found[0].name} and {found[1].name}: keep the one to stream."
        )
    return found[0] if found else None


def locate_dataset(
    folder: Path, *, encoding: str = "utf-8", zone: str = DEFAULT_TIME_ZONE
) -> CsvDataset:
    """The dataset in ``folder``, every header checked; a UsageError says what is wrong."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder of assignment CSV files.")
    try:
        time_zone(zone)
    except ValueError as exc:
        raise UsageError(f"the dataset's time zone: {exc}.") from None
    files: dict[str, Path] = {}
    for stream, spec in DATASET_FILES.items():
        path = _file_of(folder, spec)
        if path is None and stream in REQUIRED_STREAMS:
            names = " or ".join(spec.names)
            raise UsageError(f"{folder} has no {names}: a dataset needs its {stream} file.")
        if path is not None:
            files[stream] = path
    dataset = CsvDataset(folder, files, encoding, zone)
    with ExitStack() as stack:
        for stream in files:
            # reading the header checks it; a row-level problem is not the header's
            next(dataset.rows(stack, stream, lambda _: None), None)
    return dataset


@dataclass
class CheckReport:
    """What reading every row of a dataset found: rows read per file, and the problems."""

    rows: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class FraudLabels:
    """fraud_transaction.csv's labels by transaction_id: (is_fraud, pattern), is_fraud a bool
    (:func:`fraudlab.field_values.fraud_label`; a label left empty or out is a fraud, as the
    assignment's file lists only frauds), and each label's line, to name the labels of
    transaction ids that transactions.csv never gave."""

    file: str
    labels: dict[str, tuple[bool, str]] = field(default_factory=dict)
    lines: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)

    @classmethod
    def read(
        cls, dataset: CsvDataset, stack: ExitStack, problem: Callable[[Problem], None]
    ) -> FraudLabels | None:
        """The dataset's labels, or None when it has no fraud_transaction.csv."""
        path = dataset.files.get("truth")
        if path is None:
            return None
        found = cls(path.name)
        for line, row in dataset.numbered_rows(stack, "truth", problem):
            said = row.get("is_fraud") or ""
            fraud = not said.strip() or bool(fraud_label(said))
            found.labels[row["transaction_id"]] = (fraud, row.get("pattern", ""))
            found.lines[row["transaction_id"]] = (line, row)
        return found

    def truth_of(self, transaction_id: str, ts: int) -> Truth:
        """The truth of a transaction of the dataset: legitimate when the file does not name it."""
        fraud, pattern = self.labels.get(transaction_id, (False, ""))
        return Truth(transaction_id, fraud, pattern, ts)

    def unmatched(self, transaction_ids: set[str]) -> list[Problem]:
        """A problem for each label whose transaction_id is none of ``transaction_ids``."""
        return [
            Problem(
                self.file,
                line,
                "transaction_id",
                f"{transaction_id!r} is no transaction of the dataset's transactions file",
                ",".join(row.values()),
            )
            for transaction_id, (line, row) in sorted(self.lines.items(), key=lambda i: i[1][0])
            if transaction_id not in transaction_ids
        ]


def set_aside_values(problems: list[Problem], file: str) -> set[str]:
    """Every value of the rows of ``file`` set aside among ``problems`` (their raw text read as
    CSV): a label naming a transaction set aside names a transaction of the file all the same."""
    return {value for p in problems if p.file == file for value in next(csv.reader([p.raw]), [])}


def check_dataset_rows(dataset: CsvDataset) -> CheckReport:
    """Read every row of every file of the dataset, as a producer would, sending nothing; a
    fraud label whose transaction is not in the dataset is a problem too."""
    report = CheckReport()
    transaction_ids: set[str] = set()
    with ExitStack() as stack:
        for stream, path in dataset.files.items():
            report.rows[path.name] = 0
            if stream == "truth":
                continue
            for row in dataset.rows(stack, stream, report.problems.append):
                report.rows[path.name] += 1
                if stream == "transactions":
                    transaction_ids.add(row["transaction_id"])
        labels = FraudLabels.read(dataset, stack, report.problems.append)
        if labels is not None:
            set_aside = set_aside_values(report.problems, dataset.files["transactions"].name)
            unmatched = labels.unmatched(transaction_ids | set_aside)
            report.rows[labels.file] = len(labels.labels) - len(unmatched)
            report.problems.extend(unmatched)
    return report
