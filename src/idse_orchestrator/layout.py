"""Where everything idse reads or writes lives on disk: the one owner of path names.

Every function returns a repository-relative POSIX path (the form doit, findings and messages use);
``Workspace`` and ``Project`` join them to the root for absolute paths, and the build context uses
them as they are. No other module spells a path under `.idse/`. Pure string functions: importing this
costs nothing, so light commands and doit actions may use it freely.
"""

from __future__ import annotations

from typing import Final

IDSE_DIR: Final = ".idse"
CACHE_NAME: Final = ".cache"  # its name inside `.idse/` (the .gitignore there lists it)
CACHE_DIR: Final = f"{IDSE_DIR}/{CACHE_NAME}"
CONFIG: Final = f"{IDSE_DIR}/config.yaml"
TEMPLATES_DIR: Final = f"{IDSE_DIR}/templates"
PROJECTS_DIR: Final = f"{IDSE_DIR}/projects"
DOCS_DIR: Final = f"{IDSE_DIR}/docs"
MIGRATE_BACKUP_DIR: Final = f"{IDSE_DIR}/.migrate-backup"

# Inside a session folder.
METADATA_RELPATH: Final = "metadata/session.json"
BASELINES_RELPATH: Final = "metadata/baselines.json"


# -- the cache: derived, safe to delete ---------------------------------------------------------
def cache_dir(cache: str = "") -> str:
    """The cache folder; ``cache`` overrides it (a temporary one for a read-only workspace)."""
    return cache or CACHE_DIR


def tmp_dir() -> str:
    """Temporary files of atomic writes: inside the workspace, so ``os.replace`` never crosses devices."""
    return f"{CACHE_DIR}/tmp"


def crash_dir() -> str:
    return f"{CACHE_DIR}/crash"


def lock(project: str, cache: str = "") -> str:
    """The build lock of a project (held by builds, watch, migrate)."""
    return f"{cache_dir(cache)}/{project}.lock"


def doit_db(project: str, cache: str = "") -> str:
    return f"{cache_dir(cache)}/{project}.doit.sqlite"


def build_index(project: str, cache: str = "") -> str:
    return f"{cache_dir(cache)}/{project}.index.sqlite"


def failed_tasks(project: str, cache: str = "") -> str:
    return f"{cache_dir(cache)}/{project}.failed.json"


def results_dir(project: str, session: str | None = None, cache: str = "") -> str:
    base = f"{cache_dir(cache)}/results/{project}"
    return base if session is None else f"{base}/{session}"


# -- a project ----------------------------------------------------------------------------------
def project_dir(project: str) -> str:
    return f"{PROJECTS_DIR}/{project}"


def sessions_dir(project: str) -> str:
    return f"{project_dir(project)}/sessions"


def session_dir(project: str, session: str) -> str:
    return f"{sessions_dir(project)}/{session}"


def current_session(project: str) -> str:
    return f"{project_dir(project)}/CURRENT_SESSION"


def registry(project: str) -> str:
    return f"{project_dir(project)}/agent_registry.json"


def state(project: str) -> str:
    return f"{project_dir(project)}/session_state.json"


def build_dir(project: str) -> str:
    return f"{project_dir(project)}/build"


def profile(project: str, session: str, fmt: str = "yaml") -> str:
    return f"{build_dir(project)}/agents/{session}.profile.{fmt}"


def metadata(project: str, session: str) -> str:
    return f"{session_dir(project, session)}/{METADATA_RELPATH}"


def baselines(project: str, session: str) -> str:
    return f"{session_dir(project, session)}/{BASELINES_RELPATH}"


def sync_dir(project: str) -> str:
    """Sync bookkeeping (record, last sync): derived from the remote, kept out of git diffs."""
    return f"{project_dir(project)}/.sync"


def sync_lock(project: str) -> str:
    return f"{project_dir(project)}/.sync.lock"


def store_lock(project: str) -> str:
    return f"{project_dir(project)}/.store.lock"
