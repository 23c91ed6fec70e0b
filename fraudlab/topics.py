"""Kafka topic names of a run and their administration.

Every stream of a run has its own topic, ``fraudlab.<run_id>.<stream>``; streams are the
record contract's (see :data:`fraudlab.records.STREAMS`).

>>> topic_name("r1", "fraud-alerts")
'fraudlab.r1.fraud-alerts'
>>> parse_topic("fraudlab.r1.truth")
('r1', 'truth')
"""

from __future__ import annotations

from collections.abc import Iterable

from fraudlab.records import STREAMS
from fraudlab.runs import validate_run_id

PREFIX = "fraudlab"


def topic_name(run_id: str, stream: str) -> str:
    """The topic of one stream of a run."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}; known: {', '.join(STREAMS)}")
    return f"{PREFIX}.{validate_run_id(run_id)}.{stream}"


def parse_topic(topic: str) -> tuple[str, str] | None:
    """(run_id, stream) of a fraudlab topic, or None for any other topic."""
    prefix, _, rest = topic.partition(".")
    run_id, _, stream = rest.partition(".")
    if prefix != PREFIX or stream not in STREAMS or not run_id:
        return None
    return run_id, stream


def run_topics(run_id: str, streams: Iterable[str] = STREAMS) -> list[str]:
    """The topics of the given streams of a run, in stream order."""
    return [topic_name(run_id, s) for s in streams]
