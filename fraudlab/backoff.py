"""The one backoff policy of the project: waits that double from a first wait up to a cap, as
Kafka's own clients wait between reconnects (``reconnect.backoff.ms`` up to
``reconnect.backoff.max.ms``).

Three places wait so: a Kafka session's admin request that met a node that does not answer
(:class:`fraudlab.kafka_session.KafkaSession`), a producer's failed metadata refreshes during an
outage (:mod:`fraudlab.kafka_io`), and alert delivery between attempts at a sink
(:mod:`delivery.sending`, the sink's ``backoff_s`` and ``backoff_max_s``). Each keeps its own
count of attempts and asks the policy how long the next wait is; none sleeps in a loop of its own
making.

>>> Backoff(0.5, 3.0).delays(5)
[0.5, 1.0, 2.0, 3.0, 3.0]
>>> Backoff(0.1, 1.0).delay(0), Backoff(0.1, 1.0).delay(10_000)
(0.1, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Backoff"]

# beyond this many doublings every wait is the cap anyway (and 2**n stays a small number)
_MAX_DOUBLINGS = 60


@dataclass(frozen=True)
class Backoff:
    """Waits of ``first_s`` seconds, doubling with each retry, never longer than ``max_s``."""

    first_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 <= self.first_s <= self.max_s:
            raise ValueError(f"a backoff from {self.first_s} s up to {self.max_s} s")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0: the first retry)."""
        return min(self.first_s * 2 ** min(max(retry, 0), _MAX_DOUBLINGS), self.max_s)

    def delays(self, retries: int) -> list[float]:
        """The waits before each of ``retries`` retries, in order."""
        return [self.delay(i) for i in range(max(retries, 0))]
