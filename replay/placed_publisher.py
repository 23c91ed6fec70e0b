"""A publisher that can also put a message on a partition it is told, key or no key.

A value the archive could not decode comes back without its key when the value no longer shows
it; its partition and offset are known, so it goes back to that partition, in its place among
the partition's other messages. It shares the keyed messages' batches and producer, so the
partition's order is kept. (A ``partition`` argument on :meth:`Publisher.send` would make this
subclass unnecessary.)
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.publisher import Publisher, _Open

__all__ = ["PlacedPublisher"]


@dataclass
class PlacedPublisher(Publisher):
    """A :class:`~fraudlab.publisher.Publisher` with :meth:`send_to` for a given partition."""

    async def send_to(
        self,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes,
        timestamp_ms: int | None,
    ) -> None:
        """Queue one message for ``partition`` of ``topic``, in order with :meth:`send`'s."""
        assert self._producer is not None, "start() first"
        for attempt in range(2):
            slot = self._open.get((topic, partition))
            if slot is None:
                slot = self._open[(topic, partition)] = _Open(self._producer.create_batch())
            if slot.builder.append(key=key, value=value, timestamp=timestamp_ms) is not None:  # type: ignore[attr-defined]
                slot.count += 1
                self.sent[topic] += 1
                return
            if attempt == 0:
                await self._submit(topic, partition)
        raise ValueError(f"a message of {len(value)} bytes does not fit in a batch")
