"""What every command of the ``fraudlab`` CLI shares: settings from flags, and async entry."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from fraudlab.settings import Settings, load_settings

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


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion."""
    return asyncio.run(coro)
