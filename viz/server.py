"""One Bokeh server for the three directory apps and the index page.

Bound to loopback unless told otherwise; browsers may open its websockets only from the origins
listed (the address it serves on, and the loopback names when it serves on loopback), so a page
of another site cannot drive a session. Bokeh serves its own JavaScript: nothing comes from a CDN.

>>> allowed_origins("127.0.0.1", 5006)
['127.0.0.1:5006', 'localhost:5006']
>>> allowed_origins("10.0.0.5", 80, ["lab.example:443"])
['10.0.0.5:80', 'lab.example:443']
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fraudlab.errors import FraudlabError, UsageError
from fraudlab.settings import Settings

__all__ = ["APPS", "VIZ_DIR", "allowed_origins", "applications", "make_server", "urls"]

VIZ_DIR = Path(__file__).resolve().parent
APPS = ("live", "replay", "compare")


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed_origins(address: str, port: int, extra: Sequence[str] = ()) -> list[str]:
    """The ``host:port`` origins whose pages may open the server's websockets."""
    hosts = {address, "localhost", "127.0.0.1"} if _is_loopback(address) else {address}
    return sorted({f"{h}:{port}" for h in hosts} | set(extra))


def urls(address: str, port: int) -> list[str]:
    """The pages the server serves."""
    host = "localhost" if address in ("127.0.0.1", "localhost") else address
    return [f"http://{host}:{port}/", *(f"http://{host}:{port}/{app}" for app in APPS)]


def applications() -> dict[str, Any]:
    """The three directory apps, by URL path."""
    from bokeh.application import Application
    from bokeh.application.handlers.directory import DirectoryHandler

    return {f"/{app}": Application(DirectoryHandler(filename=str(VIZ_DIR / app))) for app in APPS}


def make_server(
    settings: Settings,
    port: int | None = None,
    address: str | None = None,
    extra_origins: Sequence[str] = (),
    io_loop: Any = None,
) -> Any:
    """A Bokeh server (not started) for ``settings``; a taken port is one UsageError sentence."""
    from bokeh.server.server import Server

    # the views' modules (DuckDB, the archive's read API, Bokeh's models) load now, not while
    # the first visitor waits for a page
    import viz.compare_view
    import viz.live_view
    import viz.replay_view  # noqa: F401
    from viz import context
    from viz.index_page import RunIndexHandler

    context.configure(settings)
    port = settings.viz_port if port is None else port
    address = settings.viz_address if address is None else address
    origins = allowed_origins(address, port, extra_origins)
    try:
        return Server(
            applications(),
            io_loop=io_loop,
            port=port,
            address=address,
            allow_websocket_origin=origins,
            use_index=False,
            redirect_root=False,
            extra_patterns=[(r"/", RunIndexHandler, {"allowed_origins": origins})],
            num_procs=1,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {address} is in use: stop what listens there or serve on "
                "another port with --port."
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(
                f"cannot serve on {address}: this machine has no such address."
            ) from None
        raise FraudlabError(f"cannot serve on {address}:{port}: {exc.strerror}.") from None
