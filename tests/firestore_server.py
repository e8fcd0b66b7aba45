"""The official Cloud Firestore emulator for the tests, behind a fault-injecting loopback proxy.

The emulator is Google's own (the Debian package ``google-cloud-cli-firestore-emulator``, a Java
jar under the Google Cloud SDK); ``find_emulator`` looks for it and the tests skip with a reason
when it is absent. Nothing of Firestore is imitated here: the proxy forwards every request to the
emulator unchanged, except the faults a test injects by request number (counted over every request
the proxy receives, like ``artifact_core_server``):

- ``"429"``: answer 429 RESOURCE_EXHAUSTED with ``Retry-After: <retry_after>``, without forwarding;
- ``"500"``: answer 500 without forwarding;
- ``"timeout"``: read the request, wait ``delay`` seconds, close without forwarding;
- ``"drop-after"``: forward (the write lands), then close without an answer (the reply is lost);
- ``"echo-400"``: answer 400 with a message repeating the request's Authorization header.

With ``token`` set, the proxy plays the real service's front door: ``POST /token`` is an OAuth token
endpoint (a JWT-bearer grant answered with ``token``; the JWT is not verified), and requests must
carry ``Authorization: Bearer <token>`` (401 otherwise, or always while ``deny``) before they are
forwarded with the emulator's own ``Bearer owner``.

``firestore_remote(emulator)`` is the factory the tests use: a proxy and a fresh Google Cloud
project id (the emulator keeps projects apart), the environment that points idse at them, and
``stop()``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from loopback import LoopbackHandler, LoopbackServer

DEFAULT_JAR_DIR = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator")


def find_emulator() -> Path | None:
    """The emulator's launcher script, from ``IDSE_TEST_FIRESTORE_EMULATOR`` or the Google Cloud SDK."""
    env = os.environ.get("IDSE_TEST_FIRESTORE_EMULATOR")
    candidates = [Path(env)] if env else []
    gcloud = shutil.which("gcloud")
    if gcloud:
        sdk = Path(gcloud).resolve().parents[1]
        candidates.append(sdk / "platform/cloud-firestore-emulator/cloud_firestore_emulator")
    candidates.append(DEFAULT_JAR_DIR / "cloud_firestore_emulator")
    if shutil.which("java") is None:
        return None
    return next((c for c in candidates if c.is_file()), None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """One emulator process on 127.0.0.1 (started once per test module: it takes a few seconds)."""

    def __init__(self, launcher: Path) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [str(launcher), "start", "--host=127.0.0.1", f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"http://{self.host}/", timeout=1).close()
                break
            except requests.RequestException:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the Firestore emulator did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)


class Proxy(LoopbackServer):
    def __init__(self, upstream: str, token: str | None = None, delay: float = 1.0, retry_after: int = 0):
        self.upstream = upstream
        self.token = token
        self.delay = delay
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.count = 0
        self.log: list[tuple[str, str, int | str, float]] = []
        self.tokens_issued = 0
        # While set, every API request is refused with 401 (a revoked service account).
        self.deny = False
        # Called with (method, path) before a request is forwarded: simulates a concurrent writer.
        self.before: Callable[[str, str], None] | None = None
        self.serve_on_loopback(_Handler)
        self.start()


class _Handler(LoopbackHandler):
    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve(self, method: str) -> None:
        app: Proxy = self.server.app  # type: ignore[attr-defined]
        raw = self.body()
        now = time.monotonic()
        if app.token is not None and self.path == "/token" and method == "POST":
            # The token endpoint is not Firestore: not counted, never faulted.
            app.tokens_issued += 1
            self._answer(200, {"access_token": app.token, "expires_in": 3600, "token_type": "Bearer"})
            return
        with app.lock:
            index = app.count
            app.count += 1
            fault = app.faults.pop(index, None)
        if fault == "timeout":
            time.sleep(app.delay)
            app.log.append((method, self.path, fault, now))
            self.close_connection = True
            return
        if fault in ("429", "500"):
            app.log.append((method, self.path, int(fault), now))
            status = "RESOURCE_EXHAUSTED" if fault == "429" else "INTERNAL"
            extra = {"Retry-After": str(app.retry_after)} if fault == "429" else {}
            self._answer(
                int(fault), {"error": {"code": int(fault), "message": "injected", "status": status}}, extra
            )
            return
        auth = self.headers.get("Authorization")
        if fault == "echo-400":
            app.log.append((method, self.path, 400, now))
            error = {
                "code": 400,
                "message": f"cannot parse request with {auth}",
                "status": "INVALID_ARGUMENT",
            }
            self._answer(400, {"error": error})
            return
        if app.token is not None and (app.deny or auth != f"Bearer {app.token}"):
            app.log.append((method, self.path, 401, now))
            self._answer(
                401,
                {"error": {"code": 401, "message": f"bad credentials {auth}", "status": "UNAUTHENTICATED"}},
            )
            return
        if app.before is not None:
            app.before(method, self.path)
        forwarded = requests.request(
            method,
            app.upstream + self.path,
            data=raw or None,
            headers={"Content-Type": "application/json", "Authorization": "Bearer owner"},
            timeout=30,
        )
        app.log.append((method, self.path, forwarded.status_code, now))
        if fault == "drop-after":
            self.close_connection = True
            return
        self.send_response(forwarded.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(forwarded.content)))
        self.end_headers()
        self.wfile.write(forwarded.content)


