"""What every command of the ``fraudlab`` CLI shares: settings from flags, the command's Kafka
session, and async entry.

A command talks to Kafka in one of two ways, each entering an event loop once for the process:
the whole command is one coroutine, run by :func:`run_async` (the process's entry point into
async code, which opens its own :class:`~fraudlab.kafka_session.KafkaSession`), or a command
that is plain code asks :func:`command_kafka` for the process's one
:class:`~fraudlab.blocking_kafka.BlockingKafka`, closed when the command ends.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.settings import Settings, load_settings
from fraudlab.stop_request import StopSignals

T = TypeVar("T")


@dataclass(frozen=True)
class CliState:
    """Options given before the command name (``fraudlab --settings F COMMAND``)."""

    settings_path: Path | None = None


def settings_from(
    ctx: click.Context, flag_names: dict[str, str] | None = None, **flags: Any
) -> Settings:
    """Settings for a command: every source, with the command's own flags (None = unset) on top.

    ``flag_names`` maps a setting to the flag that sets it, for error messages.
    """
    state = ctx.find_root().obj
    path = state.settings_path if isinstance(state, CliState) else None
    return load_settings(path, flag_names, **flags)


def command_kafka(ctx: click.Context, settings: Settings) -> BlockingKafka:
    """The process's Kafka session at ``settings.bootstrap_servers``: opened on first use and
    closed when the command line's outermost context closes (the command has ended)."""
    root = ctx.find_root()
    key = f"fraudlab.kafka:{settings.bootstrap_servers}"
    kafka = root.meta.get(key)
    if kafka is None:
        kafka = root.meta[key] = root.with_resource(BlockingKafka(settings.bootstrap_servers))
    assert isinstance(kafka, BlockingKafka)
    return kafka


class _Interrupts:
    """Turns the first SIGINT into the cancellation of the command's coroutine, so that it
    ends its work cleanly (announces its end, closes its clients), as asyncio.run does; unlike
    asyncio.run, a SIGINT repeated within :data:`REPEATED_STOP_S` is the same stop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Task[Any] | None = None
        self.signals = StopSignals()
        self.asked = False

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        self.task = asyncio.current_task()
        return await coro

    def handler(self, _signum: int, _frame: object) -> None:
        heard = self.signals.hear()
        if heard == "ask" and self.task is not None and not self.task.done():
            self.asked = True
            self.loop.call_soon_threadsafe(self.task.cancel)
            return
        if heard == "repeat":
            return
        raise KeyboardInterrupt


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion: a process entry point, for a command that is
    one coroutine from its first Kafka call to its last. A Ctrl-C (or a part's parent-death
    signal) cancels it and, once it has ended cleanly, raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(coro)
    with asyncio.Runner() as runner:
        interrupts = _Interrupts(runner.get_loop())
        previous = signal.signal(signal.SIGINT, interrupts.handler)
        try:
            return runner.run(interrupts.run(coro))
        except asyncio.CancelledError:
            if not interrupts.asked:
                raise
            raise KeyboardInterrupt from None
        finally:
            signal.signal(signal.SIGINT, previous)
