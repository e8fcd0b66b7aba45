"""What every fake server of the tests shares: a threaded HTTP server on 127.0.0.1 and a fault plan.

A fake keeps its state on itself; its request handler reaches it as ``self.server.app``.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

S = TypeVar("S", bound="LoopbackServer")


class LoopbackHandler(BaseHTTPRequestHandler):
    """Every method goes to ``serve(method)``; nothing is logged."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, delayed ACKs add 40 ms per request.
    disable_nagle_algorithm = True
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        raise NotImplementedError

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class LoopbackServer:
    scheme = "http"
    faults: dict[int, str]

    def serve_on_loopback(
        self, handler: type[BaseHTTPRequestHandler], tls: tuple[Path, Path] | None = None
    ) -> None:
        """Bind ``handler`` to a free port (TLS with ``(cert, key)``); ``start()`` serves it."""
        self.faults = {}
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self  # type: ignore[attr-defined]
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def start(self: S) -> S:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, index: int, kind: str, times: int = 1) -> None:
        """Inject ``kind`` at request ``index`` (0-based over all requests) and the next ``times-1``."""
        for i in range(times):
            self.faults[index + i] = kind
