"""The cloud backends of the conformance suite (registered in ``backends.FACTORIES``): ``notion``,
on the local Notion API server (``notion_server``), and ``firestore``, on Google's own emulator
behind the fault-injecting proxy (``firestore_server``), reached the way the real service is (a
service-account key, an OAuth token endpoint, the token on every request).

Both inject ``429``, ``500`` and ``timeout`` by request number; ``delay`` (how long a ``timeout``
fault keeps the client waiting) is the suite's to choose.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from firestore_server import Emulator, FirestoreRemote, find_emulator, firestore_remote
from notion_server import NotionRemote, notion_remote
from test_sync_support import PROJECT

FAULTS = ("429", "500", "timeout")

# -- notion -------------------------------------------------------------------------------------


class NotionConformance:
    faults = FAULTS
    no_faults = ""

    def __init__(self, made: NotionRemote, token: str, delay: float) -> None:
        self.made = made
        self.server = made.server
        self.server.delay = delay
        self.env = dict(made.env)
        self.secrets = [token]

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool:
        # A page's properties are free text: any name at all can be stored.
        self.server.put(self.made.database, project, session, stage, content)
        return True

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None:
        with self.server.lock:
            return self.server.content(project, session, stage)

    def fail(self, kind: str, at: int, times: int = 1) -> None:
        with self.server.lock:
            self.server.fail(self.server.count + at, kind, times)

    def served(self) -> int:
        return self.server.count


@contextlib.contextmanager
def notion(workdir: Path, delay: float) -> Iterator[NotionConformance]:
    token = f"secret_{uuid.uuid4().hex}"
    made = notion_remote(token=token)
    try:
        yield NotionConformance(made, token, delay)
    finally:
        made.stop()


# -- firestore ----------------------------------------------------------------------------------

_emulator: Emulator | RuntimeError | None = None
_emulator_lock = threading.Lock()


def _shared_emulator() -> Emulator:
    """One emulator for the whole run (it takes seconds to start; projects keep tests apart). One
    that did not start is not waited for again by every test."""
    global _emulator
    with _emulator_lock:
        if _emulator is None:
            launcher = find_emulator()
            assert launcher is not None
            try:
                _emulator = Emulator(launcher)
                atexit.register(_emulator.stop)
            except RuntimeError as exc:
                _emulator = exc
        if isinstance(_emulator, RuntimeError):
            raise _emulator
        return _emulator


def no_firestore() -> str | None:
    if find_emulator() is None:
        return "the Cloud Firestore emulator (google-cloud-cli-firestore-emulator) and java are not installed"
    try:
        import google.oauth2.service_account  # noqa: F401
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: F401
    except ImportError:
        return "google-auth (the firestore extra) is not installed"
    return None


@functools.lru_cache(maxsize=1)
def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class FirestoreConformance:
    faults = FAULTS
    no_faults = ""

    def __init__(self, made: FirestoreRemote, token: str, key_file: Path, delay: float) -> None:
        self.made = made
        self.proxy = made.proxy
        self.proxy.delay = delay
        self.env = {**made.env, "GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
        # No secret is in the environment itself: the key file it names holds the private key,
        # exchanged for the access token every request carries.
        pem = _private_key().splitlines()
        self.secrets = [token, pem[1], pem[-2]]

    def _put(self, name: str, fields: dict[str, Any]) -> None:
        url = f"{self.made.documents}/idse_projects/{quote(name, safe='/')}"
        reply = requests.patch(
            url, json={"fields": fields}, headers={"Authorization": "Bearer owner"}, timeout=60
        )
        assert reply.status_code == 200, reply.text[:500]

    def put_raw(self, session: str, stage: str, content: str, project: str = PROJECT) -> bool:
        """A document in the store's layout (``firestore.py``), its content chunked over 900 KB."""
        from idse_orchestrator.sync.backends.firestore import INLINE_BYTES, split_utf8

        sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
        doc_id = f"{session}.{stage}"
        if "/" in doc_id or doc_id in (".", ".."):
            # Not a possible document id: another writer can still store these names in a
            # document of another id (which idse refuses: the name does not match the fields).
            doc_id = f"x-{hashlib.sha256(doc_id.encode()).hexdigest()[:16]}"
        main = f"{project}/artifacts/{doc_id}"
        fields: dict[str, Any] = {
            "session": {"stringValue": session},
            "stage": {"stringValue": stage},
            "sha256": {"stringValue": sha},
        }
        if len(content.encode("utf-8")) <= INLINE_BYTES:
            fields["content"] = {"stringValue": content}
        else:
            pieces = split_utf8(content, INLINE_BYTES)
            for i, piece in enumerate(pieces):
                self._put(f"{main}/chunks/{sha[:16]}-{i}", {"content": {"stringValue": piece}})
            fields["chunks"] = {"integerValue": str(len(pieces))}
        self._put(main, fields)
        return True

    def content(self, session: str, stage: str, project: str = PROJECT) -> str | None:
        return self.made.content(project, session, stage)

    def fail(self, kind: str, at: int, times: int = 1) -> None:
        with self.proxy.lock:
            self.proxy.fail(self.proxy.count + at, kind, times)

    def served(self) -> int:
        return self.proxy.count


@contextlib.contextmanager
def firestore(workdir: Path, delay: float) -> Iterator[FirestoreConformance]:
    token = f"ya29.{uuid.uuid4().hex}"
    made = firestore_remote(_shared_emulator(), token=token)
    try:
        key_file = workdir / "service-account.json"
        key = {
            "type": "service_account",
            "project_id": made.gcp_project,
            "private_key_id": "k1",
            "private_key": _private_key(),
            "client_email": "idse-conformance@example.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": made.proxy.url + "/token",
        }
        key_file.write_text(json.dumps(key), encoding="utf-8")
        yield FirestoreConformance(made, token, key_file, delay)
    finally:
        made.stop()