@dataclass
class FirestoreRemote:
    """A fresh project on the emulator, reached through ``proxy``; ``env`` configures idse for it."""

    emulator: Emulator
    proxy: Proxy
    gcp_project: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def documents(self) -> str:
        return f"http://{self.emulator.host}/v1/projects/{self.gcp_project}/databases/(default)/documents"

    def get(self, project: str, session: str, stage: str) -> dict[str, Any] | None:
        url = f"{self.documents}/idse_projects/{project}/artifacts/{session}.{stage}"
        reply = requests.get(url, headers={"Authorization": "Bearer owner"}, timeout=30)
        return None if reply.status_code == 404 else dict(reply.json())

    def content(self, project: str, session: str, stage: str) -> str | None:
        doc = self.get(project, session, stage)
        if doc is None:
            return None
        fields = doc["fields"]
        if "content" in fields:
            return str(fields["content"]["stringValue"])
        sha = fields["sha256"]["stringValue"][:16]
        base = f"{self.documents}/idse_projects/{project}/artifacts/{session}.{stage}/chunks"
        parts = []
        for i in range(int(fields["chunks"]["integerValue"])):
            reply = requests.get(f"{base}/{sha}-{i}", headers={"Authorization": "Bearer owner"}, timeout=30)
            parts.append(reply.json()["fields"]["content"]["stringValue"])
        return "".join(parts)

    def put_raw(self, project: str, doc_id: str, fields: dict[str, str]) -> str:
        """Store a document directly, with any names and values at all (hostile-remote tests)."""
        url = f"{self.documents}/idse_projects/{project}/artifacts/{doc_id}"
        body = {"fields": {k: {"stringValue": v} for k, v in fields.items()}}
        reply = requests.patch(url, json=body, headers={"Authorization": "Bearer owner"}, timeout=30)
        assert reply.status_code == 200, reply.text
        return str(reply.json()["updateTime"])

    def put(self, project: str, session: str, stage: str, content: str) -> str:
        """What another client's write looks like: a new version of an artifact."""
        import hashlib

        sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
        fields = {"session": session, "stage": stage, "sha256": sha, "content": content}
        return self.put_raw(project, f"{session}.{stage}", fields)

    def stop(self) -> None:
        self.proxy.stop()


def firestore_remote(emulator: Emulator, token: str | None = None) -> FirestoreRemote:
    """Start a proxy to ``emulator`` and name a fresh project: the plain factory behind the fixtures.

    Without ``token``, ``env`` selects the emulator (``FIRESTORE_EMULATOR_HOST`` = the proxy); with
    it, ``env`` points ``sync.url`` at the proxy as if it were the real service (credentials are the
    test's to add: ``GOOGLE_APPLICATION_CREDENTIALS``)."""
    proxy = Proxy(f"http://{emulator.host}", token=token)
    gcp = f"idse-test-{uuid.uuid4().hex[:12]}"
    remote = FirestoreRemote(emulator, proxy, gcp)
    remote.env = {"IDSE_SYNC_BACKEND": "firestore", "IDSE_SYNC_GCP_PROJECT": gcp}
    if token is None:
        remote.env["FIRESTORE_EMULATOR_HOST"] = proxy.url.removeprefix("http://")
    else:
        remote.env["IDSE_SYNC_URL"] = proxy.url
    return remote
