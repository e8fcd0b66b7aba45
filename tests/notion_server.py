"""A local Notion API server for the tests: threaded HTTP on 127.0.0.1, in memory (``notion_api``).

Faults are injected by request number (``fail(index, kind, times)``), counted over every request:
``"429"`` (rate limited, ``Retry-After: retry_after``), ``"500"``, ``"timeout"`` (wait ``delay``,
close without applying), ``"drop-after"`` (apply, then close without an answer) and ``"echo-400"``
(a 400 whose message repeats the request's Authorization header). ``before(method, path)``, when
set, runs before a request is applied: a concurrent writer.

``notion_remote()`` is the factory the tests use: a started server with one empty idse database,
the environment that points idse at it, and ``stop()``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from loopback import LoopbackHandler, LoopbackServer
from notion_api import NotionAPI


class NotionServer(NotionAPI, LoopbackServer):
    def __init__(
        self, token: str = "secret_test-token", delay: float = 1.0, max_page_size: int = 100
    ) -> None:
        super().__init__(token, max_page_size)
        self.delay = delay
        self.retry_after = 0
        self.count = 0
        self.log: list[tuple[str, str, int | str, float]] = []
        self.before: Callable[[str, str], None] | None = None
        self.serve_on_loopback(_Handler)


class _Handler(LoopbackHandler):
    def _serve(self, method: str) -> None:
        app: NotionServer = self.server.app  # type: ignore[attr-defined]
        raw = self.body()
        with app.lock:
            index = app.count
            app.count += 1
            fault = app.faults.pop(index, None)
        now = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fault == "timeout":
            time.sleep(app.delay)
            app.log.append((method, self.path, fault, now))
            self.close_connection = True
            return
        extra: dict[str, str] = {}
        if fault == "429":
            status, payload = (
                429,
                {"object": "error", "status": 429, "code": "rate_limited", "message": "slow down"},
            )
            extra["Retry-After"] = str(app.retry_after)
        elif fault == "echo-400":
            message = f"cannot parse request with {headers.get('authorization')}"
            status, payload = (
                400,
                {"object": "error", "status": 400, "code": "validation_error", "message": message},
            )
        elif fault == "500":
            status, payload = (
                500,
                {"object": "error", "status": 500, "code": "internal_server_error", "message": "injected"},
            )
        else:
            if app.before is not None:
                app.before(method, self.path)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            status, payload = app.handle(method, self.path, headers, body, len(raw))
        app.log.append((method, self.path, status, now))
        if fault == "drop-after":
            self.close_connection = True
            return
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class NotionRemote:
    """A started server with one database; ``env`` configures idse for it."""

    server: NotionServer
    database: str
    env: dict[str, str]

    def stop(self) -> None:
        self.server.stop()


def notion_remote(token: str = "secret_test-token", max_page_size: int = 100) -> NotionRemote:
    """Start a server holding one empty idse database: the plain factory behind the fixtures."""
    server = NotionServer(token=token, max_page_size=max_page_size).start()
    database = server.add_database()
    env = {
        "IDSE_SYNC_BACKEND": "notion",
        "IDSE_SYNC_URL": server.url,
        "IDSE_SYNC_TOKEN": token,
        "IDSE_SYNC_DATABASE": database,
    }
    return NotionRemote(server, database, env)
