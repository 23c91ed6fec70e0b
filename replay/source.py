"""The archived run a replay reads: whether it can be replayed, and what it was.

A run can be replayed once its input is all in its archive: the archive is final, or its
producer finished before the archive was closed (its results may still be partial). Its topics'
partition count must be the replay's, or keys would land on other partitions than they did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from archive.reader import run_summary
from archive.tables import UNDECODABLE
from fraudlab.errors import FraudlabError
from fraudlab.publisher import partition_for
from fraudlab.records import field_names, message_key, record_for_stream
from fraudlab.schemas import table_name
from fraudlab.topics import topic_name
from replay.archived_messages import REPLAYED_STREAMS

__all__ = [
    "ArchiveNotFinished",
    "NoInputStreams",
    "PartitionsDiffer",
    "ReplaySource",
    "replay_source",
]

# keys checked per partition: a different partition count would move about half of them
_KEYS_CHECKED = 64


class NoInputStreams(FraudlabError):
    """The run's archive holds no browsing events or transactions to replay."""


class ArchiveNotFinished(FraudlabError):
    """The run's archive does not hold all of the run's input yet."""


class PartitionsDiffer(FraudlabError):
    """The run's topics had another partition count than the replay would use."""


@dataclass(frozen=True)
class ReplaySource:
    """What a replay needs to know of the run it replays."""

    run_id: str
    scenario: str | None
    scenario_text: str | None
    seed: int | None
    start_ms: int  # the run's start: simulated second 0, Unix milliseconds
    horizon_s: float  # simulated seconds the run lasted
    messages: dict[str, int]  # messages per replayed stream, undecodable values included
    undecodable: int

    @property
    def total(self) -> int:
        return sum(self.messages.values())


def _producer_details(parts: dict[str, Any]) -> dict[str, Any]:
    producer = parts.get("producer") or {}
    details = producer.get("details") if isinstance(producer, dict) else None
    return details if isinstance(details, dict) else {}


def _start_ms(details: dict[str, Any]) -> int | None:
    text = details.get("start")
    if not isinstance(text, str):
        return None
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp() * 1000)


def _counts(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[dict[str, int], int]:
    messages, undecodable = {}, 0
    for stream in REPLAYED_STREAMS:
        table = table_name(record_for_stream(stream))
        ((rows,),) = con.execute(f"SELECT count(*) FROM {table}").fetchall()
        ((bad,),) = con.execute(
            f"SELECT count(*) FROM {UNDECODABLE} WHERE source_topic = ?",
            [topic_name(run_id, stream)],
        ).fetchall()
        if rows + bad:
            messages[stream] = int(rows + bad)
        undecodable += int(bad)
    return messages, undecodable


def _ts_range(con: duckdb.DuckDBPyConnection) -> tuple[int | None, int | None]:
    spans = " UNION ALL ".join(
        f"SELECT min(ts) AS lo, max(ts) AS hi FROM {table_name(record_for_stream(s))}"
        for s in REPLAYED_STREAMS
    )
    ((lo, hi),) = con.execute(f"SELECT min(lo), max(hi) FROM ({spans})").fetchall()
    return lo, hi


def check_partitions(con: duckdb.DuckDBPyConnection, run_id: str, partitions: int) -> None:
    """PartitionsDiffer unless the run's keys sit where ``partitions`` partitions put them."""
    for stream in REPLAYED_STREAMS:
        cls = record_for_stream(stream)
        names = ", ".join(field_names(cls))
        rows = con.execute(
            f"SELECT {names}, kafka_partition FROM {table_name(cls)} "
            f"QUALIFY row_number() OVER (PARTITION BY kafka_partition ORDER BY kafka_offset) "
            f"<= {_KEYS_CHECKED}"
        ).fetchall()
        for row in rows:
            if partition_for(message_key(cls(*row[:-1])), partitions) != row[-1]:
                raise PartitionsDiffer(
                    f"run {run_id} was published with another partition count than "
                    f"topic_partitions = {partitions} (its {stream} keys sit elsewhere): set "
                    "FRAUDLAB_TOPIC_PARTITIONS to the count the run was produced with."
                )


def replay_source(con: duckdb.DuckDBPyConnection, run_id: str, partitions: int) -> ReplaySource:
    """What run ``run_id`` (whose file ``con`` has open) is, or why it cannot be replayed."""
    summary = run_summary(con)
    details = _producer_details(summary.parts)
    producer_done = (summary.parts.get("producer") or {}).get("event") == "finished"
    if not summary.final and not producer_done:
        raise ArchiveNotFinished(
            f"the archive of run {run_id} is {summary.status} and its producer never finished, "
            f"so it may lack input: finish it with `fraudlab archive {run_id} --until-end` first."
        )
    messages, undecodable = _counts(con, run_id)
    if not messages.get("browsing") and not messages.get("transactions"):
        raise NoInputStreams(
            f"the archive of run {run_id} holds no browsing events or transactions: "
            "there is no input to replay."
        )
    check_partitions(con, run_id, partitions)
    lo, hi = _ts_range(con)
    start_ms = _start_ms(details)
    if start_ms is None:
        start_ms = int(lo or 0) * 1000
    minutes = details.get("minutes")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool) and minutes > 0:
        horizon_s = float(minutes) * 60.0
    else:
        horizon_s = max(0.0, (int(hi or 0) * 1000 - start_ms) / 1000 + 1)
    return ReplaySource(
        run_id=run_id,
        scenario=summary.scenario,
        scenario_text=summary.scenario_text,
        seed=summary.seed,
        start_ms=start_ms,
        horizon_s=horizon_s,
        messages=messages,
        undecodable=undecodable,
    )
