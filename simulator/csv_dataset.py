"""An assignment-layout dataset folder: which file holds each stream, checked before use.

The streaming files go by fraudlab's names or the assignment's (``browsing_behaviour.csv`` or
``new_browsing_behaviour.csv``, ``transactions.csv`` or ``new_transactions.csv``); static files
and fraud_transaction.csv are optional. :func:`locate_dataset` reads every header first, so a
folder that cannot be streamed is refused in one sentence before anything is sent;
:func:`check_dataset_rows` reads every row and lists the rows that cannot be read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from fraudlab.errors import UsageError
from fraudlab.field_values import DEFAULT_TIME_ZONE, time_zone
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
    read_rows,
)

__all__ = [
    "DATASET_FILES",
    "STATIC_STREAMS",
    "CheckReport",
    "CsvDataset",
    "check_dataset_rows",
    "locate_dataset",
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
        path = self.files.get(stream)
        if path is None:
            return iter(())
        handle = stack.enter_context(open_text(path, self.encoding))
        return read_rows(handle, path.name, DATASET_FILES[stream], problem, zone=self.zone)


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


def check_dataset_rows(dataset: CsvDataset) -> CheckReport:
    """Read every row of every file of the dataset, as a producer would, sending nothing."""
    report = CheckReport()
    with ExitStack() as stack:
        for stream, path in dataset.files.items():
            report.rows[path.name] = 0
            for _ in dataset.rows(stack, stream, report.problems.append):
                report.rows[path.name] += 1
    return report
