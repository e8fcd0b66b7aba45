"""Credentials and the Google Cloud project for the firestore store.

The real service: a service-account key file named by ``GOOGLE_APPLICATION_CREDENTIALS`` is
exchanged by google-auth (the optional extra ``idse-orchestrator[firestore]``, imported only here)
for short-lived access tokens, refreshed before they expire and sent only in the Authorization
header. The emulator (``FIRESTORE_EMULATOR_HOST``) needs none of this.
"""

from __future__ import annotations

import json
import os
import threading

import requests

from idse_orchestrator.errors import RemoteError, UsageError
from idse_orchestrator.sync.settings import SyncSettings

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
SCOPE = "https://www.googleapis.com/auth/datastore"
INSTALL_HINT = "the firestore sync backend needs google-auth: pip install 'idse-orchestrator[firestore]'"


class GoogleAuth(requests.auth.AuthBase):
    """An OAuth access token from a service-account key, refreshed before it expires."""

    def __init__(self, path: str) -> None:
        try:
            from google.auth.transport.requests import Request
            from google.oauth2 import service_account
        except ImportError:
            raise UsageError(INSTALL_HINT) from None
        try:
            self.credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                path, scopes=[SCOPE]
            )
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(
                f"{CREDENTIALS_ENV}: not a readable service-account key file ({type(exc).__name__})"
            ) from None
        self._request = Request
        self._lock = threading.Lock()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        from google.auth.exceptions import GoogleAuthError

        with self._lock:
            if not self.credentials.valid:
                try:
                    self.credentials.refresh(self._request())
                except GoogleAuthError as exc:
                    # The library's text may quote the token endpoint's answer: only its kind is shown.
                    raise RemoteError(
                        f"cannot obtain a Google access token ({type(exc).__name__}); "
                        f"check the service account in {CREDENTIALS_ENV}"
                    ) from None
            request.headers["Authorization"] = f"Bearer {self.credentials.token}"
        return request

    def secrets(self) -> list[str]:
        token = self.credentials.token
        return [token] if isinstance(token, str) and token else []

    def __repr__(self) -> str:
        return "<google credentials>"


def gcp_project(settings: SyncSettings, key_file: str | None) -> str:
    if settings.gcp_project:
        return settings.gcp_project
    if os.environ.get("GOOGLE_CLOUD_PROJECT"):
        return os.environ["GOOGLE_CLOUD_PROJECT"]
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as handle:
                found = json.load(handle).get("project_id")
        except (OSError, ValueError, AttributeError):
            found = None
        if isinstance(found, str) and found:
            return found
    raise UsageError(
        "the firestore backend needs the Google Cloud project: set sync.gcp_project or IDSE_SYNC_GCP_PROJECT"
    )
