"""The HTTP transport shared by the HTTP stores (artifact-core, notion, firestore).

Transient failures (connection errors, timeouts, 5xx, a reply cut or stalled after its headers)
are retried with backoff, each attempt counted; 401/403 and TLS failures are final. A store that
names 429 in ``rate_limited`` has it retried too, waiting what the server's ``Retry-After`` asks
(capped), on a budget of its own: a rate limit is the server pacing us, not a fault. Credentials
travel only in headers set by the ``auth`` object and never appear in a message; redirects are not
followed, so they cannot be forwarded to another host. A reply is read whole within the timeouts
and refused past ``MAX_RESPONSE_BYTES``.

Each thread gets its own ``requests.Session`` (a session is not safe to share between threads),
made on first use, so a store may send ``sync.concurrency`` requests at once.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from idse_orchestrator.errors import RemoteError
from idse_orchestrator.fsutil import pydantic_problem
from idse_orchestrator.sync.redact import redact, scrub
from idse_orchestrator.sync.settings import SyncSettings

RETRY_STATUSES = (500, 502, 503, 504)
# Retried: no answer, or an answer cut or stalled (its headers or its body).
TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
# A list of a few hundred documents, or one document of at most 5 MB as JSON.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
# Rate-limited answers waited out per request, and the longest single wait honoured.
RATE_LIMIT_WAITS = 8
MAX_RETRY_AFTER = 60.0


class Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` plus fixed ``headers``; its repr never shows the token."""

    def __init__(self, token: str | None, headers: Mapping[str, str] | None = None) -> None:
        self._token = token
        self._headers = dict(headers or {})

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def secrets(self) -> list[str]:
        return [self._token] if self._token else []

    def __repr__(self) -> str:
        return "<bearer token>"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or an HTTP date), capped; ``None``
    when absent or unreadable (the backoff applies then)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import datetime
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if seconds == seconds else None


class HttpClient:
    """Requests to ``base`` (+ ``query`` after every path), with the retries described above.

    ``auth_hint`` ends the message of a refused credential (401/403); ``error_text`` picks the
    server's explanation out of an error body (shown scrubbed, one line)."""

    def __init__(
        self,
        settings: SyncSettings,
        base: str,
        *,
        auth: requests.auth.AuthBase,
        query: str = "",
        ca_bundle: Path | None = None,
        rate_limited: tuple[int, ...] = (),
        auth_hint: str = "check IDSE_SYNC_TOKEN",
    ) -> None:
        self.settings = settings
        self.base = base
        self.query = query
        self.auth = auth
        self.ca_bundle = ca_bundle
        self.rate_limited = rate_limited
        self.auth_hint = auth_hint
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

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
        # Retries are ours (``call``): a reply cut or stalled after its headers is retried like any
        # transient fault, and the attempts are counted truthfully. urllib3 retries nothing.
        retry = Retry(total=0, connect=0, read=0, status=0, other=0, redirect=0, raise_on_status=False)
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = str(self.ca_bundle) if self.ca_bundle else True
        return session

    def failure(self, where: str, exc: Exception, tries: int) -> RemoteError:
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

    def _attempt(
        self, method: str, url: str, body: Any, where: str
    ) -> tuple[int, bytes, requests.structures.CaseInsensitiveDict[str]]:
        """One request and its whole body (headers and body within the timeouts)."""
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
        return response.status_code, b"".join(chunks), response.headers

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        """Send one request, retrying transient faults (connection errors, timeouts, a reply cut or
        stalled after its headers, 5xx) and waiting out rate limits; returns status, decoded JSON
        body, and a label naming the request (scrubbed)."""
        url = self.base + path + self.query
        where = f"{method} {redact(url)}"
        tries = self.settings.retries + 1
        attempt = 0
        waits = 0
        while True:
            attempt += 1
            try:
                status, raw, headers = self._attempt(method, url, body, where)
            except requests.exceptions.RequestException as exc:
                final = isinstance(exc, requests.exceptions.SSLError) or not isinstance(exc, TRANSIENT)
                if final or attempt >= tries:
                    raise self.failure(where, exc, attempt) from None
                self.pause(attempt)
                continue
            if status in self.rate_limited and waits < RATE_LIMIT_WAITS:
                waits += 1
                attempt -= 1  # a rate limit is not a failed attempt
                asked = retry_after(headers.get("Retry-After"))
                self.pause(waits, asked)
                continue
            if status in RETRY_STATUSES and attempt < tries:
                self.pause(attempt)
                continue
            break
        if status in (401, 403):
            # Final: a wrong credential stays wrong, so it is never retried.
            raise RemoteError(f"{where}: authentication failed ({status}); {self.auth_hint}")
        data: Any = None
        if raw:
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                data = None  # not JSON, or nested past any sane depth: an unexpected reply
        return status, data, where

    def pause(self, attempt: int, asked: float | None = None) -> None:
        delay = asked if asked is not None else self.settings.backoff * (2 ** (attempt - 1))
        if delay > 0:
            time.sleep(min(delay, MAX_RETRY_AFTER))

    def unexpected(self, where: str, status: int, data: Any, detail: str | None = None) -> RemoteError:
        """An answer the store did not expect, as one line (the server's text scrubbed)."""
        if detail is None and isinstance(data, dict) and isinstance(data.get("error"), str):
            detail = data["error"]
        shown = ""
        if detail:
            # The server's text is shown (short, one line) but scrubbed: it could echo a secret.
            # Besides the settings' secrets, whatever the auth object sends (an access token it
            # obtained itself, which no setting holds).
            sent: list[str] = getattr(self.auth, "secrets", list)()
            shown = ": " + scrub(self.settings.scrub(" ".join(detail.split())), sent)[:200]
        if status in RETRY_STATUSES:
            tries = self.settings.retries + 1
            return RemoteError(f"{where}: server error {status} after {tries} attempt(s){shown}")
        if status in self.rate_limited:
            waits = RATE_LIMIT_WAITS
            return RemoteError(f"{where}: still rate limited ({status}) after {waits} waits{shown}")
        if 300 <= status < 400:
            return RemoteError(f"{where}: unexpected redirect ({status}); check sync.url")
        return RemoteError(f"{where}: unexpected answer {status}{shown}")

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def parse(model: type[Any], data: Any, where: str) -> Any:
    """``model`` validated from a decoded reply; an invalid reply is a ``RemoteError``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RemoteError(f"{where}: invalid response ({pydantic_problem(exc)})") from None
