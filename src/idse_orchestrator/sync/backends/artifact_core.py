"""The ``artifact-core`` store: Artifact Core HTTP protocol v1 (docs/artifact-core-protocol.md).

Transient failures (connection errors, timeouts, 5xx, a reply cut or stalled after its headers)
are retried with backoff, each attempt counted; a 429 is retried after the server's Retry-After
(capped at a minute) or the backoff, whichever is longer; 401/403 and TLS failures are final. PUT is
retried too: it carries ``base_revision``, so a retry of a write that already landed answers 409
with our own sha256, which the engine counts as success. The token is sent only in the
Authorization header and never appears in a message; redirects are not followed, so it cannot be
forwarded to another host.

A push or pull sends up to ``sync.concurrency`` requests at once: each thread gets its own
``requests.Session`` (a session is not safe to share between threads), made on first use.
"""

from __future__ import annotations

import datetime
import email.utils
import ipaddress
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.fsutil import pydantic_problem
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult
from idse_orchestrator.workspace import Workspace

RETRY_STATUSES = (500, 502, 503, 504)
# Too many requests: retried after the wait the server asks for (Retry-After), at most this long.
RATE_LIMITED = 429
MAX_RETRY_AFTER = 60.0
# Retried: no answer, or an answer cut or stalled (its headers or its body).
TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# A list of a few hundred documents, or one document of at most 5 MB as JSON.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
SHA = Field(pattern=r"^[0-9a-f]{64}$")
REVISION = Field(min_length=1, max_length=200)


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore")
    session: str = Field(max_length=1000)
    stage: str = Field(max_length=1000)
    sha256: str = SHA
    revision: str = REVISION


class _List(BaseModel):
    model_config = ConfigDict(extra="ignore")
    artifacts: list[_Ref]


class _Artifact(_Ref):
    content: str


class _Written(BaseModel):
    model_config = ConfigDict(extra="ignore")
    revision: str = REVISION


