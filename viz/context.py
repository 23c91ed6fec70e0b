"""What every view of one Bokeh server shares: the settings in force and the live feed.

A server process serves one archive folder and one Kafka cluster, so these are process-wide.
``fraudlab serve`` calls :func:`configure` before it starts the server; a directory app served
any other way (``bokeh serve viz/replay``) reads the settings from their usual sources.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from fraudlab.settings import Settings, load_settings

if TYPE_CHECKING:
    from viz.live_feed import LiveFeed

_lock = threading.Lock()
_settings: Settings | None = None
_feed: LiveFeed | None = None


def configure(settings: Settings) -> None:
    """Use ``settings`` for every view this process serves."""
    global _settings
    with _lock:
        _settings = settings


def settings() -> Settings:
    """The settings in force (loaded from their sources on first use if none were given)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = load_settings()
        return _settings


def set_live_feed(feed: LiveFeed | None) -> None:
    """Register the server's one live feed (None when it stops)."""
    global _feed
    with _lock:
        _feed = feed


def live_feed() -> LiveFeed | None:
    """The server's live feed, if the live app started one."""
    with _lock:
        return _feed
