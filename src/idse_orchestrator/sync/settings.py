"""Sync settings: the ``sync:`` section of `.idse/config.yaml`, overridden by ``IDSE_SYNC_*`` variables.

Secrets (the bearer token, a database password) are read only from the environment. A secret in
config.yaml is refused rather than ignored, because a file is easily committed and shared.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from idse_orchestrator import ids
from idse_orchestrator.errors import BadFile, InvalidName, UsageError
from idse_orchestrator.fsutil import pydantic_problem
from idse_orchestrator.sync.redact import MASK, has_secret, redact, scrub, secret_parts
from idse_orchestrator.workspace import Project, Workspace

TOKEN_ENV = "IDSE_SYNC_TOKEN"
# setting -> environment variable that overrides it
ENV_VARS: dict[str, str] = {
    "backend": "IDSE_SYNC_BACKEND",
    "url": "IDSE_SYNC_URL",
    "dsn": "IDSE_SYNC_DSN",
    "project": "IDSE_SYNC_PROJECT",
    "schema": "IDSE_SYNC_SCHEMA",
    "timeout": "IDSE_SYNC_TIMEOUT",
    "connect_timeout": "IDSE_SYNC_CONNECT_TIMEOUT",
    "retries": "IDSE_SYNC_RETRIES",
    "backoff": "IDSE_SYNC_BACKOFF",
    "ca_bundle": "IDSE_SYNC_CA_BUNDLE",
    "concurrency": "IDSE_SYNC_CONCURRENCY",
    # notion: the database (or the page `sync init` creates it in); firestore: database and project
    "database": "IDSE_SYNC_DATABASE",
    "parent_page": "IDSE_SYNC_PARENT_PAGE",
    "gcp_project": "IDSE_SYNC_GCP_PROJECT",
    "pooler": "IDSE_SYNC_POOLER",
}
DEFAULTS: dict[str, Any] = {
    "timeout": 30.0,
    "connect_timeout": 10.0,
    "retries": 3,
    "backoff": 0.5,
    # requests in flight at once during a push or pull (artifact-core, notion (at most 3), firestore)
    "concurrency": 4,
    # postgres: is a transaction-mode pooler in front of the database? "auto" detects it (port
    # 6543 or 6432, a "pooler" host); "transaction" says yes, "none" says no (see backends/postgres.py)
    "pooler": "auto",
}
# Settings of the notion and firestore stores only.
CLOUD_KEYS = ("database", "parent_page", "gcp_project")
SECRET_KEYS = ("token", "password", "secret", "api_key", "apikey", "bearer")


class SyncSection(BaseModel):
    """What may appear under ``sync:`` in config.yaml (and, one key at a time, in the environment)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    backend: str | None = None
    url: str | None = None
    path: str | None = None
    dsn: str | None = None
    project: str | None = None
    # `schema` would shadow a BaseModel attribute, hence the alias.
    db_schema: str | None = Field(default=None, alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    timeout: float | None = Field(default=None, gt=0, le=600)
    connect_timeout: float | None = Field(default=None, gt=0, le=600)
    retries: int | None = Field(default=None, ge=0, le=10)
    backoff: float | None = Field(default=None, ge=0, le=60)
    ca_bundle: str | None = None
    concurrency: int | None = Field(default=None, ge=1, le=32)
    database: str | None = Field(default=None, pattern=r"^[A-Za-z0-9()_-]{1,100}$")
    parent_page: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,100}$")
    gcp_project: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9:.-]{0,99}$")
    pooler: Literal["auto", "transaction", "none"] | None = None

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ids.project_name(value)
            except InvalidName as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        from idse_orchestrator.sync.store import BACKENDS

        if value is not None and value not in BACKENDS:
            raise ValueError(f"unknown sync backend {value!r}; available: {', '.join(sorted(BACKENDS))}")
        return value


class SyncSettings(BaseModel):
    """The effective settings. Secrets are ``SecretStr`` so no repr or traceback shows them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str | None
    url: str | None
    dsn: SecretStr | None
    token: SecretStr | None
    project: str
    db_schema: str | None
    timeout: float
    connect_timeout: float
    retries: int
    backoff: float
    ca_bundle: str | None
    concurrency: int = DEFAULTS["concurrency"]
    database: str | None = None
    parent_page: str | None = None
    gcp_project: str | None = None
    pooler: Literal["auto", "transaction", "none"] = DEFAULTS["pooler"]
    # setting -> where its value came from: "config", "env IDSE_SYNC_…" or "default"
    sources: dict[str, str]

    def secrets(self) -> list[str]:
        """Every secret value, so error text from libraries can be scrubbed of them."""
        out = [s.get_secret_value() for s in (self.token, self.dsn) if s is not None]
        if self.dsn:
            out.extend(secret_parts(self.dsn.get_secret_value()))
        # Credentials in IDSE_SYNC_URL are allowed (the environment is private) but never shown.
        if self.url:
            out.extend(secret_parts(self.url))
        return [s for s in out if s]

    def scrub(self, text: str) -> str:
        """``text`` without any secret of these settings, nor any URL or DSN secret (``redact``)."""
        return scrub(text, self.secrets())


def env_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """The secrets the environment gives sync (the token; passwords and secret parameters of the URL
    and DSN), so any text can be scrubbed of them before it is shown, even before settings load."""
    env = os.environ if env is None else env
    out: list[str] = [env[TOKEN_ENV]] if env.get(TOKEN_ENV) else []
    for var in (ENV_VARS["url"], ENV_VARS["dsn"]):
        if env.get(var):
            out.extend(secret_parts(env[var]))
    return out


def scrub_text(text: str, env: Mapping[str, str] | None = None) -> str:
    """Any text about to be shown, scrubbed of URL/DSN secrets and of the environment's secrets."""
    return scrub(text, env_secrets(env))