class _Conflict(BaseModel):
    model_config = ConfigDict(extra="ignore")
    revision: str | None = Field(default=None, min_length=1, max_length=200)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")
    state: dict[str, Any]


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str | None) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "<bearer token>"


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped; 0 if absent."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        return 0.0
    wait = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return min(max(wait, 0.0), MAX_RETRY_AFTER)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ArtifactCoreStore:
    def __init__(self, settings: SyncSettings, ca_bundle: Path | None = None) -> None:
        url = settings.url or ""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            hostname = None
        if hostname is None or parts.scheme not in ("http", "https"):
            raise UsageError(f"artifact-core needs an http(s) base URL, got {redact(url)!r}")
        token = settings.token.get_secret_value() if settings.token else None
        if token and parts.scheme == "http" and not _is_loopback(hostname):
            raise UsageError(f"refusing to send the token over plain http to {hostname}; use https")
        self.settings = settings
        # Request paths go after the base path; a query of the base URL (a signed URL's ?sig=…)
        # goes after them, on every request.
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.query = f"?{parts.query}" if parts.query else ""
        self.shown = redact(self.base + self.query)
        self.project = settings.project
        self.description = f"artifact-core {self.shown} (project {settings.project})"
        self.concurrency = settings.concurrency
        self.ca_bundle = ca_bundle
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self.auth = _Bearer(token)

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session (connection pool and retries)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._new_session()
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _new_session(self) -> requests.Session:
        # Retries are ours (``_call``): a reply cut or stalled after its headers is retried like any
        # transient fault, and the attempts are counted truthfully. urllib3 retries nothing.
        retry = Retry(total=0, connect=0, read=0, status=0, other=0, redirect=0, raise_on_status=False)
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = str(self.ca_bundle) if self.ca_bundle else True
        return session

    def _path(self, *parts: str) -> str:
        return "/v1/projects/" + "/".join(quote(p, safe="") for p in (self.project, *parts))

    def _failure(self, where: str, exc: Exception, tries: int) -> RemoteError:
        reason = exc
        inner = exc.args[0] if exc.args else None
        if inner is not None and hasattr(inner, "reason"):
            reason = inner.reason
        name = type(reason).__name__
        if isinstance(exc, requests.exceptions.SSLError) or "SSL" in name:
            what = "TLS verification failed (set sync.ca_bundle for a private CA)"
        elif "ConnectTimeout" in name or isinstance(exc, requests.exceptions.ConnectTimeout):
            what = f"connection timed out after {self.settings.connect_timeout:g}s"
        elif (
            "ReadTimeout" in name
            or "TimeoutError" in type(inner).__name__
            or isinstance(exc, requests.exceptions.ReadTimeout)
        ):
            what = f"no response within {self.settings.timeout:g}s"
        elif "NameResolution" in name:
            what = "cannot resolve the host name"
        elif "NewConnectionError" in name:
            what = "connection refused"
        elif (
            any(part in name for part in ("Protocol", "Disconnected", "Reset"))
            or isinstance(exc, requests.exceptions.ChunkedEncodingError)
            or "IncompleteRead" in repr(exc)
        ):
            what = "connection dropped"
        else:
            what = f"request failed ({name})"
        return RemoteError(f"{where}: {what} ({tries} attempt{'s' if tries > 1 else ''})")

    def _attempt(self, method: str, url: str, body: Any, where: str) -> tuple[int, bytes, str | None]:
        """One request and its whole body (headers and body within the timeouts), and the
        Retry-After header."""
        response = self.session.request(
            method,
            url,
            json=body,
            auth=self.auth,
            timeout=(self.settings.connect_timeout, self.settings.timeout),
            allow_redirects=False,
            stream=True,
        )
        with response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise RemoteError(f"{where}: response larger than 32 MB")
                chunks.append(chunk)
        return response.status_code, b"".join(chunks), response.headers.get("Retry-After")

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        """Send one request, retrying transient faults (connection errors, timeouts, a reply cut or
        stalled after its headers, 5xx); returns status, decoded JSON body, and a label."""
        url = self.base + path + self.query
        where = f"{method} {redact(url)}"
        tries = self.settings.retries + 1
        attempt = 0
        while True:
            attempt += 1
            try:
                status, raw, retry_after = self._attempt(method, url, body, where)
            except requests.exceptions.RequestException as exc:
                final = isinstance(exc, requests.exceptions.SSLError) or not isinstance(exc, TRANSIENT)
                if final or attempt >= tries:
                    raise self._failure(where, exc, attempt) from None
                self._pause(attempt)
                continue
            if status in RETRY_STATUSES and attempt < tries:
                self._pause(attempt)
                continue
            if status == RATE_LIMITED and attempt < tries:
                self._pause(attempt, at_least=_retry_after(retry_after))
                continue
            break
        if status == RATE_LIMITED:
            raise RemoteError(
                f"{where}: rate limited (429) after {attempt} attempt{'s' if attempt > 1 else ''}"
            )
        if status in (401, 403):
            # Final: a wrong token stays wrong, so it is never retried.
            raise RemoteError(f"{where}: authentication failed ({status}); check IDSE_SYNC_TOKEN")
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                data = None  # not JSON, or nested past any sane depth: an unexpected reply
        return status, data, where

    def _pause(self, attempt: int, at_least: float = 0.0) -> None:
        delay = max(min(self.settings.backoff * (2 ** (attempt - 1)), 30.0), at_least)
        if delay > 0:
            time.sleep(delay)

    def _unexpected(self, where: str, status: int, data: Any) -> RemoteError:
        detail = ""
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            # The server's text is shown (short, one line) but scrubbed: it could echo a secret.
            detail = ": " + self.settings.scrub(" ".join(data["error"].split()))[:200]
        if status in RETRY_STATUSES:
            tries = self.settings.retries + 1
            return RemoteError(f"{where}: server error {status} after {tries} attempt(s){detail}")
        if 300 <= status < 400:
            return RemoteError(f"{where}: unexpected redirect ({status}); check sync.url")
        return RemoteError(f"{where}: unexpected answer {status}{detail}")

    def _parse(self, model: type[Any], data: Any, where: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise RemoteError(f"{where}: invalid response ({pydantic_problem(exc)})") from None

    def list_artifacts(self) -> list[ArtifactRef]:
        status, data, where = self._call("GET", self._path("artifacts"))
        if status == 404:
            return []
        if status != 200:
            raise self._unexpected(where, status, data)
        listing: _List = self._parse(_List, data, where)
        return [ArtifactRef(a.session, a.stage, a.sha256, a.revision) for a in listing.artifacts]

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        status, data, where = self._call("GET", self._path("sessions", session, "artifacts", stage))
        if status == 404:
            return None
        if status != 200:
            raise self._unexpected(where, status, data)
        got: _Artifact = self._parse(_Artifact, data, where)
        return Artifact(got.session, got.stage, got.content, got.sha256, got.revision)

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        body = {"content": content, "sha256": sha256, "base_revision": base_revision}
        status, data, where = self._call("PUT", self._path("sessions", session, "artifacts", stage), body)
        if status in (200, 201):
            written: _Written = self._parse(_Written, data, where)
            return WriteResult(True, written.revision, sha256)
        if status == 409:
            conflict: _Conflict = self._parse(_Conflict, data or {}, where)
            return WriteResult(False, conflict.revision, conflict.sha256)
        raise self._unexpected(where, status, data)

    def read_project_state(self) -> dict[str, Any]:
        status, data, where = self._call("GET", self._path("state"))
        if status == 404:
            return {}  # the state endpoint is optional in protocol v1
        if status != 200:
            raise self._unexpected(where, status, data)
        state: _State = self._parse(_State, data, where)
        return state.state

    def write_project_state(self, state: dict[str, Any]) -> None:
        status, data, where = self._call("PUT", self._path("state"), {"state": state})
        if status in (200, 204, 404, 405, 501):
            return  # 404/405/501: a server without the optional state endpoint
        raise self._unexpected(where, status, data)

    def init(self) -> str:
        count = len(self.list_artifacts())
        return f"reached {self.description}: {count} artifact(s)"

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def open_store(settings: SyncSettings, ws: Workspace) -> ArtifactCoreStore:
    if not settings.url:
        raise UsageError("the artifact-core backend needs a base URL: set sync.url or IDSE_SYNC_URL")
    ca_bundle = None
    if settings.ca_bundle:
        # Like every path in config.yaml, relative to the workspace root.
        ca_bundle = Path(settings.ca_bundle).expanduser()
        if not ca_bundle.is_absolute():
            ca_bundle = ws.root / ca_bundle
        if not ca_bundle.is_file():
            raise UsageError(f"sync.ca_bundle: no such file {ca_bundle}")
    return ArtifactCoreStore(settings, ca_bundle)
