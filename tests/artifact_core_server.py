"""A real Artifact Core protocol v1 server for the tests: threaded HTTP on 127.0.0.1, in memory.

Faults are injected by request number (``fail(index, kind, times)``), counted over every request
the server receives, so a test can break exactly the k-th request of a command:

- ``"500"``: answer 500 without touching the data;
- ``"429"``: answer 429 (too many requests) with ``Retry-After: <retry_after>``, data untouched;
- ``"drop"``: read the request, then close the connection without an answer;
- ``"drop-after"``: apply the request, then close without an answer (the reply is lost);
- ``"timeout"``: read the request, wait ``delay`` seconds, close without applying;
- ``"truncate"``: apply the request, send the headers and half the body, then close;
- ``"stall-body"``: apply the request, send the headers and half the body, wait ``delay`` seconds, close;
- ``"echo-400"``: answer 400 with an error text that repeats the request's Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from loopback import LoopbackHandler, LoopbackServer

Key = tuple[str, str]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ArtifactCoreServer(LoopbackServer):
    def __init__(
        self, token: str | None = "test-token", delay: float = 1.0, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.token = token
        self.delay = delay
        self.lock = threading.Lock()
        self.artifacts: dict[str, dict[Key, dict[str, str]]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.revision_counter = 0
        self.count = 0
        self.log: list[tuple[str, str, int | str]] = []
        # The Retry-After header of an injected 429 (seconds, or an HTTP date).
        self.retry_after = "0"
        # Called with (project, session, stage) before a PUT is checked: simulates a concurrent writer.
        self.before_put: Callable[[str, str, str], None] | None = None
        self.serve_on_loopback(_Handler, tls)

    # -- test controls -------------------------------------------------------------------------
    def clear_faults(self) -> None:
        self.faults.clear()

    def put_raw(self, project: str, session: str, stage: str, content: str) -> str:
        """Store a document directly, with any names at all (for hostile-remote tests)."""
        with self.lock:
            return self._store(project, session, stage, content)

    def content(self, project: str, session: str, stage: str) -> str | None:
        item = self.artifacts.get(project, {}).get((session, stage))
        return item["content"] if item else None

    def _store(self, project: str, session: str, stage: str, content: str) -> str:
        self.revision_counter += 1
        revision = f"r{self.revision_counter}"
        self.artifacts.setdefault(project, {})[(session, stage)] = {
            "content": content,
            "sha256": sha256(content),
            "revision": revision,
        }
        return revision

    # -- protocol --------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "missing or wrong bearer token"}
        parts = [unquote(p) for p in urlsplit(path).path.split("/")[1:]]
        if len(parts) < 3 or parts[:2] != ["v1", "projects"]:
            return 404, {"error": "no such route"}
        project, rest = parts[2], parts[3:]
        with self.lock:
            store = self.artifacts.setdefault(project, {})
            if rest == ["artifacts"] and method == "GET":
                listing = [
                    {"session": s, "stage": st, "sha256": v["sha256"], "revision": v["revision"]}
                    for (s, st), v in sorted(store.items())
                ]
                return 200, {"artifacts": listing}
            if rest == ["state"]:
                if method == "GET":
                    return (200, {"state": self.states[project]}) if project in self.states else (404, {})
                if not isinstance(body, dict) or not isinstance(body.get("state"), dict):
                    return 400, {"error": "expected {state: {...}}"}
                self.states[project] = body["state"]
                return 200, {}
            if len(rest) == 4 and rest[0] == "sessions" and rest[2] == "artifacts":
                session, stage = rest[1], rest[3]
                current = store.get((session, stage))
                if method == "GET":
                    if current is None:
                        return 404, {"error": "no such artifact"}
                    return 200, {"session": session, "stage": stage, **current}
                return self._put(project, session, stage, current, body)
        return 404, {"error": "no such route"}

    def _put(self, project: str, session: str, stage: str, current: Any, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return 400, {"error": "expected {content, sha256, base_revision}"}
        if body.get("sha256") != sha256(body["content"]):
            return 400, {"error": "sha256 does not match content"}
        if self.before_put is not None:
            self.lock.release()
            try:
                self.before_put(project, session, stage)
            finally:
                self.lock.acquire()
            current = self.artifacts[project].get((session, stage))
        current_revision = current["revision"] if current else None
        if body.get("base_revision") != current_revision:
            return 409, {"revision": current_revision, "sha256": current["sha256"] if current else None}
        return 200, {"revision": self._store(project, session, stage, body["content"])}


class _Handler(LoopbackHandler):
    def _serve(self, method: str) -> None:
        app: ArtifactCoreServer = self.server.app  # type: ignore[attr-defined]
        raw = self.body()
        with app.lock:
            index = app.count
            app.count += 1
            fault = app.faults.pop(index, None)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fault in ("drop", "timeout"):
            if fault == "timeout":
                time.sleep(app.delay)
            app.log.append((method, self.path, fault))
            self.close_connection = True
            return
        if fault == "500":
            status, payload = 500, {"error": "injected failure"}
        elif fault == "429":
            status, payload = 429, {"error": "slow down"}
        elif fault == "echo-400":
            status, payload = 400, {"error": f"cannot parse request with {headers.get('authorization')}"}
        else:
            status, payload = app.handle(method, self.path, headers, body)
        app.log.append((method, self.path, status))
        if fault == "drop-after":
            self.close_connection = True
            return
        data = json.dumps(payload).encode("utf-8")
        if fault == "deep-json":  # a reply nested past any sane depth
            status, data = 200, b"[" * 100_000
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if fault == "429":
            self.send_header("Retry-After", app.retry_after)
        self.end_headers()
        if fault in ("truncate", "stall-body"):
            self.wfile.write(data[: max(1, len(data) // 2)])
            self.wfile.flush()
            if fault == "stall-body":
                time.sleep(app.delay)
            self.close_connection = True
            return
        self.wfile.write(data)
