"""The live app's server hooks: one Kafka consumer for the whole server, not one per session."""

from typing import Any

from viz import context
from viz.live_feed import LiveFeed


def on_server_loaded(_server_context: Any) -> None:
    feed = LiveFeed(context.settings().bootstrap_servers)
    feed.start()
    context.set_live_feed(feed)


def on_server_unloaded(_server_context: Any) -> None:
    feed = context.live_feed()
    context.set_live_feed(None)
    if feed is not None:
        feed.stop()
