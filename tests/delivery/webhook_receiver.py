"""A real HTTP server on a free loopback port that takes alerts as a webhook receiver would.

It answers each request by a plan: ``fail_first`` attempts of every alert (by its
``Idempotency-Key``) get HTTP 503, the next ones 200; with ``refuse_with`` every request gets
that status instead. Taken alerts are kept in the order they
were taken, with the wall time they arrived; a repeat of a key already taken is answered 200 and
counted, not kept twice (what a receiver that honours idempotency keys does).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    taken: list[dict[str, Any]] = field(default_factory=list)
    arrived_ms: dict[str, int] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class WebhookReceiver:
    """``with WebhookReceiver(fail_first=2) as r: ... r.url ... r.received.taken``."""

    def __init__(self, fail_first: int = 0, refuse_with: int | None = None) -> None:
        self.fail_first = fail_first
        self.refuse_with = refuse_with
        self.received = Received()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                key = self.headers.get("Idempotency-Key", "")
                status = receiver.answer(key, body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def answer(self, key: str, body: dict[str, Any]) -> int:
        got = self.received
        with got.lock:
            got.attempts[key] += 1
            if self.refuse_with is not None:
                return self.refuse_with
            if got.attempts[key] <= self.fail_first:
                return 503
            if key in got.arrived_ms:
                got.repeats += 1
                return 200
            got.arrived_ms[key] = int(time.time() * 1000)
            got.taken.append(body)
            return 200

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
