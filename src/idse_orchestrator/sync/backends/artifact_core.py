"""The ``artifact-core`` store: Artifact Core HTTP protocol v1 (docs/artifact-core-protocol.md).

Transient failures (connection errors, timeouts, 5xx, a reply cut or stalled after its headers)
are retried with backoff, each attempt counted; a 429 is retried after the server's Retry-After
(capped), not counted as a failed attempt; 401/403 and TLS failures are final. PUT is
retried too: it carries ``base_revision``, so a retry of a write that already landed answers 409
with our own sha256, which the engine counts as success. The token is sent only in the
Authorization header and never appears in a message; redirects are not followed, so it cannot be
forwarded to another host.

A push or pull sends up to ``sync.concurrency`` requests at once. The transport (sessions per
thread, retries, timeouts, size limit) is ``http.HttpClient``, shared with the other HTTP stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.sync.backends.http import Bearer, HttpClient, is_loopback, parse
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult
from idse_orchestrator.workspace import Workspace

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
        if token and parts.scheme == "http" and not is_loopback(hostname):
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
        self.http = HttpClient(
            settings,
            self.base,
            auth=Bearer(token),
            query=self.query,
            ca_bundle=ca_bundle,
            rate_limited=(429,),
        )

    def _path(self, *parts: str) -> str:
        return "/v1/projects/" + "/".join(quote(p, safe="") for p in (self.project, *parts))

    def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, str]:
        return self.http.call(method, path, body)

    def _unexpected(self, where: str, status: int, data: Any) -> RemoteError:
        return self.http.unexpected(where, status, data)

    def _parse(self, model: type[Any], data: Any, where: str) -> Any:
        return parse(model, data, where)

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
        self.http.close()


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