def _from_config(ws: Workspace) -> dict[str, Any]:
    raw = ws.config.sync
    where = ws.rel(ws.config_path)
    for key in raw:
        if str(key).lower() in SECRET_KEYS:
            raise BadFile(
                where,
                f"sync.{key}: secrets are never read from files; set {TOKEN_ENV} (or the password in "
                "IDSE_SYNC_DSN / PGPASSWORD) in the environment instead",
            )
    try:
        section = SyncSection.model_validate(raw)
    except ValidationError as exc:
        raise BadFile(where, f"invalid sync setting: {pydantic_problem(exc)}") from None
    if section.url is not None and section.path is not None:
        raise BadFile(where, "sync.url and sync.path are alternatives; set only one")
    if section.dsn and has_secret(section.dsn):
        raise BadFile(where, "sync.dsn contains a password; put it in IDSE_SYNC_DSN or PGPASSWORD instead")
    for key in ("url", "path"):
        value = getattr(section, key)
        if value and has_secret(value):
            raise BadFile(where, f"sync.{key} contains a password or token; use IDSE_SYNC_TOKEN instead")
    values = section.model_dump(exclude_none=True)
    if "path" in values:
        values["url"] = values.pop("path")
    return values


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, var in ENV_VARS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        field = "db_schema" if key == "schema" else key
        try:
            parsed = SyncSection.model_validate({key: raw})
        except ValidationError as exc:
            # The variable names the setting: the messages are shown without pydantic's location.
            problem = "; ".join(str(err.get("msg", "invalid")) for err in exc.errors()[:3])
            raise UsageError(f"{var}: {problem}") from None
        values[field] = getattr(parsed, field)
    return values


def infer_backend(url: str | None, dsn: str | None) -> str | None:
    if dsn:
        return "postgres"
    if url and url.split("://", 1)[0].lower() in ("http", "https"):
        return "artifact-core"
    if url:
        return "filesystem"
    return None


def load_settings(
    ws: Workspace, project: Project, env: Mapping[str, str] | None = None, *, require: bool = True
) -> SyncSettings:
    """Merge config.yaml and the environment. With ``require``, a missing remote is an error."""
    env = os.environ if env is None else env
    config = _from_config(ws)
    overrides = _from_env(env)
    merged: dict[str, Any] = {**DEFAULTS, **config, **overrides}
    sources: dict[str, str] = {}
    for key in ("backend", "url", "dsn", "project", "db_schema", *DEFAULTS, "ca_bundle", *CLOUD_KEYS):
        name = "schema" if key == "db_schema" else key
        if key in overrides:
            sources[name] = f"env {ENV_VARS[name]}"
        elif key in config:
            sources[name] = "config"
        elif key in DEFAULTS:
            sources[name] = "default"
    backend = merged.get("backend") or infer_backend(merged.get("url"), merged.get("dsn"))
    if merged.get("backend") is None and backend is not None:
        sources["backend"] = "inferred from url/dsn"
    if require and backend is None:
        raise UsageError(
            "no sync remote configured: set sync.backend and sync.url (or sync.dsn) in .idse/config.yaml, "
            "or IDSE_SYNC_BACKEND and IDSE_SYNC_URL / IDSE_SYNC_DSN"
        )
    token = env.get(TOKEN_ENV) or None
    if token:
        sources["token"] = f"env {TOKEN_ENV}"
    if not merged.get("project"):
        sources["project"] = "local project name"
    dsn = merged.get("dsn")
    return SyncSettings(
        backend=backend,
        url=merged.get("url"),
        dsn=SecretStr(dsn) if dsn else None,
        token=SecretStr(token) if token else None,
        project=merged.get("project") or project.name,
        db_schema=merged.get("db_schema"),
        timeout=merged["timeout"],
        connect_timeout=merged["connect_timeout"],
        retries=merged["retries"],
        backoff=merged["backoff"],
        ca_bundle=merged.get("ca_bundle"),
        concurrency=merged["concurrency"],
        **{key: merged.get(key) for key in CLOUD_KEYS},
        pooler=merged["pooler"],
        sources=sources,
    )


def describe(settings: SyncSettings) -> dict[str, Any]:
    """The effective settings for display: secrets masked, each with its source."""
    values: dict[str, Any] = {
        "backend": settings.backend,
        "url": redact(settings.url) if settings.url else None,
        "dsn": redact(settings.dsn.get_secret_value()) if settings.dsn else None,
        "token": MASK if settings.token else None,
        "project": settings.project,
        "schema": settings.db_schema,
        "timeout": settings.timeout,
        "connect_timeout": settings.connect_timeout,
        "retries": settings.retries,
        "backoff": settings.backoff,
        "ca_bundle": settings.ca_bundle,
        "concurrency": settings.concurrency,
        **{key: getattr(settings, key) for key in CLOUD_KEYS},
        "pooler": settings.pooler,
    }
    return {
        "settings": values,
        "sources": {k: settings.sources[k] for k in values if k in settings.sources},
    }
