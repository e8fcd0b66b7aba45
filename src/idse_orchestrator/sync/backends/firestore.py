"""The ``firestore`` store: Cloud Firestore (Firebase) through its REST API v1.

Layout, under ``projects/{gcp_project}/databases/{database}/documents``::

    idse_projects/{project}                              state_json (the project state, as JSON)
    idse_projects/{project}/artifacts/{session}.{stage}  session, stage, sha256, content | chunks
    idse_projects/{project}/artifacts/{id}/chunks/{sha256[:16]}-{i}   content (large documents)

A document's revision is its ``updateTime``. Every write carries a precondition the server checks:
``currentDocument.updateTime`` = the base revision, or ``currentDocument.exists=false`` for a new
document, so two writers from the same base never both succeed (the loser gets a conflict, never an
overwrite). A retried write that had landed is refused by its own precondition and then found
holding our sha256, which the engine counts as success.

Firestore caps a document at 1 MiB; idse allows 5 MB. A document over ``INLINE_BYTES`` is split
into chunk documents named after its sha256 and written in one atomic commit with the main
document (whose precondition guards the whole commit); a reader takes the chunks the main document
names, so it never mixes two versions. A push writes each batch with ``batchWrite`` (one request,
each write with its own precondition and its own answer) and a pull reads each batch with
``batchGet``.

``FIRESTORE_EMULATOR_HOST`` (host:port) selects the emulator: plain HTTP, no credentials. The real
service needs the optional extra ``idse-orchestrator[firestore]`` (google-auth): a service-account
key file named by ``GOOGLE_APPLICATION_CREDENTIALS``, exchanged for short-lived access tokens that
are sent only in the Authorization header. HTTP, retries, timeouts and 429 waits: ``http.HttpClient``.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.sync.backends.firestore_auth import CREDENTIALS_ENV, GoogleAuth, gcp_project
from idse_orchestrator.sync.backends.http import Bearer, HttpClient, is_loopback
from idse_orchestrator.sync.redact import redact
from idse_orchestrator.sync.settings import SyncSettings
from idse_orchestrator.sync.store import Artifact, ArtifactRef, WriteResult
from idse_orchestrator.workspace import Workspace

API = "https://firestore.googleapis.com"
EMULATOR_ENV = "FIRESTORE_EMULATOR_HOST"
# Content kept in the main document up to this many UTF-8 bytes (Firestore: 1 MiB per document).
INLINE_BYTES = 900_000
LIST_PAGE = 300  # documents per page of a listing
# One batchWrite/batchGet request: at most this many documents and about this much content.
BATCH_DOCS = 100
BATCH_BYTES = 8_000_000
_SHA = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
_FIELDS = ("session", "stage", "sha256", "chunks")
_FAILED_PRECONDITION = 9  # google.rpc.Code


def _string(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if isinstance(value, dict) and isinstance(value.get("stringValue"), str):
        return str(value["stringValue"])
    return None


def _chunks(fields: dict[str, Any]) -> int:
    value = fields.get("chunks")
    raw = value.get("integerValue") if isinstance(value, dict) else None
    try:
        count = int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return -1
    return count if 0 <= count <= 64 else -1


def split_utf8(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` UTF-8 bytes, never inside a character."""
    pieces: list[str] = []
    start, size = 0, 0
    for i, char in enumerate(text):
        width = len(char.encode("utf-8"))
        if size + width > limit:
            pieces.append(text[start:i])
            start, size = i, 0
        size += width
    pieces.append(text[start:])
    return pieces


