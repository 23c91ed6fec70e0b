"""The server's index page: links to the three views, a form that starts a run, the runs in
progress and the archived runs.

Plain HTML with its own small style sheet: nothing is fetched from elsewhere. The start form
(:mod:`viz.run_start`) is offered when the server is bound to loopback and knows what can be
started; ``POST /start`` (:class:`StartRunHandler`) launches the run and opens /live on it.

>>> page = index_html([], [], "var/archive")
>>> "/replay" in page and "/compare" in page and "/live" in page
True
>>> "<script>" in index_html([RunListing("r1", scenario="<script>")], [], "a")
False
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlparse

from tornado.web import RequestHandler

from archive.reader import RunListing
from fraudlab.errors import UsageError
from fraudlab.net import is_loopback
from fraudlab.run_launch import launch_run
from viz import context
from viz.live_feed import LiveRunChoice
from viz.run_catalog import listed_runs
from viz.run_start import FORM_FIELDS, FORM_STYLE, StartChoices, form_request, start_form_html

__all__ = ["RunIndexHandler", "StartRunHandler", "index_html"]

# how long a start waits for the new run to show on Kafka before it opens /live on it
SHOWN_WAIT_S = 30.0

STYLE = """
body { font-family: sans-serif; margin: 0 16px 24px 16px; color: #222; }
nav { padding: 10px 0; border-bottom: 1px solid #ddd; margin-bottom: 8px; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; font-size: 14px; }
th { color: #555; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
h2 { font-size: 17px; margin-top: 20px; }
"""


def _text(value: object) -> str:
    return "-" if value is None else html.escape(str(value))


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _archived_rows(runs: Sequence[RunListing]) -> str:
    rows = []
    for r in runs:
        run = quote(r.run_id)
        rows.append(
            "<tr>"
            f'<td><input type="checkbox" name="runs" value="{html.escape(r.run_id)}"></td>'
            f'<td><a href="/replay?run={run}">{html.escape(r.run_id)}</a></td>'
            f"<td>{_text(r.scenario)}</td><td>{_text(r.seed)}</td><td>{_text(r.model)}</td>"
            f"<td>{_text(r.status)}</td><td class='n'>{_text(r.events)}</td>"
            f"<td class='n'>{_text(r.alerts)}</td><td class='n'>{_figure(r.precision)}</td>"
            f"<td class='n'>{_figure(r.recall)}</td>"
            "</tr>"
        )
    return "".join(rows)


def index_html(
    archived: Sequence[RunListing],
    live: Sequence[LiveRunChoice],
    folder: Any,
    start_form: str | None = None,
) -> str:
    """The index page for these runs (every value escaped), with ``start_form`` (HTML) when a
    run may be started from it."""
    live_rows = "".join(
        f'<li><a href="/live?run={quote(r.run_id)}">{html.escape(r.run_id)}</a> '
        f"({_text(r.scenario)}; {html.escape(r.status)})</li>"
        for r in live
    )
    live_part = f"<ul>{live_rows}</ul>" if live_rows else "<p>No run in progress on Kafka.</p>"
    if archived:
        archived_part = (
            '<form action="/compare" method="get"><table><tr><th></th><th>run (replay)</th>'
            "<th>scenario</th><th>seed</th><th>model</th><th>status</th><th>events</th>"
            "<th>alerts</th><th>precision</th><th>recall</th></tr>"
            f"{_archived_rows(archived)}</table>"
            '<button type="submit">compare the ticked runs</button></form>'
        )
    else:
        archived_part = f"<p>No archived runs in {html.escape(str(folder))}.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>fraudlab: runs</title><style>{STYLE}{FORM_STYLE}</style></head><body>"
        '<nav><b>fraudlab</b>&nbsp;&nbsp;<a href="/live">live</a>'
        '<a href="/replay">replay</a><a href="/compare">compare</a></nav>'
        f"{'' if start_form is None else '<h2>Start a run</h2>' + start_form}"
        f"<h2>Runs in progress</h2>{live_part}"
        f"<h2>Archived runs</h2>{archived_part}"
        "</body></html>"
    )


class RunIndexHandler(RequestHandler):
    """``/``: the index page. A request from a page of another origin is refused.

    ``start_choices``: what the start form offers (read again for every page), or None for a
    server that offers no form."""

    def initialize(
        self,
        allowed_origins: Sequence[str],
        start_choices: Callable[[], StartChoices] | None = None,
    ) -> None:
        self.allowed_origins = {o.lower() for o in allowed_origins}
        self.start_choices = start_choices

    def _foreign(self, origin: str | None) -> bool:
        return origin is not None and urlparse(origin).netloc.lower() not in self.allowed_origins

    @property
    def starts_runs(self) -> bool:
        """Whether runs may be started from this server's page (a loopback server with a form)."""
        return self.start_choices is not None and is_loopback(context.settings().viz_address)

    async def get(self) -> None:
        if self._foreign(self.request.headers.get("Origin")):
            self.send_error(403)
            return
        await self.show()

    async def show(self, values: dict[str, str] | None = None, problem: str | None = None) -> None:
        """Write the page, the start form filled with ``values`` and ``problem`` said."""
        archive_dir = context.settings().archive_dir
        loop = asyncio.get_running_loop()
        # counting runs in DuckDB may take a moment: keep the server's loop free meanwhile
        archived = await loop.run_in_executor(None, listed_runs, archive_dir)
        form = None
        if self.starts_runs and self.start_choices is not None:
            choices = await loop.run_in_executor(None, self.start_choices)
            form = start_form_html(choices, values, problem)
        feed = context.live_feed()
        live = feed.runs() if feed is not None else []
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(index_html(archived, live, archive_dir, form))


class StartRunHandler(RunIndexHandler):
    """``POST /start``: launch the run the start form asks for (``fraudlab run``, see
    :func:`fraudlab.run_launch.launch_run`) and open /live on it; a refusal is the page again,
    the form as it was sent and one sentence on why. Taken only on a loopback server, and only
    from a page of an allowed origin (a browser always names the page's origin on a POST)."""

    async def post(self) -> None:
        origin = self.request.headers.get("Origin")
        if not self.starts_runs:
            self.set_status(403)
            self.write(
                "runs are started from the page only when the views are served on a "
                "loopback address: start them with `fraudlab run`."
            )
            return
        if origin is None or self._foreign(origin):
            self.set_status(403)
            self.write("a run is started from this server's own index page only.")
            return
        assert self.start_choices is not None
        values = {name: ",".join(self.get_body_arguments(name)) for name in FORM_FIELDS}
        loop = asyncio.get_running_loop()
        settings = context.settings()
        try:
            choices = await loop.run_in_executor(None, self.start_choices)
            request = form_request(values, choices)
            await loop.run_in_executor(None, launch_run, settings, request)
        except UsageError as exc:
            self.set_status(400)
            await self.show(values, str(exc))
            return
        await self._shown(request.run_id)
        self.redirect(f"/live?run={quote(request.run_id)}", status=303)

    @staticmethod
    async def _shown(run_id: str) -> None:
        """Wait (a while at most) until the live feed follows ``run_id``."""
        feed = context.live_feed()
        deadline = time.monotonic() + SHOWN_WAIT_S
        while feed is not None and time.monotonic() < deadline:
            if any(r.run_id == run_id for r in feed.runs()):
                return
            await asyncio.sleep(0.5)
