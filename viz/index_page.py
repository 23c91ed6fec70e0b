"""The server's index page: links to the three views, the runs in progress and the archived runs.

Plain HTML with its own small style sheet: nothing is fetched from elsewhere.

>>> page = index_html([], [], "var/archive")
>>> "/replay" in page and "/compare" in page and "/live" in page
True
>>> "<script>" in index_html([RunListing("r1", scenario="<script>")], [], "a")
False
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlparse

from tornado.web import RequestHandler

from archive.reader import RunListing
from viz import context
from viz.live_feed import LiveRunChoice
from viz.run_catalog import listed_runs

__all__ = ["RunIndexHandler", "index_html"]

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


def index_html(archived: Sequence[RunListing], live: Sequence[LiveRunChoice], folder: Any) -> str:
    """The index page for these runs (every value escaped)."""
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
        f"<title>fraudlab: runs</title><style>{STYLE}</style></head><body>"
        '<nav><b>fraudlab</b>&nbsp;&nbsp;<a href="/live">live</a>'
        '<a href="/replay">replay</a><a href="/compare">compare</a></nav>'
        f"<h2>Runs in progress</h2>{live_part}"
        f"<h2>Archived runs</h2>{archived_part}"
        "</body></html>"
    )


class RunIndexHandler(RequestHandler):
    """``/``: the index page. A request from a page of another origin is refused."""

    def initialize(self, allowed_origins: Sequence[str]) -> None:
        self.allowed_origins = {o.lower() for o in allowed_origins}

    async def get(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin is not None and urlparse(origin).netloc.lower() not in self.allowed_origins:
            self.send_error(403)
            return
        archive_dir = context.settings().archive_dir
        # counting runs in DuckDB may take a moment: keep the server's loop free meanwhile
        archived = await asyncio.get_running_loop().run_in_executor(None, listed_runs, archive_dir)
        feed = context.live_feed()
        live = feed.runs() if feed is not None else []
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(index_html(archived, live, archive_dir))