class FirestoreStore:
    def __init__(self, settings: SyncSettings, api: str, auth: requests.auth.AuthBase, gcp: str) -> None:
        self.settings = settings
        self.project = settings.project
        self.database = settings.database or "(default)"
        self.name_root = f"projects/{gcp}/databases/{self.database}/documents"
        self.description = f"firestore {redact(api)} {self.name_root} (project {self.project})"
        self.concurrency = settings.concurrency
        hint = f"check the service account in {CREDENTIALS_ENV}"
        self.http = HttpClient(
            settings, api.rstrip("/") + "/v1/", auth=auth, rate_limited=(429,), auth_hint=hint
        )
        # (session, stage) -> (sha256, chunks) as last listed: the chunk documents a write replaces.
        self._listed: dict[tuple[str, str], tuple[str, int]] = {}

    # -- names -------------------------------------------------------------------------------------
    def _project_doc(self) -> str:
        return f"{self.name_root}/idse_projects/{self.project}"

    def _doc(self, session: str, stage: str) -> str:
        return f"{self._project_doc()}/artifacts/{session}.{stage}"

    def _chunk(self, session: str, stage: str, sha256: str, index: int) -> str:
        return f"{self._doc(session, stage)}/chunks/{sha256[:16]}-{index}"

    @staticmethod
    def _url(name: str, query: str = "") -> str:
        return quote(name, safe="/():") + query

    # -- requests ----------------------------------------------------------------------------------
    def _error(self, where: str, status: int, data: Any) -> RemoteError:
        detail = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            detail = str(data["error"].get("message") or data["error"].get("status") or "")
        return self.http.unexpected(where, status, data, detail)

    def _get(self, name: str, mask: tuple[str, ...] = ()) -> dict[str, Any] | None:
        query = "".join(f"&mask.fieldPaths={f}" for f in mask).replace("&", "?", 1)
        status, data, where = self.http.call("GET", self._url(name, query))
        if status == 404:
            return None
        if status != 200 or not isinstance(data, dict):
            raise self._error(where, status, data)
        return data

    def _batch_get(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """The documents found among ``names`` (one request per ``BATCH_DOCS``), by name."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(names), BATCH_DOCS):
            part = names[start : start + BATCH_DOCS]
            status, data, where = self.http.call(
                "POST", self._url(self.name_root + ":batchGet"), {"documents": part}
            )
            if status != 200 or not isinstance(data, list):
                raise self._error(where, status, data)
            for item in data:
                doc = item.get("found") if isinstance(item, dict) else None
                if isinstance(doc, dict) and isinstance(doc.get("name"), str):
                    found[doc["name"]] = doc
        return found

    # -- documents ---------------------------------------------------------------------------------
    def _ref(self, doc: dict[str, Any]) -> ArtifactRef:
        fields = doc.get("fields") if isinstance(doc.get("fields"), dict) else {}
        assert isinstance(fields, dict)
        session, stage = _string(fields, "session") or "", _string(fields, "stage") or ""
        sha256, revision = _string(fields, "sha256") or "", str(doc.get("updateTime") or "")
        name = str(doc.get("name") or "")
        if not session or not stage:
            return ArtifactRef.refused(name.rsplit("/", 1)[-1][:200], "", "not an idse document")
        if name != self._doc(session, stage):
            return ArtifactRef.refused(session, stage, "document name does not match its session and stage")
        if not _SHA.match(sha256) or not _TIME.match(revision) or _chunks(fields) < 0:
            return ArtifactRef.refused(session, stage, "invalid sha256, updateTime or chunk count")
        self._listed[(session, stage)] = (sha256, _chunks(fields))
        return ArtifactRef(session, stage, sha256, revision)

    def _artifact(self, session: str, stage: str, doc: dict[str, Any]) -> Artifact:
        ref = self._ref(doc)
        if ref.problem is not None or (ref.session, ref.stage) != (session, stage):
            raise RemoteError(f"remote artifact {session}/{stage}: {ref.problem or 'unexpected document'}")
        fields = doc["fields"]
        count = _chunks(fields)
        if count == 0:
            content = _string(fields, "content")
            if content is None:
                raise RemoteError(f"remote artifact {session}/{stage}: no content")
            return Artifact(session, stage, content, ref.sha256, ref.revision)
        names = [self._chunk(session, stage, ref.sha256, i) for i in range(count)]
        found = self._batch_get(names)
        parts = [_string(found.get(n, {}).get("fields", {}), "content") for n in names]
        if any(p is None for p in parts):
            raise RemoteError(f"remote artifact {session}/{stage}: a chunk is missing; run the command again")
        return Artifact(session, stage, "".join(p or "" for p in parts), ref.sha256, ref.revision)

    def list_artifacts(self) -> list[ArtifactRef]:
        refs: list[ArtifactRef] = []
        token = ""
        base = self._url(self._project_doc() + "/artifacts", f"?pageSize={LIST_PAGE}")
        mask = "".join(f"&mask.fieldPaths={f}" for f in _FIELDS)
        while True:
            page = f"&pageToken={quote(token, safe='')}" if token else ""
            status, data, where = self.http.call("GET", base + mask + page)
            if status == 404:
                return refs
            if status != 200 or not isinstance(data, dict):
                raise self._error(where, status, data)
            for doc in data.get("documents") or []:
                if isinstance(doc, dict):
                    refs.append(self._ref(doc))
            token = data.get("nextPageToken") or ""
            if not isinstance(token, str) or not token:
                return refs

    def read_artifact(self, session: str, stage: str) -> Artifact | None:
        doc = self._get(self._doc(session, stage))
        return None if doc is None else self._artifact(session, stage, doc)

    def read_artifacts(self, keys: list[tuple[str, str]]) -> list[Artifact | None]:
        """``read_artifact`` for each key, with one ``batchGet`` per ``BATCH_DOCS`` documents."""
        found = self._batch_get([self._doc(s, st) for s, st in keys])
        out: list[Artifact | None] = []
        for session, stage in keys:
            doc = found.get(self._doc(session, stage))
            out.append(None if doc is None else self._artifact(session, stage, doc))
        return out

    def _writes(
        self, session: str, stage: str, content: str, sha256: str, base: str | None
    ) -> list[dict[str, Any]]:
        """The Firestore writes storing one document: its chunks (if any) and the main document,
        guarded by the precondition, then deletes of the chunks of the version it replaces."""
        fields: dict[str, Any] = {
            "session": {"stringValue": session},
            "stage": {"stringValue": stage},
            "sha256": {"stringValue": sha256},
        }
        writes: list[dict[str, Any]] = []
        if len(content.encode("utf-8")) <= INLINE_BYTES:
            fields["content"] = {"stringValue": content}
        else:
            pieces = split_utf8(content, INLINE_BYTES)
            fields["chunks"] = {"integerValue": str(len(pieces))}
            for i, piece in enumerate(pieces):
                name = self._chunk(session, stage, sha256, i)
                writes.append({"update": {"name": name, "fields": {"content": {"stringValue": piece}}}})
        guard = {"exists": False} if base is None else {"updateTime": base}
        writes.append(
            {"update": {"name": self._doc(session, stage), "fields": fields}, "currentDocument": guard}
        )
        old_sha, old_chunks = self._listed.get((session, stage), ("", 0))
        if base is not None and old_sha != sha256:
            writes.extend({"delete": self._chunk(session, stage, old_sha, i)} for i in range(old_chunks))
        return writes

    def _refused(self, session: str, stage: str) -> WriteResult:
        doc = self._get(self._doc(session, stage), ("session", "stage", "sha256"))
        if doc is None:
            return WriteResult(False, None, None)
        ref = self._ref(doc)
        return WriteResult(False, ref.revision or None, ref.sha256 or None)

    def write_artifact(
        self, session: str, stage: str, content: str, sha256: str, base_revision: str | None
    ) -> WriteResult:
        return self.write_artifacts([(session, stage, content, sha256, base_revision)])[0]

    def write_artifacts(self, items: list[tuple[str, str, str, str, str | None]]) -> list[WriteResult]:
        """``write_artifact`` for each item: small documents in one ``batchWrite`` per batch (each
        write with its own precondition and answer), a chunked one in an atomic commit of its own."""
        results: list[WriteResult | None] = [None] * len(items)
        group: list[int] = []
        size = 0

        def flush() -> None:
            nonlocal group, size
            if group:
                self._batch_write(items, group, results)
            group, size = [], 0

        for i, (session, stage, content, sha256, base) in enumerate(items):
            if base is not None and not _TIME.match(base):
                results[i] = self._refused(session, stage)  # not a revision this store issued
                continue
            writes = self._writes(session, stage, content, sha256, base)
            if len(writes) > 1:
                results[i] = self._commit(session, stage, sha256, writes)
                continue
            weight = len(content.encode("utf-8"))
            if len(group) >= BATCH_DOCS or size + weight > BATCH_BYTES:
                flush()
            group.append(i)
            size += weight
        flush()
        return [r if r is not None else WriteResult(False, None, None) for r in results]

    def _batch_write(
        self,
        items: list[tuple[str, str, str, str, str | None]],
        group: list[int],
        results: list[WriteResult | None],
    ) -> None:
        writes = [self._writes(*items[i])[0] for i in group]
        status, data, where = self.http.call(
            "POST", self._url(self.name_root + ":batchWrite"), {"writes": writes}
        )
        if status != 200 or not isinstance(data, dict):
            raise self._error(where, status, data)
        answers = data.get("writeResults") or []
        codes = data.get("status") or []
        if len(answers) != len(group) or len(codes) != len(group):
            raise RemoteError(f"{where}: invalid response (expected {len(group)} write results)")
        refused: list[int] = []
        for i, answer, code in zip(group, answers, codes, strict=True):
            time = answer.get("updateTime") if isinstance(answer, dict) else None
            ok = isinstance(code, dict) and int(code.get("code") or 0) == 0
            if ok and isinstance(time, str) and _TIME.match(time):
                results[i] = WriteResult(True, time, items[i][3])
                self._listed[(items[i][0], items[i][1])] = (items[i][3], 0)
            elif isinstance(code, dict) and int(code.get("code") or 0) in (6, _FAILED_PRECONDITION, 5):
                refused.append(i)  # ALREADY_EXISTS, FAILED_PRECONDITION, NOT_FOUND: someone else wrote
            else:
                message = str(code.get("message") or "") if isinstance(code, dict) else ""
                raise self.http.unexpected(where, status, data, message or "a write failed")
        for i in refused:
            results[i] = self._refused(items[i][0], items[i][1])

    def _commit(self, session: str, stage: str, sha256: str, writes: list[dict[str, Any]]) -> WriteResult:
        status, data, where = self.http.call(
            "POST", self._url(self.name_root + ":commit"), {"writes": writes}
        )
        if status == 200 and isinstance(data, dict):
            time = data.get("commitTime")
            if isinstance(time, str) and _TIME.match(time):
                chunks = sum(1 for w in writes if "/chunks/" in w.get("update", {}).get("name", ""))
                self._listed[(session, stage)] = (sha256, chunks)
                return WriteResult(True, time, sha256)
        if status in (400, 404, 409) and isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict) and error.get("status") in (
                "FAILED_PRECONDITION",
                "ALREADY_EXISTS",
                "NOT_FOUND",
            ):
                return self._refused(session, stage)
        raise self._error(where, status, data)

    def read_project_state(self) -> dict[str, Any]:
        doc = self._get(self._project_doc())
        fields = doc.get("fields") if doc else None
        raw = _string(fields, "state_json") if isinstance(fields, dict) else None
        if raw is None:
            return {}
        try:
            state = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        return state if isinstance(state, dict) else {}

    def write_project_state(self, state: dict[str, Any]) -> None:
        body = {"fields": {"state_json": {"stringValue": json.dumps(state, sort_keys=True)}}}
        status, data, where = self.http.call("PATCH", self._url(self._project_doc()), body)
        if status != 200:
            raise self._error(where, status, data)

    def init(self) -> str:
        count = len(self.list_artifacts())
        return f"reached {self.description}: {count} artifact(s)"

    def close(self) -> None:
        self.http.close()


def open_store(settings: SyncSettings, ws: Workspace) -> FirestoreStore:
    if settings.database is not None and not re.fullmatch(
        r"\(default\)|[a-z][a-z0-9-]{2,62}", settings.database
    ):
        raise UsageError(f"sync.database: {settings.database!r} is not a Firestore database id")
    emulator = os.environ.get(EMULATOR_ENV)
    if emulator:
        # The emulator takes any project and no credentials ("owner" bypasses its security rules).
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+:\d{1,5}", emulator):
            raise UsageError(f"{EMULATOR_ENV}: expected host:port, got {emulator[:100]!r}")
        return FirestoreStore(settings, f"http://{emulator}", Bearer("owner"), gcp_project(settings, None))
    key_file = os.environ.get(CREDENTIALS_ENV)
    if not key_file:
        raise UsageError(
            f"the firestore backend needs a service-account key file named by {CREDENTIALS_ENV} "
            f"(or {EMULATOR_ENV} for the emulator)"
        )
    api = settings.url or API
    parts = urlsplit(api)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise UsageError(f"sync.url: expected the Firestore API's https base URL, got {redact(api)!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"refusing to send Google credentials over plain http to {parts.hostname}; use https"
        )
    return FirestoreStore(settings, api, GoogleAuth(key_file), gcp_project(settings, key_file))
