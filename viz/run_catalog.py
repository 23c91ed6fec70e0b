"""The archived runs the views may open, and checking what a page asks for against them.

A run id from a page (a query argument or a widget value) is never used as given: it must be one
of the ids listed in the archive folder, and the views go on with the listed string.

>>> checked_run_id(b"r1", ["r1", "r2"])
'r1'
>>> checked_run_id("../etc/passwd", ["r1"]) is None
True
>>> checked_run_ids([b"r2", b"x", b"r1", b"r2"], ["r1", "r2"])
['r2', 'r1']
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from archive.files import RunIsLive, open_read_only, run_ids
from archive.reader import RunListing, effective_status, list_runs
from fraudlab.errors import FraudlabError

__all__ = [
    "RunChoice",
    "checked_run_id",
    "checked_run_ids",
    "finished_runs",
    "listed_runs",
    "query_values",
]


@dataclass(frozen=True)
class RunChoice:
    """A finished run a view can open: id, what it was, how it ended."""

    run_id: str
    scenario: str | None
    seed: int | None
    model: str | None
    status: str

    @property
    def label(self) -> str:
        """How a picker shows the run."""
        what = self.scenario or "?"
        seed = f" s{self.seed}" if self.seed is not None else ""
        model = f", {self.model}" if self.model else ""
        return f"{self.run_id} ({what}{seed}{model}; {self.status})"


def _as_text(value: str | bytes) -> str | None:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value


def checked_run_id(value: str | bytes | None, known: Iterable[str]) -> str | None:
    """The listed run id equal to ``value``, or None when the archive lists no such run."""
    if value is None:
        return None
    text = _as_text(value)
    return next((run_id for run_id in known if run_id == text), None)


def checked_run_ids(values: Iterable[str | bytes], known: Iterable[str]) -> list[str]:
    """The listed run ids among ``values``, in the order given, each once."""
    listed = list(known)
    out: list[str] = []
    for value in values:
        run_id = checked_run_id(value, listed)
        if run_id is not None and run_id not in out:
            out.append(run_id)
    return out


def query_values(arguments: dict[str, list[bytes]] | None, name: str) -> list[bytes]:
    """The values of a page's query argument ``name``; comma-separated values are split."""
    out: list[bytes] = []
    for raw in (arguments or {}).get(name, []):
        out.extend(part.strip() for part in raw.split(b",") if part.strip())
    return out


def _choice(archive_dir: Path, run_id: str) -> RunChoice | None:
    try:
        con = open_read_only(archive_dir, run_id)
    except RunIsLive:
        return None
    except FraudlabError:
        return RunChoice(run_id, None, None, None, "unreadable")
    try:
        rows = con.execute("SELECT scenario, seed, model_name, status FROM run").fetchall()
    except duckdb.Error:
        return RunChoice(run_id, None, None, None, "unreadable")
    finally:
        con.close()
    if not rows:
        return RunChoice(run_id, None, None, None, "empty")
    scenario, seed, model, status = rows[0]
    return RunChoice(run_id, scenario, seed, model, effective_status(status))


def finished_runs(archive_dir: Path) -> list[RunChoice]:
    """The runs whose files can be opened read-only (none of them is being archived), by id."""
    choices = (_choice(archive_dir, run_id) for run_id in run_ids(archive_dir))
    return [c for c in choices if c is not None and c.status not in ("unreadable", "empty")]


class _ListingCache:
    """``list_runs`` counts every run in DuckDB; an index page reloaded often reuses the
    answer until a file in the folder changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._listing: list[RunListing] = []

    def get(self, archive_dir: Path) -> list[RunListing]:
        key = (str(archive_dir), *_fingerprint(archive_dir))
        with self._lock:
            if key != self._key:
                self._listing = list_runs(archive_dir)
                self._key = key
            return list(self._listing)


def _fingerprint(archive_dir: Path) -> Sequence[tuple[str, int, int]]:
    if not archive_dir.is_dir():
        return ()
    out = []
    for path in sorted(archive_dir.glob("*.duckdb*")):
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((path.name, st.st_mtime_ns, st.st_size))
    return out


_cache = _ListingCache()


def listed_runs(archive_dir: Path) -> list[RunListing]:
    """Every run in the folder with its figures (cached while no file changes)."""
    return _cache.get(archive_dir)
