"""One Bokeh server for the three directory apps and the index page.

Bound to loopback unless told otherwise; browsers may open its websockets only from the origins
listed, so a page of another site cannot drive a session. Those are the names a browser can reach
the server by: the loopback names when it serves on loopback; on every address (``0.0.0.0`` or
``::``) the machine's host names and the addresses of its interfaces; on one address, that address
and the host names that resolve to it. Any other name (a proxy, an alias) is an
``--allow-origin``. Bokeh serves its own JavaScript: nothing comes from a CDN.

Bokeh's allow-list takes ``host:port`` entries only, so IPv6 addresses are left out (their
pages are reached by name).

>>> allowed_origins("127.0.0.1", 5006)
['127.0.0.1:5006', 'localhost:5006']
>>> allowed_origins("10.0.0.5", 80, ["lab.example:443"], names=())
['10.0.0.5:80', 'lab.example:443']
>>> allowed_origins("0.0.0.0", 80, names=("lab", "10.0.0.5", "fe80::1"))
['10.0.0.5:80', '127.0.0.1:80', 'lab:80', 'localhost:80']
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudlab.errors import FraudlabError, UsageError
from fraudlab.net import is_loopback
from fraudlab.settings import Settings

if TYPE_CHECKING:
    from viz.run_start import StartChoices

__all__ = [
    "APPS",
    "VIZ_DIR",
    "allowed_origins",
    "applications",
    "machine_names",
    "make_server",
    "urls",
]

VIZ_DIR = Path(__file__).resolve().parent
APPS = ("live", "replay", "compare")


LOOPBACK_NAMES = ("localhost", "127.0.0.1")
WILDCARDS = ("0.0.0.0", "::", "")


def _netloc(host: str, port: int) -> str:
    """``host:port`` as a browser's Origin header has it (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def machine_names() -> list[str]:
    """The names and addresses this machine can be reached by: its host name, fully
    qualified name, and the address of every interface (IPv6 link-local ones left out)."""
    import psutil

    names = {socket.gethostname(), socket.getfqdn()}
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family in (socket.AF_INET, socket.AF_INET6) and "%" not in a.address:
                names.add(a.address)
    return sorted(n for n in names if n)


def _resolves_to(name: str, address: str) -> bool:
    try:
        return any(info[4][0] == address for info in socket.getaddrinfo(name, None))
    except OSError:
        return False


def allowed_origins(
    address: str, port: int, extra: Sequence[str] = (), names: Iterable[str] | None = None
) -> list[str]:
    """The ``host:port`` origins whose pages may open the server's websockets, when it serves
    on ``address`` (see the module's text); ``names`` stands for :func:`machine_names`."""
    if is_loopback(address):
        hosts = {address, *LOOPBACK_NAMES}
    elif address in WILDCARDS:
        hosts = {*(machine_names() if names is None else names), *LOOPBACK_NAMES} - {""}
    else:
        found = machine_names() if names is None else names
        hosts = {address, *(n for n in found if _resolves_to(n, address))}
    return sorted({f"{h}:{port}" for h in hosts if ":" not in h} | set(extra))


def urls(address: str, port: int) -> list[str]:
    """The pages the server serves."""
    if address in ("127.0.0.1", "localhost"):
        host = "localhost"
    elif address in WILDCARDS:
        host = socket.gethostname() or "localhost"
    else:
        host = address
    base = f"http://{_netloc(host, port)}"
    return [f"{base}/", *(f"{base}/{app}" for app in APPS)]


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
    start_choices: Callable[[], StartChoices] | None = None,
) -> Any:
    """A Bokeh server (not started) for ``settings``; a taken port is one UsageError sentence.

    ``start_choices``: what the index page's start form offers (see :mod:`viz.run_start`);
    None: the page starts no runs."""
    from bokeh.server.server import Server

    # the views' modules (DuckDB, the archive's read API, Bokeh's models) load now, not while
    # the first visitor waits for a page
    import viz.compare_view
    import viz.live_view
    import viz.replay_view  # noqa: F401
    from viz import context
    from viz.index_page import RunIndexHandler, StartRunHandler

    context.configure(settings)
    port = settings.viz_port if port is None else port
    address = settings.viz_address if address is None else address
    origins = allowed_origins(address, port, extra_origins)
    page = {"allowed_origins": origins, "start_choices": start_choices}
    try:
        return Server(
            applications(),
            io_loop=io_loop,
            port=port,
            address=address,
            allow_websocket_origin=origins,
            use_index=False,
            redirect_root=False,
            extra_patterns=[
                (r"/", RunIndexHandler, page),
                (r"/start", StartRunHandler, page),
            ],
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
